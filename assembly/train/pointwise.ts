// Weight gradient of a pointwise (1x1) convolution, dW = X[M x K]^T . dY[M x N] over NHWC rows,
// written in PyTorch's layout [N(out)][K(in)]. The reduction over M runs in blocks of rows: each
// block sums in registers and is then added to dW, so the float32 error grows with the block
// length + the number of blocks rather than with M, in a fixed order.
//
// Tiles are 4 output channels (dY values, splat) x 8 input channels (two vectors of an X row),
// so a tile's sums are two vectors of a dW row and go back with vector adds. Two ways to feed
// them, by the shape:
// - direct: narrow layers (K + N small, the large-M ones) read X and dY in place. A block's
//   rows then span few pages and its X strip and dY lines stay in L1 while the tiles sweep
//   them, and the next block is touched in order meanwhile so the prefetchers stream it in.
// - packed: wide layers would need short blocks to stay on few pages (one row of X or dY is
//   up to 5 KB), and short blocks spend their time in tile set-up and stores. Instead X is
//   copied per block into contiguous 8-channel panels, and dY into a 4-channel panel per tile
//   row, so the tiles stream contiguous memory in blocks of up to 128 rows.

import { madd } from '../simd';

// Direct path: blocks of MB rows with MB * (K + N) <= BLOCK_FLOATS (48 pages of 4 KB, within
// the first-level TLB), and MB <= DIRECT_MB_MAX so that an X strip and the dY lines of a block
// fit in L1 together (128 rows: ~5% faster than 192 on the large-M layers; the float32 error
// measured ~1.3e-6 of the sum of |terms| at M = 100352, ~7e-7 with the former 512-row blocks).
const BLOCK_FLOATS: i32 = 49152;
const DIRECT_MB_MAX: i32 = 128;
const DIRECT_MAX_KN: i32 = 240;
// Packed path: blocks of MB_MAX rows; X is packed for up to XP_FLOATS / MB input channels at a
// time (the buffers are static data, which must fit the module's one initial page of memory;
// 64K floats and 256-row blocks measured ~2% faster on the widest layers). dY is read in place
// when K < DY_PACK_MIN_K: its panel would then serve few tiles.
const MB_MAX: i32 = 128;
const XP_FLOATS: i32 = 12288;
const DY_PACK_MIN_K: i32 = 64;

const xpack: usize = memory.data(XP_FLOATS << 2, 64);
const ypack: usize = memory.data(MB_MAX << 4, 64);
const scratch: usize = memory.data(32, 16);

export function pointwiseWgrad(M: i32, K: i32, N: i32, x: usize, dy: usize, dw: usize): void {
  memory.fill(dw, 0, (<usize>N * <usize>K) << 2);
  if (M <= 0 || K <= 0 || N <= 0) return;
  pointwiseWgradRows(M, K, N, x, dy, dw);
}

/** pointwiseWgrad without the zeroing: adds the M rows' sums to dw (M, K, N >= 1). */
export function pointwiseWgradRows(M: i32, K: i32, N: i32, x: usize, dy: usize, dw: usize): void {
  if (isDirect(K, N)) direct(M, K, N, x, dy, dw);
  else packed(M, K, N, x, dy, dw);
}

/**
 * The rows per block pointwiseWgrad sums in registers for M rows of this shape (pointwiseBackward
 * hands it one block at a time, so that both sum in the same blocks).
 */
export function pointwiseWgradBlockRows(M: i32, K: i32, N: i32): i32 {
  return isDirect(K, N) ? directBlockRows(M, K, N) : evenBlocks(M, MB_MAX);
}

@inline
function isDirect(K: i32, N: i32): bool {
  return K + N <= DIRECT_MAX_KN && (K & 7) == 0 && (N & 3) == 0;
}

@inline
function directBlockRows(M: i32, K: i32, N: i32): i32 {
  return evenBlocks(M, max<i32>(32, min<i32>(DIRECT_MB_MAX, BLOCK_FLOATS / (K + N))));
}

