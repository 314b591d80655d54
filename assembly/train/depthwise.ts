// Backward of the depthwise 3x3 convolution (padding 1, stride 1 or 2), NHWC, with the forward's
// tap-major weights [9][Cp] (Cp = C rounded up to 4).

import { madd } from '../simd';

// Pixel tiles of the channel-group-major paths: 3 rows of (tile + 2) pixels stay in cache
// (96 KB measured faster than 24 KB, most for the wide late layers, as in the forward kernel).
const TILE_BYTES: usize = 96 * 1024;

// Rows of the next step are touched ahead (see the row loops) only when dy rows are at least this
// wide: narrower layers have one tile per row, so the touches would come in one burst, and their
// tensors are small enough to stay in L2 (measured slower there).
const TOUCH_MIN_OW: i32 = 28;
const sinkAt: usize = memory.data(16, 16);

/**
 * dx[n, iy, ix, c] = sum over taps (ky, kx) with iy = oy*stride - 1 + ky (and the same for x)
 * of dy[n, oy, ox, c] * w[ky*3 + kx][c]. Gathered per input pixel, so dx is written once.
 */
export function depthwise3x3Dgrad(
  N: i32, H: i32, W: i32, C: i32,
  dy: usize, w: usize, dx: usize,
  stride: i32, OH: i32, OW: i32,
): void {
  const Cp = (C + 3) & ~3;
  const tapBytes = <usize>Cp << 2;
  const ps = <usize>C << 2;
  const ors = <usize>OW * ps;
  const cVec = <usize>(C & ~3) << 2;
  const tile = max<i32>(2, min<i32>(32, <i32>(TILE_BYTES / (3 * ps)) - 2));
  // Stride 1, input pixels whose 9 taps all reach dy: channel group by channel group over
  // pixel tiles, the 9 weights in registers (same tap order as dgradPixel, so the same sums).
  const fast = stride == 1 && W >= 3 && OW == W && OH == H;
  for (let n = 0; n < N; n++) {
    const g = dy + <usize>n * <usize>OH * ors;
    const img = dx + <usize>n * <usize>H * <usize>W * ps;
    for (let iy = 0; iy < H; iy++) {
      // Output row reached through tap ky, or -1 when none.
      const oy0 = srcIndex(iy + 1, stride, OH);
      const oy1 = srcIndex(iy, stride, OH);
      const oy2 = srcIndex(iy - 1, stride, OH);
      const orow = img + <usize>iy * <usize>W * ps;
      // The next input row's dx row and its new dy row, one load per cache line, a share before
      // each tile, so that the prefetchers stream them in while this row computes.
      const rowBytes = <usize>W * ps;
      const txStart = orow + rowBytes;
      const touch = OW >= TOUCH_MIN_OW;
      const txEnd = touch && iy + 1 < H ? txStart + rowBytes : txStart;
      const oyNext = srcIndex(iy + 2, stride, OH);
      const tyStart = g + <usize>max<i32>(oyNext, 0) * ors;
      const tyEnd = touch && oyNext >= 0 ? tyStart + <usize>OW * ps : tyStart;
      if (stride == 2 && OW >= 2 && (oy1 >= 0 || (oy0 >= 0 && oy2 >= 0))) {
        dgradRowStride2(g, orow, oy0, oy1, oy2, W, OW, ors, ps, w, tapBytes, cVec, tile, txStart, txEnd, tyStart, tyEnd);
        continue;
      }
      if (!fast || (oy0 < 0 && oy2 < 0)) {
        for (let ix = 0; ix < W; ix++) dgradPixel(g, orow + <usize>ix * ps, oy0, oy1, oy2, ix, stride, OW, ors, ps, w, tapBytes, cVec);
        continue;
      }
      if (fast && iy >= 1 && iy + 2 < H) {
        // Rows iy and iy + 1 together: they share dy rows iy and iy + 1.
        const tx2 = orow + 2 * rowBytes;
        const tx2End = touch ? tx2 + <usize>min<i32>(2, H - iy - 2) * rowBytes : tx2;
        const ty2 = g + <usize>(iy + 3) * ors;
        const ty2End = touch ? ty2 + <usize>max<i32>(0, min<i32>(2, OH - iy - 3)) * ors : ty2;
        const tiles = (W - 2 + tile - 1) / tile;
        const shareX = (((tx2End - tx2) >> 6) / <usize>tiles + 1) << 6;
        const shareY = (((ty2End - ty2) >> 6) / <usize>tiles + 1) << 6;
        let tx = tx2, ty = ty2;
        let sink: i32 = 0;
        const g3 = g + <usize>(iy + 2) * ors;
        for (let t0 = 1; t0 < W - 1; t0 += tile) {
          const count = min<i32>(tile, W - 1 - t0);
          let end = min<usize>(tx + shareX, tx2End);
          for (; tx < end; tx += 64) sink ^= load<i32>(tx);
          end = min<usize>(ty + shareY, ty2End);
          for (; ty < end; ty += 64) sink ^= load<i32>(ty);
          const left = t0 == 1;
          const right = t0 + count == W - 1;
          dgradTileTwoRows(count, g3 + <usize>(t0 + 1) * ps, orow + <usize>t0 * ps, w, tapBytes, cVec, ps, ors, rowBytes, left, right);
          if (cVec < ps) {
            for (let ix = t0 - <i32>left; ix < t0 + count + <i32>right; ix++) {
              dgradPixelTail(g, orow + <usize>ix * ps, oy0, oy1, oy2, ix, 1, OW, ors, ps, w, tapBytes, cVec);
              dgradPixelTail(g, orow + rowBytes + <usize>ix * ps, iy + 2, iy + 1, iy, ix, 1, OW, ors, ps, w, tapBytes, cVec);
            }
          }
        }
        store<i32>(sinkAt, sink); // keeps the touches
        iy++;
        continue;
      }
      // ix in [0, W): dy rows oy0 = iy + 1 (tap row 0), iy, iy - 1; columns ix + 1, ix, ix - 1
      // (the first and the last pixel without their column outside dy). The first and last
      // rows miss tap row 2 or 0: the tiles then take the other two.
      const three = oy0 >= 0 && oy2 >= 0;
      const tr = oy0 >= 0 ? 0 : 1;
      const g0 = g + <usize>(tr == 0 ? oy0 : oy1) * ors;
      const wr = w + <usize>(3 * tr) * tapBytes;
      const tiles = (W - 2 + tile - 1) / tile;
      const shareX = (((txEnd - txStart) >> 6) / <usize>tiles + 1) << 6;
      const shareY = (((tyEnd - tyStart) >> 6) / <usize>tiles + 1) << 6;
      let tx = txStart, ty = tyStart;
      let sink: i32 = 0;
      for (let t0 = 1; t0 < W - 1; t0 += tile) {
        const count = min<i32>(tile, W - 1 - t0);
        let end = min<usize>(tx + shareX, txEnd);
        for (; tx < end; tx += 64) sink ^= load<i32>(tx);
        end = min<usize>(ty + shareY, tyEnd);
        for (; ty < end; ty += 64) sink ^= load<i32>(ty);
        const left = t0 == 1;
        const right = t0 + count == W - 1;
        if (three) dgradTile(count, g0 + <usize>(t0 + 1) * ps, orow + <usize>t0 * ps, w, tapBytes, cVec, ps, ors, left, right);
        else dgradTileRows2(count, g0 + <usize>(t0 + 1) * ps, orow + <usize>t0 * ps, wr, tapBytes, cVec, ps, ors, left, right);
        if (cVec < ps) {
          for (let ix = t0 - <i32>left; ix < t0 + count + <i32>right; ix++) dgradPixelTail(g, orow + <usize>ix * ps, oy0, oy1, oy2, ix, stride, OW, ors, ps, w, tapBytes, cVec);
        }
      }
      store<i32>(sinkAt, sink); // keeps the touches
    }
  }
}

