// Weight gradient of a pointwise (1x1) convolution, dW = X[M x K]^T . dY[M x N] over NHWC rows,
// written in PyTorch's layout [N(out)][K(in)]. The reduction over M runs in blocks of MB rows:
// each block sums in registers (4x8 tiles) and is then added to dW, so the float32 error grows
// with MB + M/MB rather than with M, and the transposed scalar stores happen once per block.

import { madd } from '../simd';

// Rows per block: the block's X and dY rows (MB * (K + N) floats) should stay in L2 while every
// 4x8 tile sweeps them, and a block must be long enough to amortize the transposed stores.
const BLOCK_FLOATS: i32 = 49152;
const MB_MIN: i32 = 32;
const MB_MAX: i32 = 512;

export function pointwiseWgrad(M: i32, K: i32, N: i32, x: usize, dy: usize, dw: usize): void {
  const ldx = <usize>K << 2;
  const ldy = <usize>N << 2;
  const ldw = <usize>K << 2; // one output channel's row of dW
  memory.fill(dw, 0, <usize>N * ldw);
  const nFull = N & ~7;
  const kFull = K & ~3;
  const MB = max<i32>(MB_MIN, min<i32>(MB_MAX, BLOCK_FLOATS / (K + N)));
  for (let m0 = 0; m0 < M; m0 += MB) {
    const rows = min<i32>(MB, M - m0);
    const xb = x + <usize>m0 * ldx;
    const yb = dy + <usize>m0 * ldy;
    if (kFull) {
      for (let n = 0; n < nFull; n += 8) eightOutputChannels(rows, xb, ldx, yb + (<usize>n << 2), ldy, dw + <usize>n * ldw, ldw, kFull);
    }
    if (nFull < N) {
      for (let k = 0; k < kFull; k += 4) tailCols(rows, xb + (<usize>k << 2), ldx, yb, ldy, dw + (<usize>k << 2), ldw, 4, nFull, N);
    }
    for (let k = kFull; k < K; k++) {
      const xk = xb + (<usize>k << 2);
      for (let n = 0; n < nFull; n += 8) tile1x8(rows, xk, ldx, yb + (<usize>n << 2), ldy, dw + <usize>n * ldw + (<usize>k << 2), ldw);
      if (nFull < N) tailCols(rows, xk, ldx, yb, ldy, dw + (<usize>k << 2), ldw, 1, nFull, N);
    }
  }
}

// Output channels n..n+7 against input channels 0..kFull of one block, in 4x8 tiles. The 8
// columns of dY (MB rows) stay in L1 while the tiles walk along K, and consecutive tiles reuse
// the same lines of X: ~7% faster than sweeping N inside K. Out of line so that V8 allocates
// registers for this loop nest alone, as gemm's rowsTimesPanel.
// @ts-ignore: decorator
@noinline
function eightOutputChannels(rows: i32, xb: usize, ldx: usize, y: usize, ldy: usize, o: usize, ldw: usize, kFull: i32): void {
  for (let k = 0; k < kFull; k += 4) {
    let c00 = f32x4.splat(0), c01 = f32x4.splat(0), c10 = f32x4.splat(0), c11 = f32x4.splat(0);
    let c20 = f32x4.splat(0), c21 = f32x4.splat(0), c30 = f32x4.splat(0), c31 = f32x4.splat(0);
    let xp = xb + (<usize>k << 2);
    let yp = y;
    for (let m = 0; m < rows; m++) {
      const g0 = v128.load(yp);
      const g1 = v128.load(yp, 16);
      const s0 = v128.load32_splat(xp);
      c00 = madd(s0, g0, c00);
      c01 = madd(s0, g1, c01);
      const s1 = v128.load32_splat(xp, 4);
      c10 = madd(s1, g0, c10);
      c11 = madd(s1, g1, c11);
      const s2 = v128.load32_splat(xp, 8);
      c20 = madd(s2, g0, c20);
      c21 = madd(s2, g1, c21);
      const s3 = v128.load32_splat(xp, 12);
      c30 = madd(s3, g0, c30);
      c31 = madd(s3, g1, c31);
      xp += ldx;
      yp += ldy;
    }
    // o + k is dW[n][k]: lanes of c_r0/c_r1 are output channels n..n+7 of input channel k + r.
    const ok = o + (<usize>k << 2);
    addCols(ok, ldw, c00, c01);
    addCols(ok + 4, ldw, c10, c11);
    addCols(ok + 8, ldw, c20, c21);
    addCols(ok + 12, ldw, c30, c31);
  }
}

@inline
function tile1x8(rows: i32, xk: usize, ldx: usize, y: usize, ldy: usize, o: usize, ldw: usize): void {
  let c0 = f32x4.splat(0), c1 = f32x4.splat(0);
  let xp = xk;
  let yp = y;
  for (let m = 0; m < rows; m++) {
    const s = v128.load32_splat(xp);
    c0 = madd(s, v128.load(yp), c0);
    c1 = madd(s, v128.load(yp, 16), c1);
    xp += ldx;
    yp += ldy;
  }
  addCols(o, ldw, c0, c1);
}

/** Adds the 8 lanes of [v0, v1] down a column of dW (one float per output channel row). */
@inline
function addCols(o: usize, ldw: usize, v0: v128, v1: v128): void {
  addLane(o, f32x4.extract_lane(v0, 0));
  addLane(o + ldw, f32x4.extract_lane(v0, 1));
  addLane(o + 2 * ldw, f32x4.extract_lane(v0, 2));
  addLane(o + 3 * ldw, f32x4.extract_lane(v0, 3));
  const o4 = o + 4 * ldw;
  addLane(o4, f32x4.extract_lane(v1, 0));
  addLane(o4 + ldw, f32x4.extract_lane(v1, 1));
  addLane(o4 + 2 * ldw, f32x4.extract_lane(v1, 2));
  addLane(o4 + 3 * ldw, f32x4.extract_lane(v1, 3));
}

@inline
function addLane(p: usize, v: f32): void {
  store<f32>(p, load<f32>(p) + v);
}

// Output channels past the last full group of 8 (never hit by MobileNetV2, whose widths are
// multiples of 8): scalar, one block partial sum per element as in the tiles.
function tailCols(rows: i32, xk: usize, ldx: usize, yb: usize, ldy: usize, o: usize, ldw: usize, kRows: i32, n0: i32, N: i32): void {
  for (let kk = 0; kk < kRows; kk++) {
    for (let n = n0; n < N; n++) {
      let acc: f32 = 0;
      let xp = xk + (<usize>kk << 2);
      let yp = yb + (<usize>n << 2);
      for (let m = 0; m < rows; m++) {
        acc += load<f32>(xp) * load<f32>(yp);
        xp += ldx;
        yp += ldy;
      }
      const p = o + <usize>n * ldw + (<usize>kk << 2);
      store<f32>(p, load<f32>(p) + acc);
    }
  }
}