function direct(M: i32, K: i32, N: i32, x: usize, dy: usize, dw: usize): void {
  const ldx = <usize>K << 2;
  const ldy = <usize>N << 2;
  const ldw = <usize>K << 2;
  const MB = directBlockRows(M, K, N);
  const tiles = (K >> 3) * (N >> 2);
  for (let m0 = 0; m0 < M; m0 += MB) {
    const rows = min<i32>(MB, M - m0);
    const xb = x + <usize>m0 * ldx;
    const yb = dy + <usize>m0 * ldy;
    // The next block's X and dY rows are two contiguous ranges: one load per cache line, a
    // share of them before each tile.
    const next = min<i32>(MB, M - m0 - rows);
    let tx = xb + <usize>rows * ldx;
    let ty = yb + <usize>rows * ldy;
    const txEnd = tx + <usize>next * ldx;
    const tyEnd = ty + <usize>next * ldy;
    const share = <usize>(((next * (K + N)) >> 4) / tiles + 1) << 6;
    let sink: i32 = 0;
    for (let k = 0; k < K; k += 8) {
      const xk = xb + (<usize>k << 2);
      const ok = dw + (<usize>k << 2);
      for (let n = 0; n < N; n += 4) {
        let end = min<usize>(tx + share, txEnd);
        for (; tx < end; tx += 64) sink ^= load<i32>(tx);
        end = min<usize>(ty + share, tyEnd);
        for (; ty < end; ty += 64) sink ^= load<i32>(ty);
        tile(rows, xk, ldx, yb + (<usize>n << 2), ldy, ok + <usize>n * ldw, ldw, 4, 8);
      }
    }
    store<i32>(scratch, sink); // keeps the touches
  }
}

function packed(M: i32, K: i32, N: i32, x: usize, dy: usize, dw: usize): void {
  const ldx = <usize>K << 2;
  const ldy = <usize>N << 2;
  const ldw = <usize>K << 2;
  const MB = evenBlocks(M, MB_MAX);
  const KC = min<i32>((K + 7) & ~7, (XP_FLOATS / MB) & ~7);
  const packDy = K >= DY_PACK_MIN_K || (N & 3) != 0;
  for (let m0 = 0; m0 < M; m0 += MB) {
    const rows = min<i32>(MB, M - m0);
    const xb = x + <usize>m0 * ldx;
    const yb = dy + <usize>m0 * ldy;
    const panel = <usize>rows << 5; // bytes of one packed group of 8 input channels
    for (let k0 = 0; k0 < K; k0 += KC) {
      const kc = min<i32>(KC, K - k0);
      packX(rows, xb + (<usize>k0 << 2), ldx, kc, xpack);
      const groups = (kc + 7) >> 3;
      for (let n = 0; n < N; n += 4) {
        const nr = min<i32>(4, N - n);
        let yp = yb + (<usize>n << 2);
        let ys = ldy;
        if (packDy) {
          packY(rows, yp, ldy, nr, ypack);
          yp = ypack;
          ys = 16;
        }
        const on = dw + <usize>n * ldw + (<usize>k0 << 2);
        for (let g = 0; g < groups; g++) {
          tile(rows, xpack + <usize>g * panel, 32, yp, ys, on + (<usize>g << 5), ldw, nr, min<i32>(8, kc - (g << 3)));
        }
      }
    }
  }
}

/** The length of ceil(M / most) equal blocks of rows: a short last block would run slow tiles. */
function evenBlocks(M: i32, most: i32): i32 {
  const blocks = (M + most - 1) / most;
  return (M + blocks - 1) / blocks;
}