/**
 * One input row of the stride-2 dgrad. An even input row is reached through tap row 1 only
 * (oy1), an odd one through tap rows 0 and 2 (oy0, oy2); likewise an even column through tap
 * column 1 and an odd one through tap columns 0 and 2. Column pairs (2j + 1, 2j + 2) for
 * j + 1 < OW have all their taps: they run channel group by channel group with the weights in
 * registers; the other columns go through dgradPixel. Same tap order, so the same sums.
 */
function dgradRowStride2(
  g: usize, orow: usize, oy0: i32, oy1: i32, oy2: i32, W: i32, OW: i32,
  ors: usize, ps: usize, w: usize, tapBytes: usize, cVec: usize, tile: i32,
  txStart: usize, txEnd: usize, tyStart: usize, tyEnd: usize,
): void {
  const pairs = min<i32>(OW - 1, (W - 1) >> 1);
  dgradPixel(g, orow, oy0, oy1, oy2, 0, 2, OW, ors, ps, w, tapBytes, cVec);
  for (let ix = 1 + 2 * pairs; ix < W; ix++) dgradPixel(g, orow + <usize>ix * ps, oy0, oy1, oy2, ix, 2, OW, ors, ps, w, tapBytes, cVec);
  const two = oy1 < 0; // odd input row: tap rows 0 and 2
  const gA = g + <usize>(two ? oy0 : oy1) * ors;
  const gB = two ? g + <usize>oy2 * ors : gA;
  const tr = two ? 0 : 3; // first tap of the (first) row
  const tiles = (pairs + tile - 1) / tile;
  const shareX = (((txEnd - txStart) >> 6) / <usize>max<i32>(tiles, 1) + 1) << 6;
  const shareY = (((tyEnd - tyStart) >> 6) / <usize>max<i32>(tiles, 1) + 1) << 6;
  let tx = txStart, ty = tyStart;
  let sink: i32 = 0;
  for (let j0 = 0; j0 < pairs; j0 += tile) {
    const count = min<i32>(tile, pairs - j0);
    let end = min<usize>(tx + shareX, txEnd);
    for (; tx < end; tx += 64) sink ^= load<i32>(tx);
    end = min<usize>(ty + shareY, tyEnd);
    for (; ty < end; ty += 64) sink ^= load<i32>(ty);
    dgradTileStride2(count, gA + <usize>j0 * ps, gB + <usize>j0 * ps, orow + <usize>(2 * j0 + 1) * ps, w, tr, two, tapBytes, cVec, ps);
    if (cVec < ps) {
      for (let ix = 2 * j0 + 1; ix < 2 * (j0 + count) + 1; ix++) dgradPixelTail(g, orow + <usize>ix * ps, oy0, oy1, oy2, ix, 2, OW, ors, ps, w, tapBytes, cVec);
    }
  }
  store<i32>(sinkAt, sink); // keeps the touches
}

// The tile loops below are out of line so that V8 allocates registers for them alone (inlined
// into the row loops, it spilled), as in the forward kernels.

/**
 * Stride-1 dgrad of `count` interior input pixels, channel group by channel group with the 9
 * weights in registers. q0 points at dy[oy0][ix + 1]; rows oy1, oy2 lie one and two output rows
 * above. Neighbouring input pixels share two of their three dy columns, so pairs read 4 columns
 * (12 loads) instead of 6. Every pixel sums its taps in dgradPixel's order.
 */
// @ts-ignore: decorator
@noinline
function dgradTile(
  count: i32, q0start: usize, ostart: usize, w: usize, tapBytes: usize, cVec: usize, ps: usize, ors: usize,
  left: bool, right: bool,
): void {
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const wc = w + cb;
    const w0 = v128.load(wc);
    const w1 = v128.load(wc + tapBytes);
    const w2 = v128.load(wc + 2 * tapBytes);
    const w3 = v128.load(wc + 3 * tapBytes);
    const w4 = v128.load(wc + 4 * tapBytes);
    const w5 = v128.load(wc + 5 * tapBytes);
    const w6 = v128.load(wc + 6 * tapBytes);
    const w7 = v128.load(wc + 7 * tapBytes);
    const w8 = v128.load(wc + 8 * tapBytes);
    let q0 = q0start + cb;
    let o = ostart + cb;
    if (left) {
      // Input column 0: dy columns 1 and 0 (taps 0 and 1 of each row).
      const q1 = q0 - ors;
      const q2 = q1 - ors;
      const acc = tapRowLeft(tapRowLeft(tapRowLeft(zero, q0, ps, w0, w1), q1, ps, w3, w4), q2, ps, w6, w7);
      v128.store(o - ps, acc);
    }
    let m = count >> 1;
    if (m) do {
      // a: this pixel (dy columns q, q - 1, q - 2); b: the next (q + 1, q, q - 1).
      const q1 = q0 - ors;
      const q2 = q1 - ors;
      let x = v128.load(q0 + ps);
      let b = madd(x, w0, zero);
      x = v128.load(q0);
      let a = madd(x, w0, zero);
      b = madd(x, w1, b);
      x = v128.load(q0 - ps);
      a = madd(x, w1, a);
      b = madd(x, w2, b);
      a = madd(v128.load(q0 - 2 * ps), w2, a);
      x = v128.load(q1 + ps);
      b = madd(x, w3, b);
      x = v128.load(q1);
      a = madd(x, w3, a);
      b = madd(x, w4, b);
      x = v128.load(q1 - ps);
      a = madd(x, w4, a);
      b = madd(x, w5, b);
      a = madd(v128.load(q1 - 2 * ps), w5, a);
      x = v128.load(q2 + ps);
      b = madd(x, w6, b);
      x = v128.load(q2);
      a = madd(x, w6, a);
      b = madd(x, w7, b);
      x = v128.load(q2 - ps);
      a = madd(x, w7, a);
      b = madd(x, w8, b);
      a = madd(v128.load(q2 - 2 * ps), w8, a);
      v128.store(o, a);
      v128.store(o + ps, b);
      q0 += ps << 1;
      o += ps << 1;
    } while (--m != 0);
    if (count & 1) {
      const q1 = q0 - ors;
      const q2 = q1 - ors;
      const acc = tapRow(tapRow(tapRow(zero, q0, ps, w0, w1, w2), q1, ps, w3, w4, w5), q2, ps, w6, w7, w8);
      v128.store(o, acc);
      q0 += ps;
      o += ps;
    }
    if (right) {
      // Input column W - 1: dy columns W - 1 and W - 2 (taps 1 and 2 of each row).
      const q1 = q0 - ors;
      const q2 = q1 - ors;
      let acc = madd(v128.load(q0 - ps), w1, zero);
      acc = madd(v128.load(q0 - 2 * ps), w2, acc);
      acc = madd(v128.load(q1 - ps), w4, acc);
      acc = madd(v128.load(q1 - 2 * ps), w5, acc);
      acc = madd(v128.load(q2 - ps), w7, acc);
      acc = madd(v128.load(q2 - 2 * ps), w8, acc);
      v128.store(o, acc);
    }
  }
}

/**
 * dgradTile for input rows iy (at ostart) and iy + 1 (rowBytes further): q0 points at
 * dy[iy + 2][ix + 1], and dy rows iy + 1, iy, iy - 1 lie 1, 2, 3 output rows above. The four
 * pixels of a column pair read 16 dy vectors instead of 24. Same tap order as dgradPixel.
 */