/** X[rows][0 .. kc) (rows ld bytes apart) -> [ceil(kc/8)][rows][8], zeros past kc. */
function packX(rows: i32, src: usize, ld: usize, kc: i32, dst: usize): void {
  const full = kc & ~7;
  const panel = <usize>rows << 5;
  for (let m = 0; m < rows; m++) {
    let d = dst + (<usize>m << 5);
    for (let c = 0; c < full; c += 8) {
      v128.store(d, v128.load(src + (<usize>c << 2)));
      v128.store(d, v128.load(src + (<usize>c << 2), 16), 16);
      d += panel;
    }
    if (full < kc) {
      v128.store(d, v128.splat<i32>(0));
      v128.store(d, v128.splat<i32>(0), 16);
      for (let c = full; c < kc; c++) store<f32>(d + (<usize>(c - full) << 2), load<f32>(src + (<usize>c << 2)));
    }
    src += ld;
  }
}

/** dY[rows][0 .. nr) (rows ld bytes apart, nr <= 4) -> [rows][4], zeros past nr. */
function packY(rows: i32, src: usize, ld: usize, nr: i32, dst: usize): void {
  if (nr == 4) {
    for (let m = 0; m < rows; m++) {
      v128.store(dst + (<usize>m << 4), v128.load(src));
      src += ld;
    }
  } else {
    for (let m = 0; m < rows; m++) {
      const d = dst + (<usize>m << 4);
      v128.store(d, v128.splat<i32>(0));
      for (let c = 0; c < nr; c++) store<f32>(d + (<usize>c << 2), load<f32>(src + (<usize>c << 2)));
      src += ld;
    }
  }
}

// dW[n .. n+nr)[k .. k+cols) += sum over `rows` (>= 1) rows of dY[m][n + r] * X[m][k + c] (X rows
// ldx bytes apart, dY rows ldy apart). The loop shape is V8's taste, measured on the whole list
// of MobileNetV2 layers (relaxed build): a count-down do-while 135 ms, do-while on the X pointer
// 145, while on the X pointer 151, for with a counter 150 (no change with SIMD128). Inlined into
// both callers: out of line, V8 compiled it ~5% slower here (unlike gemm's rowsTimesPanel).
// @ts-ignore: decorator
@inline
function tile(rows: i32, xp: usize, ldx: usize, yp: usize, ldy: usize, o: usize, ldw: usize, nr: i32, cols: i32): void {
  let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
  let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
  let m = rows; // >= 1
  do {
    const a0 = v128.load(xp);
    const a1 = v128.load(xp, 16);
    const s0 = v128.load32_splat(yp);
    c00 = madd(s0, a0, c00);
    c01 = madd(s0, a1, c01);
    const s1 = v128.load32_splat(yp, 4);
    c10 = madd(s1, a0, c10);
    c11 = madd(s1, a1, c11);
    const s2 = v128.load32_splat(yp, 8);
    c20 = madd(s2, a0, c20);
    c21 = madd(s2, a1, c21);
    const s3 = v128.load32_splat(yp, 12);
    c30 = madd(s3, a0, c30);
    c31 = madd(s3, a1, c31);
    xp += ldx;
    yp += ldy;
  } while (--m != 0);
  if (nr == 4 && cols == 8) {
    addRow(o, c00, c01);
    addRow(o + ldw, c10, c11);
    addRow(o + 2 * ldw, c20, c21);
    addRow(o + 3 * ldw, c30, c31);
  } else {
    addPart(o, c00, c01, cols);
    if (nr > 1) addPart(o + ldw, c10, c11, cols);
    if (nr > 2) addPart(o + 2 * ldw, c20, c21, cols);
    if (nr > 3) addPart(o + 3 * ldw, c30, c31, cols);
  }
}

@inline
function addRow(p: usize, v0: v128, v1: v128): void {
  v128.store(p, f32x4.add(v128.load(p), v0));
  v128.store(p, f32x4.add(v128.load(p, 16), v1), 16);
}

/** The first `cols` lanes of [v0, v1] added to p[0 .. cols) (lanes cannot be indexed dynamically). */
function addPart(p: usize, v0: v128, v1: v128, cols: i32): void {
  v128.store(scratch, v0);
  v128.store(scratch, v1, 16);
  for (let c = 0; c < cols; c++) {
    const q = p + (<usize>c << 2);
    store<f32>(q, load<f32>(q) + load<f32>(scratch + (<usize>c << 2)));
  }
}