// @ts-ignore: decorator
@noinline
function dgradTileTwoRows(
  count: i32, q0start: usize, ostart: usize, w: usize, tapBytes: usize, cVec: usize, ps: usize, ors: usize,
  rowBytes: usize, left: bool, right: bool,
): void {
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const wc = w + cb;
    const w0 = v128.load(wc);
    const w1 = v128.load(wc + tapBytes);
    const w2 = v128.load(wc + 2 * tapBytes);
    const w3 = v128.load(wc + 3 * tapBytes);
    const w4 = v128.load(wc + 4 * tapBytes);
    const w5 = v128.load(wc + 5 * tapBytes);
    const w6 = v128.load(wc + 6 * tapBytes);
    const w7 = v128.load(wc + 7 * tapBytes);
    const w8 = v128.load(wc + 8 * tapBytes);
    let q = q0start + cb;
    let o = ostart + cb;
    if (left) {
      // Input column 0 of both rows: dy columns 1 and 0.
      const r2 = q - ors;
      const r1 = r2 - ors;
      const r0 = r1 - ors;
      const t = tapRowLeft(tapRowLeft(tapRowLeft(zero, r2, ps, w0, w1), r1, ps, w3, w4), r0, ps, w6, w7);
      v128.store(o - ps, t);
      const u = tapRowLeft(tapRowLeft(tapRowLeft(zero, q, ps, w0, w1), r2, ps, w3, w4), r1, ps, w6, w7);
      v128.store(o + rowBytes - ps, u);
    }
    let m = count >> 1;
    if (m) do {
      // T: row iy (dy rows r2, r1, r0 with tap rows 0, 1, 2); B: row iy + 1 (q, r2, r1).
      // a: this column, b: the next.
      const r2 = q - ors;
      const r1 = r2 - ors;
      const r0 = r1 - ors;
      let x = v128.load(q + ps);
      let bB = madd(x, w0, zero);
      x = v128.load(q);
      let aB = madd(x, w0, zero);
      bB = madd(x, w1, bB);
      x = v128.load(q - ps);
      aB = madd(x, w1, aB);
      bB = madd(x, w2, bB);
      aB = madd(v128.load(q - 2 * ps), w2, aB);
      x = v128.load(r2 + ps);
      let bT = madd(x, w0, zero);
      bB = madd(x, w3, bB);
      x = v128.load(r2);
      let aT = madd(x, w0, zero);
      bT = madd(x, w1, bT);
      aB = madd(x, w3, aB);
      bB = madd(x, w4, bB);
      x = v128.load(r2 - ps);
      aT = madd(x, w1, aT);
      bT = madd(x, w2, bT);
      aB = madd(x, w4, aB);
      bB = madd(x, w5, bB);
      x = v128.load(r2 - 2 * ps);
      aT = madd(x, w2, aT);
      aB = madd(x, w5, aB);
      x = v128.load(r1 + ps);
      bT = madd(x, w3, bT);
      bB = madd(x, w6, bB);
      x = v128.load(r1);
      aT = madd(x, w3, aT);
      bT = madd(x, w4, bT);
      aB = madd(x, w6, aB);
      bB = madd(x, w7, bB);
      x = v128.load(r1 - ps);
      aT = madd(x, w4, aT);
      bT = madd(x, w5, bT);
      aB = madd(x, w7, aB);
      bB = madd(x, w8, bB);
      x = v128.load(r1 - 2 * ps);
      aT = madd(x, w5, aT);
      aB = madd(x, w8, aB);
      v128.store(o + rowBytes, aB);
      v128.store(o + rowBytes + ps, bB);
      x = v128.load(r0 + ps);
      bT = madd(x, w6, bT);
      x = v128.load(r0);
      aT = madd(x, w6, aT);
      bT = madd(x, w7, bT);
      x = v128.load(r0 - ps);
      aT = madd(x, w7, aT);
      bT = madd(x, w8, bT);
      aT = madd(v128.load(r0 - 2 * ps), w8, aT);
      v128.store(o, aT);
      v128.store(o + ps, bT);
      q += ps << 1;
      o += ps << 1;
    } while (--m != 0);
    if (count & 1) {
      const r2 = q - ors;
      const r1 = r2 - ors;
      const r0 = r1 - ors;
      const t = tapRow(tapRow(tapRow(zero, r2, ps, w0, w1, w2), r1, ps, w3, w4, w5), r0, ps, w6, w7, w8);
      v128.store(o, t);
      const u = tapRow(tapRow(tapRow(zero, q, ps, w0, w1, w2), r2, ps, w3, w4, w5), r1, ps, w6, w7, w8);
      v128.store(o + rowBytes, u);
      q += ps;
      o += ps;
    }
    if (right) {
      // Input column W - 1 of both rows: dy columns W - 1 and W - 2.
      const r2 = q - ors;
      const r1 = r2 - ors;
      const r0 = r1 - ors;
      let t = madd(v128.load(r2 - ps), w1, zero);
      t = madd(v128.load(r2 - 2 * ps), w2, t);
      t = madd(v128.load(r1 - ps), w4, t);
      t = madd(v128.load(r1 - 2 * ps), w5, t);
      t = madd(v128.load(r0 - ps), w7, t);
      t = madd(v128.load(r0 - 2 * ps), w8, t);
      v128.store(o, t);
      let u = madd(v128.load(q - ps), w1, zero);
      u = madd(v128.load(q - 2 * ps), w2, u);
      u = madd(v128.load(r2 - ps), w4, u);
      u = madd(v128.load(r2 - 2 * ps), w5, u);
      u = madd(v128.load(r1 - ps), w7, u);
      u = madd(v128.load(r1 - 2 * ps), w8, u);
      v128.store(o + rowBytes, u);
    }
  }
}

/**
 * dgradTile for a first or last input row: two tap rows, from wr (tap row 0 or 1), with dy rows
 * at q0 and one output row above.
 */
// @ts-ignore: decorator
@noinline
function dgradTileRows2(
  count: i32, q0start: usize, ostart: usize, wr: usize, tapBytes: usize, cVec: usize, ps: usize, ors: usize,
  left: bool, right: bool,
): void {
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const wc = wr + cb;
    const w0 = v128.load(wc);
    const w1 = v128.load(wc + tapBytes);
    const w2 = v128.load(wc + 2 * tapBytes);
    const w3 = v128.load(wc + 3 * tapBytes);
    const w4 = v128.load(wc + 4 * tapBytes);
    const w5 = v128.load(wc + 5 * tapBytes);
    let q0 = q0start + cb;
    let o = ostart + cb;
    if (left) {
      const q1 = q0 - ors;
      const acc = tapRowLeft(tapRowLeft(zero, q0, ps, w0, w1), q1, ps, w3, w4);
      v128.store(o - ps, acc);
    }
    let m = count >> 1;
    if (m) do {
      const q1 = q0 - ors;
      let x = v128.load(q0 + ps);
      let b = madd(x, w0, zero);
      x = v128.load(q0);
      let a = madd(x, w0, zero);
      b = madd(x, w1, b);
      x = v128.load(q0 - ps);
      a = madd(x, w1, a);
      b = madd(x, w2, b);
      a = madd(v128.load(q0 - 2 * ps), w2, a);
      x = v128.load(q1 + ps);
      b = madd(x, w3, b);
      x = v128.load(q1);
      a = madd(x, w3, a);
      b = madd(x, w4, b);
      x = v128.load(q1 - ps);
      a = madd(x, w4, a);
      b = madd(x, w5, b);
      a = madd(v128.load(q1 - 2 * ps), w5, a);
      v128.store(o, a);
      v128.store(o + ps, b);
      q0 += ps << 1;
      o += ps << 1;
    } while (--m != 0);
    if (count & 1) {
      const q1 = q0 - ors;
      const acc = tapRow(tapRow(zero, q0, ps, w0, w1, w2), q1, ps, w3, w4, w5);
      v128.store(o, acc);
      q0 += ps;
      o += ps;
    }
    if (right) {
      const q1 = q0 - ors;
      let acc = madd(v128.load(q0 - ps), w1, zero);
      acc = madd(v128.load(q0 - 2 * ps), w2, acc);
      acc = madd(v128.load(q1 - ps), w4, acc);
      acc = madd(v128.load(q1 - 2 * ps), w5, acc);
      v128.store(o, acc);
    }
  }
}

/** The column pairs of dgradRowStride2 (see there), channel group by channel group. */
// @ts-ignore: decorator
@noinline
function dgradTileStride2(
  count: i32, qaStart: usize, qbStart: usize, ostart: usize, w: usize, tr: i32, two: bool,
  tapBytes: usize, cVec: usize, ps: usize,
): void {
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const wc = w + <usize>tr * tapBytes + cb;
    const a0 = v128.load(wc);
    const a1 = v128.load(wc + tapBytes);
    const a2 = v128.load(wc + 2 * tapBytes);
    // Tap row 2 (only used for odd rows).
    const b0 = v128.load(w + 6 * tapBytes + cb);
    const b1 = v128.load(w + 7 * tapBytes + cb);
    const b2 = v128.load(w + 8 * tapBytes + cb);
    let qa = qaStart + cb; // dy[rowA][j]
    let qb = qbStart + cb;
    let o = ostart + cb;
    for (let i = 0; i < count; i++) {
      const aj = v128.load(qa);
      const aj1 = v128.load(qa + ps);
      let odd = madd(aj, a2, madd(aj1, a0, zero));
      let even = madd(aj1, a1, zero);
      if (two) {
        const bj = v128.load(qb);
        const bj1 = v128.load(qb + ps);
        odd = madd(bj, b2, madd(bj1, b0, odd));
        even = madd(bj1, b1, even);
      }
      v128.store(o, odd);
      v128.store(o + ps, even);
      qa += ps;
      qb += ps;
      o += 2 * ps;
    }
  }
}

/**
 * One tile of wgrad's interior output pixels into the row accumulators, 9 per channel group in
 * registers. Pixels go in pairs: the pair's x columns overlap (4 columns at stride 1, 5 at
 * stride 2, instead of 6), so each x vector is loaded once and added to both pixels' taps; every
 * accumulator still takes the left pixel's term before the right one's.
 */
// @ts-ignore: decorator
@noinline
function wgradTile(
  count: i32, tileIn: usize, tileG: usize, rowAcc: usize, tapBytes: usize, cVec: usize, ps: usize, rs: usize, step: usize,
  left: bool, right: bool, first: bool, last: bool, dwAcc: usize,
): void {
  const pairs = count >> 1;
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const ac = rowAcc + cb;
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero, a6 = zero, a7 = zero, a8 = zero;
    if (!first) {
      a0 = v128.load(ac);
      a1 = v128.load(ac + tapBytes);
      a2 = v128.load(ac + 2 * tapBytes);
      a3 = v128.load(ac + 3 * tapBytes);
      a4 = v128.load(ac + 4 * tapBytes);
      a5 = v128.load(ac + 5 * tapBytes);
      a6 = v128.load(ac + 6 * tapBytes);
      a7 = v128.load(ac + 7 * tapBytes);
      a8 = v128.load(ac + 8 * tapBytes);
    }
    let p0 = tileIn + cb;
    let gp = tileG + cb;
    if (left) {
      // Output column 0: x columns 0 and 1 (taps 1 and 2 of each row).
      const gv = v128.load(gp - ps);
      const q0 = p0 - step;
      const q1 = q0 + rs;
      const q2 = q1 + rs;
      a1 = madd(gv, v128.load(q0 + ps), a1);
      a2 = madd(gv, v128.load(q0 + 2 * ps), a2);
      a4 = madd(gv, v128.load(q1 + ps), a4);
      a5 = madd(gv, v128.load(q1 + 2 * ps), a5);
      a7 = madd(gv, v128.load(q2 + ps), a7);
      a8 = madd(gv, v128.load(q2 + 2 * ps), a8);
    }
    if (pairs) {
      let m = pairs;
      if (step == ps) {
        do {
          const ga = v128.load(gp);
          const gb = v128.load(gp + ps);
          const p1 = p0 + rs;
          const p2 = p1 + rs;
          let x = v128.load(p0);
          a0 = madd(ga, x, a0);
          x = v128.load(p0 + ps);
          a1 = madd(ga, x, a1);
          a0 = madd(gb, x, a0);
          x = v128.load(p0 + 2 * ps);
          a2 = madd(ga, x, a2);
          a1 = madd(gb, x, a1);
          a2 = madd(gb, v128.load(p0 + 3 * ps), a2);
          x = v128.load(p1);
          a3 = madd(ga, x, a3);
          x = v128.load(p1 + ps);
          a4 = madd(ga, x, a4);
          a3 = madd(gb, x, a3);
          x = v128.load(p1 + 2 * ps);
          a5 = madd(ga, x, a5);
          a4 = madd(gb, x, a4);
          a5 = madd(gb, v128.load(p1 + 3 * ps), a5);
          x = v128.load(p2);
          a6 = madd(ga, x, a6);
          x = v128.load(p2 + ps);
          a7 = madd(ga, x, a7);
          a6 = madd(gb, x, a6);
          x = v128.load(p2 + 2 * ps);
          a8 = madd(ga, x, a8);
          a7 = madd(gb, x, a7);
          a8 = madd(gb, v128.load(p2 + 3 * ps), a8);
          p0 += ps << 1;
          gp += ps << 1;
        } while (--m != 0);
      } else {
        do {
          const ga = v128.load(gp);
          const gb = v128.load(gp + ps);
          const p1 = p0 + rs;
          const p2 = p1 + rs;
          a0 = madd(ga, v128.load(p0), a0);
          a1 = madd(ga, v128.load(p0 + ps), a1);
          let x = v128.load(p0 + 2 * ps);
          a2 = madd(ga, x, a2);
          a0 = madd(gb, x, a0);
          a1 = madd(gb, v128.load(p0 + 3 * ps), a1);
          a2 = madd(gb, v128.load(p0 + 4 * ps), a2);
          a3 = madd(ga, v128.load(p1), a3);
          a4 = madd(ga, v128.load(p1 + ps), a4);
          x = v128.load(p1 + 2 * ps);
          a5 = madd(ga, x, a5);
          a3 = madd(gb, x, a3);
          a4 = madd(gb, v128.load(p1 + 3 * ps), a4);
          a5 = madd(gb, v128.load(p1 + 4 * ps), a5);
          a6 = madd(ga, v128.load(p2), a6);
          a7 = madd(ga, v128.load(p2 + ps), a7);
          x = v128.load(p2 + 2 * ps);
          a8 = madd(ga, x, a8);
          a6 = madd(gb, x, a6);
          a7 = madd(gb, v128.load(p2 + 3 * ps), a7);
          a8 = madd(gb, v128.load(p2 + 4 * ps), a8);
          p0 += step << 1;
          gp += ps << 1;
        } while (--m != 0);
      }
    }
    if (count & 1) {
      const gv = v128.load(gp);
      const p1 = p0 + rs;
      const p2 = p1 + rs;
      a0 = madd(gv, v128.load(p0), a0);
      a1 = madd(gv, v128.load(p0 + ps), a1);
      a2 = madd(gv, v128.load(p0 + 2 * ps), a2);
      a3 = madd(gv, v128.load(p1), a3);
      a4 = madd(gv, v128.load(p1 + ps), a4);
      a5 = madd(gv, v128.load(p1 + 2 * ps), a5);
      a6 = madd(gv, v128.load(p2), a6);
      a7 = madd(gv, v128.load(p2 + ps), a7);
      a8 = madd(gv, v128.load(p2 + 2 * ps), a8);
      p0 += step;
      gp += ps;
    }
    if (right) {
      // Output column OW - 1: x columns W - 2 and W - 1 (taps 0 and 1 of each row).
      const gv = v128.load(gp);
      const p1 = p0 + rs;
      const p2 = p1 + rs;
      a0 = madd(gv, v128.load(p0), a0);
      a1 = madd(gv, v128.load(p0 + ps), a1);
      a3 = madd(gv, v128.load(p1), a3);
      a4 = madd(gv, v128.load(p1 + ps), a4);
      a6 = madd(gv, v128.load(p2), a6);
      a7 = madd(gv, v128.load(p2 + ps), a7);
    }
    // The last row's sums go straight into dw (dw + row sum, as through rowAcc).
    const d = last ? dwAcc + cb : ac;
    putTapSum(d, a0, last);
    putTapSum(d + tapBytes, a1, last);
    putTapSum(d + 2 * tapBytes, a2, last);
    putTapSum(d + 3 * tapBytes, a3, last);
    putTapSum(d + 4 * tapBytes, a4, last);
    putTapSum(d + 5 * tapBytes, a5, last);
    putTapSum(d + 6 * tapBytes, a6, last);
    putTapSum(d + 7 * tapBytes, a7, last);
    putTapSum(d + 8 * tapBytes, a8, last);
  }
}

/** wgradTile for a first or last output row: two tap rows, their accumulators from rowAcc on. */
// @ts-ignore: decorator
@noinline
function wgradTileRows2(
  count: i32, tileIn: usize, tileG: usize, rowAcc: usize, tapBytes: usize, cVec: usize, ps: usize, rs: usize, step: usize,
  left: bool, right: bool, first: bool, last: bool, dwAcc: usize,
): void {
  const zero = f32x4.splat(0);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    const ac = rowAcc + cb;
    let a0 = zero, a1 = zero, a2 = zero, a3 = zero, a4 = zero, a5 = zero;
    if (!first) {
      a0 = v128.load(ac);
      a1 = v128.load(ac + tapBytes);
      a2 = v128.load(ac + 2 * tapBytes);
      a3 = v128.load(ac + 3 * tapBytes);
      a4 = v128.load(ac + 4 * tapBytes);
      a5 = v128.load(ac + 5 * tapBytes);
    }
    let p0 = tileIn + cb;
    let gp = tileG + cb;
    if (left) {
      const gv = v128.load(gp - ps);
      const q0 = p0 - step;
      const q1 = q0 + rs;
      a1 = madd(gv, v128.load(q0 + ps), a1);
      a2 = madd(gv, v128.load(q0 + 2 * ps), a2);
      a4 = madd(gv, v128.load(q1 + ps), a4);
      a5 = madd(gv, v128.load(q1 + 2 * ps), a5);
    }
    let m = count;
    do {
      const gv = v128.load(gp);
      const p1 = p0 + rs;
      a0 = madd(gv, v128.load(p0), a0);
      a1 = madd(gv, v128.load(p0 + ps), a1);
      a2 = madd(gv, v128.load(p0 + 2 * ps), a2);
      a3 = madd(gv, v128.load(p1), a3);
      a4 = madd(gv, v128.load(p1 + ps), a4);
      a5 = madd(gv, v128.load(p1 + 2 * ps), a5);
      p0 += step;
      gp += ps;
    } while (--m != 0);
    if (right) {
      const gv = v128.load(gp);
      const p1 = p0 + rs;
      a0 = madd(gv, v128.load(p0), a0);
      a1 = madd(gv, v128.load(p0 + ps), a1);
      a3 = madd(gv, v128.load(p1), a3);
      a4 = madd(gv, v128.load(p1 + ps), a4);
    }
    // The last row's sums go straight into dw (dw + row sum, as through rowAcc).
    const d = last ? dwAcc + cb : ac;
    putTapSum(d, a0, last);
    putTapSum(d + tapBytes, a1, last);
    putTapSum(d + 2 * tapBytes, a2, last);
    putTapSum(d + 3 * tapBytes, a3, last);
    putTapSum(d + 4 * tapBytes, a4, last);
    putTapSum(d + 5 * tapBytes, a5, last);
  }
}

// A wgrad tile's tap sum: added to dw for the tile's last row, else stored in rowAcc.
@inline
function putTapSum(d: usize, a: v128, toDw: bool): void {
  v128.store(d, toDw ? f32x4.add(v128.load(d), a) : a);
}

/** dx at input column ix (all channels) of one row: the taps that reach dy. */
@inline
function dgradPixel(
  g: usize, o: usize, oy0: i32, oy1: i32, oy2: i32, ix: i32, stride: i32, OW: i32,
  ors: usize, ps: usize, w: usize, tapBytes: usize, cVec: usize,
): void {
  const ox0 = srcIndex(ix + 1, stride, OW);
  const ox1 = srcIndex(ix, stride, OW);
  const ox2 = srcIndex(ix - 1, stride, OW);
  for (let cb: usize = 0; cb < cVec; cb += 16) {
    let acc = f32x4.splat(0);
    for (let ky = 0; ky < 3; ky++) {
      const oy = ky == 0 ? oy0 : ky == 1 ? oy1 : oy2;
      if (oy < 0) continue;
      const row = g + <usize>oy * ors + cb;
      const wr = w + <usize>(ky * 3) * tapBytes + cb;
      if (ox0 >= 0) acc = madd(v128.load(row + <usize>ox0 * ps), v128.load(wr), acc);
      if (ox1 >= 0) acc = madd(v128.load(row + <usize>ox1 * ps), v128.load(wr + tapBytes), acc);
      if (ox2 >= 0) acc = madd(v128.load(row + <usize>ox2 * ps), v128.load(wr + 2 * tapBytes), acc);
    }
    v128.store(o + cb, acc);
  }
  dgradPixelTail(g, o, oy0, oy1, oy2, ix, stride, OW, ors, ps, w, tapBytes, cVec);
}

/** The scalar channel tail (C not a multiple of 4) of dgradPixel. */
@inline
function dgradPixelTail(
  g: usize, o: usize, oy0: i32, oy1: i32, oy2: i32, ix: i32, stride: i32, OW: i32,
  ors: usize, ps: usize, w: usize, tapBytes: usize, cVec: usize,
): void {
  const ox0 = srcIndex(ix + 1, stride, OW);
  const ox1 = srcIndex(ix, stride, OW);
  const ox2 = srcIndex(ix - 1, stride, OW);
  for (let cb = cVec; cb < ps; cb += 4) {
    let acc: f32 = 0;
    for (let ky = 0; ky < 3; ky++) {
      const oy = ky == 0 ? oy0 : ky == 1 ? oy1 : oy2;
      if (oy < 0) continue;
      const row = g + <usize>oy * ors + cb;
      const wr = w + <usize>(ky * 3) * tapBytes + cb;
      if (ox0 >= 0) acc += load<f32>(row + <usize>ox0 * ps) * load<f32>(wr);
      if (ox1 >= 0) acc += load<f32>(row + <usize>ox1 * ps) * load<f32>(wr + tapBytes);
      if (ox2 >= 0) acc += load<f32>(row + <usize>ox2 * ps) * load<f32>(wr + 2 * tapBytes);
    }
    store<f32>(o + cb, acc);
  }
}

// One tap row of a dgrad output pixel: dy at p, p - ps and p - 2*ps (the row's three columns,
// right to left) times its three weights, added to acc in that order.
@inline
function tapRow(acc: v128, p: usize, ps: usize, wa: v128, wb: v128, wc: v128): v128 {
  return madd(v128.load(p - 2 * ps), wc, madd(v128.load(p - ps), wb, madd(v128.load(p), wa, acc)));
}

// The same for a pixel whose right column falls outside dy: only p - ps and p - 2*ps.
@inline
function tapRowLeft(acc: v128, p: usize, ps: usize, wa: v128, wb: v128): v128 {
  return madd(v128.load(p - 2 * ps), wb, madd(v128.load(p - ps), wa, acc));
}


/** The output index o with o*stride == t, or -1 when t is not on the stride grid or out of range. */
@inline
function srcIndex(t: i32, stride: i32, size: i32): i32 {
  if (t < 0) return -1;
  if (stride == 2) {
    if (t & 1) return -1;
    t >>= 1;
  }
  return t < size ? t : -1;
}

/**
 * dw[ky*3 + kx][c] = sum over n, oy, ox of dy[n, oy, ox, c] * x[n, oy*stride - 1 + ky, ox*stride - 1 + kx, c].
 * Each output row is summed into `rowAcc` ([9][Cp] floats of scratch) first and then added to dw,
 * which keeps the float32 sums short.
 */
export function depthwise3x3Wgrad(
  N: i32, H: i32, W: i32, C: i32,
  x: usize, dy: usize, dw: usize, rowAcc: usize,
  stride: i32, OH: i32, OW: i32,
): void {
  memory.fill(dw, 0, <usize>9 * (<usize>((C + 3) & ~3) << 2));
  addDepthwiseWgrad(N, H, W, C, x, dy, dw, rowAcc, stride, OH, OW);
}

/** depthwise3x3Wgrad without the zeroing: adds the N images' sums to dw, row by row in order. */
export function addDepthwiseWgrad(
  N: i32, H: i32, W: i32, C: i32,
  x: usize, dy: usize, dw: usize, rowAcc: usize,
  stride: i32, OH: i32, OW: i32,
): void {
  const Cp = (C + 3) & ~3;
  const tapBytes = <usize>Cp << 2;
  const accBytes: usize = <usize>9 * tapBytes;
  const ps = <usize>C << 2;
  const rs = <usize>W * ps;
  const cVec = <usize>(C & ~3) << 2;
  const step = <usize>stride * ps;
  // x-interior output columns [oxA, oxB), as in the forward kernel.
  const oxA = min<i32>(1, OW);
  const oxB = max<i32>(oxA, min<i32>(OW, (W - 2) / stride + 1));
  const tile = max<i32>(2, min<i32>(32, (<i32>(TILE_BYTES / (3 * ps)) - 2) / stride));
  // The left and right border pixels (see below) go with the tiles when their taps are
  // columns 1, 2 and 0, 1.
  const left = oxA == 1 && W >= 2;
  const right = oxB == OW - 1 && (OW - 1) * stride + 1 == W;
  for (let n = 0; n < N; n++) {
    const img = x + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      const grow = dy + (<usize>(n * OH + oy) * <usize>OW) * ps;
      const three = kyHi - kyLo == 2;
      const tiled = kyHi - kyLo >= 1 && oxB > oxA;
      // Rows the tiles cover whole (both borders, no scalar channels) keep their sums in
      // registers from zero and add them to dw at the last tile, without rowAcc.
      const direct = tiled && left && right && cVec == ps;
      if (!direct) memory.fill(rowAcc, 0, accBytes);
      if (!tiled) {
        for (let ox = 0; ox < OW; ox++) wgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, ps, rs, tapBytes, 0, cVec);
      } else {
        // Each (tap, channel) sum still runs over ox in increasing order: the left border
        // pixel, the tiles, then the right border pixel, with the accumulators of the valid tap
        // rows (all 3, or 2 in the first and last rows) in registers.
        if (!left) for (let ox = 0; ox < oxA; ox++) wgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, ps, rs, tapBytes, 0, cVec);
        const rowIn = img + <isize>(iy0 + kyLo) * <isize>rs + <isize>(oxA * stride - 1) * <isize>ps;
        const acc = rowAcc + <usize>(3 * kyLo) * tapBytes;
        const dwAcc = dw + <usize>(3 * kyLo) * tapBytes;
        // The next output row's new x rows and its dy row: one load per cache line, a share
        // before each tile, so that the prefetchers stream them in while this row computes.
        const xNew = min<i32>(H, iy0 + 3 + stride) - min<i32>(H, iy0 + 3);
        let tx = img + <usize>max<i32>(0, iy0 + 3) * rs;
        const touch = OW >= TOUCH_MIN_OW;
        const txEnd = touch ? tx + <usize>max<i32>(0, xNew) * rs : tx;
        let ty = grow + <usize>OW * ps;
        const tyEnd = touch && oy + 1 < OH ? ty + <usize>OW * ps : ty;
        const tiles = (oxB - oxA + tile - 1) / tile;
        const shareX = (((txEnd - tx) >> 6) / <usize>tiles + 1) << 6;
        const shareY = (((tyEnd - ty) >> 6) / <usize>tiles + 1) << 6;
        let sink: i32 = 0;
        for (let t0 = oxA; t0 < oxB; t0 += tile) {
          const count = min<i32>(tile, oxB - t0);
          let end = min<usize>(tx + shareX, txEnd);
          for (; tx < end; tx += 64) sink ^= load<i32>(tx);
          end = min<usize>(ty + shareY, tyEnd);
          for (; ty < end; ty += 64) sink ^= load<i32>(ty);
          const tileIn = rowIn + <usize>(t0 - oxA) * step;
          const tileG = grow + <usize>t0 * ps;
          const l = left && t0 == oxA;
          const r = right && t0 + count == oxB;
          const first = direct && t0 == oxA;
          const last = direct && t0 + count == oxB;
          if (three) wgradTile(count, tileIn, tileG, acc, tapBytes, cVec, ps, rs, step, l, r, first, last, dwAcc);
          else wgradTileRows2(count, tileIn, tileG, acc, tapBytes, cVec, ps, rs, step, l, r, first, last, dwAcc);
          if (cVec < ps) {
            for (let ox = t0 - <i32>l; ox < t0 + count + <i32>r; ox++) wgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, ps, rs, tapBytes, cVec, cVec);
          }
        }
        if (!right) for (let ox = oxB; ox < OW; ox++) wgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, ps, rs, tapBytes, 0, cVec);
        store<i32>(sinkAt, sink); // keeps the touches
      }
      if (!direct) for (let b: usize = 0; b < accBytes; b += 16) v128.store(dw + b, f32x4.add(v128.load(dw + b), v128.load(rowAcc + b)));
    }
  }
}

/** Adds output pixel ox's contributions (channels from byte offset cFrom) to the row accumulators. */
@inline
function wgradPixel(
  img: usize, grow: usize, rowAcc: usize, ox: i32, iy0: i32, kyLo: i32, kyHi: i32, W: i32, stride: i32,
  ps: usize, rs: usize, tapBytes: usize, cFrom: usize, cVec: usize,
): void {
  const ix0 = ox * stride - 1;
  const kxLo = ix0 < 0 ? 1 : 0;
  const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
  const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
  const g = grow + <usize>ox * ps;
  for (let cb = cFrom; cb < cVec; cb += 16) {
    const gv = v128.load(g + cb);
    for (let ky = kyLo; ky <= kyHi; ky++) {
      const row = p0 + <usize>ky * rs + cb;
      const ar = rowAcc + <usize>(ky * 3) * tapBytes + cb;
      for (let kx = kxLo; kx <= kxHi; kx++) {
        const ap = ar + <usize>kx * tapBytes;
        v128.store(ap, madd(gv, v128.load(row + <usize>kx * ps), v128.load(ap)));
      }
    }
  }
  for (let cb = max<usize>(cVec, cFrom); cb < ps; cb += 4) {
    const gs = load<f32>(g + cb);
    for (let ky = kyLo; ky <= kyHi; ky++) {
      const row = p0 + <usize>ky * rs + cb;
      const ar = rowAcc + <usize>(ky * 3) * tapBytes + cb;
      for (let kx = kxLo; kx <= kxHi; kx++) {
        const ap = ar + <usize>kx * tapBytes;
        store<f32>(ap, load<f32>(ap) + gs * load<f32>(row + <usize>kx * ps));
      }
    }
  }
}
