// Depthwise 3x3 convolution, padding 1, stride 1 or 2, NHWC. Weights are tap-major [9][Cp]
// with Cp = C rounded up to 4 (zero-padded), so each tap is a contiguous row of channels and
// four channels are computed per f32x4.
//
// Rows whose 3 input rows all lie inside the image run channel group by channel group: the
// group's 9 tap weights and bias stay in registers while the group sweeps every x-interior
// pixel of the row (9 input loads per output vector instead of 9 inputs + 9 weights). Border
// pixels go through the per-pixel path, which skips the taps that fall in the zero padding.
// Both paths add the taps in the same order (bias, then ky-major, kx-minor), so every output
// is the same float32 sum whichever path computed it.

import { clampf } from './util';
import { madd } from './simd';

// Input bytes of a tile's 3 rows: measured best around L2-sized tiles (96 KB beat 24 and 48 KB,
// most for the wide late layers, whose tiles were otherwise too short to amortize the taps).
const TILE_BYTES: usize = 96 * 1024;

export function depthwise3x3(
  N: i32, H: i32, W: i32, C: i32,
  inp: usize, w: usize, bias: usize, out: usize,
  stride: i32, OH: i32, OW: i32, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const Cp = (C + 3) & ~3;
  const tapBytes = <usize>Cp << 2;
  const ps = <usize>C << 2; // pixel stride in bytes
  const rs = <usize>W * ps; // row stride in bytes
  const cVec = <usize>(C & ~3) << 2;
  // Output columns [oxA, oxB) read only in-range input columns.
  const oxA = min<i32>(1, OW);
  const oxB = max<i32>(oxA, min<i32>(OW, (W - 2) / stride + 1));
  const step = <usize>stride * ps;
  const tile = max<i32>(2, min<i32>(32, (<i32>(TILE_BYTES / (3 * ps)) - 2) / stride));
  for (let n = 0; n < N; n++) {
    const img = inp + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      const orow = out + ((<usize>(n * OH + oy) * <usize>OW) * ps);
      if (kyLo != 0 || kyHi != 2 || oxB <= oxA) {
        for (let ox = 0; ox < OW; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, ps, rs, w, tapBytes, bias, 0, cVec, C, lo, hi, vlo, vhi);
        continue;
      }
      for (let ox = 0; ox < oxA; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, ps, rs, w, tapBytes, bias, 0, cVec, C, lo, hi, vlo, vhi);
      for (let ox = oxB; ox < OW; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, ps, rs, w, tapBytes, bias, 0, cVec, C, lo, hi, vlo, vhi);
      const rowIn = img + <isize>iy0 * <isize>rs + <isize>(oxA * stride - 1) * <isize>ps;
      const rowOut = orow + <usize>oxA * ps;
      // Pixel tiles whose 3 input rows (tile * stride + 2 pixels each) stay in cache while every
      // channel group sweeps them.
      for (let t0 = 0; t0 < oxB - oxA; t0 += tile) {
        const count = min<i32>(tile, oxB - oxA - t0);
        const tileIn = rowIn + <usize>t0 * step;
        const tileOut = rowOut + <usize>t0 * ps;
        if (stride == 1) tileRowPairs(count, tileIn, tileOut, w, tapBytes, bias, cVec, ps, rs, lo, hi);
        else tileRow(count, tileIn, tileOut, w, tapBytes, bias, cVec, ps, rs, step, lo, hi);
      }
      if (cVec < ps) {
        for (let ox = oxA; ox < oxB; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, ps, rs, w, tapBytes, bias, cVec, cVec, C, lo, hi, vlo, vhi);
      }
    }
  }
}

/** bias + the 9 taps of one output vector whose tap (0, 0) is at p0, ky-major, kx-minor. */
@inline
function nineTaps(
  p0: usize, ps: usize, rs: usize, b: v128,
  w0: v128, w1: v128, w2: v128, w3: v128, w4: v128, w5: v128, w6: v128, w7: v128, w8: v128,
): v128 {
  const p1 = p0 + rs;
  const p2 = p1 + rs;
  let acc = madd(v128.load(p0), w0, b);
  acc = madd(v128.load(p0 + ps), w1, acc);
  acc = madd(v128.load(p0 + 2 * ps), w2, acc);
  acc = madd(v128.load(p1), w3, acc);
  acc = madd(v128.load(p1 + ps), w4, acc);
  acc = madd(v128.load(p1 + 2 * ps), w5, acc);
  acc = madd(v128.load(p2), w6, acc);
  acc = madd(v128.load(p2 + ps), w7, acc);
  return madd(v128.load(p2 + 2 * ps), w8, acc);
}

// One tile of interior output pixels, channel group by channel group: the group's 9 taps and
// bias stay in registers while it sweeps the tile. Out of line (like the GEMM's micro-kernel)
// so that V8 allocates registers for this loop alone.
// @ts-ignore: decorator
@noinline
function tileRow(
  count: i32, tileIn: usize, tileOut: usize, w: usize, tapBytes: usize, bias: usize,
  cVec: usize, ps: usize, rs: usize, step: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
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
    const b = v128.load(bias + cb);
    let p0 = tileIn + cb;
    let o = tileOut + cb;
    for (let i = 0; i < count; i++) {
      const acc = nineTaps(p0, ps, rs, b, w0, w1, w2, w3, w4, w5, w6, w7, w8);
      v128.store(o, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
      p0 += step;
      o += ps;
    }
  }
}

// Stride 1: neighbouring outputs share two of their three input columns, so a pair of outputs
// reads 4 columns (12 loads) instead of 6 (18 loads). Each output still sums bias, then the taps
// ky-major, kx-minor, so it is the same float32 value as tileRow's.
// @ts-ignore: decorator
@noinline
function tileRowPairs(
  count: i32, tileIn: usize, tileOut: usize, w: usize, tapBytes: usize, bias: usize,
  cVec: usize, ps: usize, rs: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
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
    const b = v128.load(bias + cb);
    let p0 = tileIn + cb;
    let o = tileOut + cb;
    let i = 0;
    for (; i + 2 <= count; i += 2) {
      const p1 = p0 + rs;
      const p2 = p1 + rs;
      let x = v128.load(p0);
      let a = madd(x, w0, b);
      x = v128.load(p0 + ps);
      a = madd(x, w1, a);
      let c = madd(x, w0, b);
      x = v128.load(p0 + 2 * ps);
      a = madd(x, w2, a);
      c = madd(x, w1, c);
      x = v128.load(p0 + 3 * ps);
      c = madd(x, w2, c);
      x = v128.load(p1);
      a = madd(x, w3, a);
      x = v128.load(p1 + ps);
      a = madd(x, w4, a);
      c = madd(x, w3, c);
      x = v128.load(p1 + 2 * ps);
      a = madd(x, w5, a);
      c = madd(x, w4, c);
      x = v128.load(p1 + 3 * ps);
      c = madd(x, w5, c);
      x = v128.load(p2);
      a = madd(x, w6, a);
      x = v128.load(p2 + ps);
      a = madd(x, w7, a);
      c = madd(x, w6, c);
      x = v128.load(p2 + 2 * ps);
      a = madd(x, w8, a);
      c = madd(x, w7, c);
      x = v128.load(p2 + 3 * ps);
      c = madd(x, w8, c);
      v128.store(o, f32x4.pmin(f32x4.pmax(a, vlo), vhi));
      v128.store(o + ps, f32x4.pmin(f32x4.pmax(c, vlo), vhi));
      p0 += ps << 1;
      o += ps << 1;
    }
    if (i < count) {
      const acc = nineTaps(p0, ps, rs, b, w0, w1, w2, w3, w4, w5, w6, w7, w8);
      v128.store(o, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
    }
  }
}

/** Output pixel `ox` of a row, channels from byte offset `cFrom`: only the taps inside the image. */
@inline
function pixel(
  img: usize, orow: usize, ox: i32, iy0: i32, kyLo: i32, kyHi: i32, W: i32, stride: i32,
  ps: usize, rs: usize, w: usize, tapBytes: usize, bias: usize, cFrom: usize, cVec: usize, C: i32,
  lo: f32, hi: f32, vlo: v128, vhi: v128,
): void {
  const ix0 = ox * stride - 1;
  const kxLo = ix0 < 0 ? 1 : 0;
  const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
  // Address of tap (0, 0); may lie in the padding, in which case only in-range taps are read.
  const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
  const o = orow + <usize>ox * ps;
  if (kyLo == 0 && kyHi == 2 && kxLo == 0 && kxHi == 2) {
    const p1 = p0 + rs;
    const p2 = p1 + rs;
    for (let cb = cFrom; cb < cVec; cb += 16) {
      const wc = w + cb;
      let acc = v128.load(bias + cb);
      acc = madd(v128.load(p0 + cb), v128.load(wc), acc);
      acc = madd(v128.load(p0 + ps + cb), v128.load(wc + tapBytes), acc);
      acc = madd(v128.load(p0 + 2 * ps + cb), v128.load(wc + 2 * tapBytes), acc);
      acc = madd(v128.load(p1 + cb), v128.load(wc + 3 * tapBytes), acc);
      acc = madd(v128.load(p1 + ps + cb), v128.load(wc + 4 * tapBytes), acc);
      acc = madd(v128.load(p1 + 2 * ps + cb), v128.load(wc + 5 * tapBytes), acc);
      acc = madd(v128.load(p2 + cb), v128.load(wc + 6 * tapBytes), acc);
      acc = madd(v128.load(p2 + ps + cb), v128.load(wc + 7 * tapBytes), acc);
      acc = madd(v128.load(p2 + 2 * ps + cb), v128.load(wc + 8 * tapBytes), acc);
      v128.store(o + cb, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
    }
  } else for (let cb = cFrom; cb < cVec; cb += 16) {
    let acc = v128.load(bias + cb);
    for (let ky = kyLo; ky <= kyHi; ky++) {
      const row = p0 + <usize>ky * rs + cb;
      const wr = w + <usize>(ky * 3) * tapBytes + cb;
      for (let kx = kxLo; kx <= kxHi; kx++) {
        acc = madd(v128.load(row + <usize>kx * ps), v128.load(wr + <usize>kx * tapBytes), acc);
      }
    }
    v128.store(o + cb, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
  }
  // Channel tail (C not a multiple of 4): scalar, same tap order as the vector path.
  const cAll = <usize>C << 2;
  for (let cb = max<usize>(cVec, cFrom); cb < cAll; cb += 4) {
    let acc = load<f32>(bias + cb);
    for (let ky = kyLo; ky <= kyHi; ky++) {
      const row = p0 + <usize>ky * rs + cb;
      const wr = w + <usize>(ky * 3) * tapBytes + cb;
      for (let kx = kxLo; kx <= kxHi; kx++) {
        acc += load<f32>(row + <usize>kx * ps) * load<f32>(wr + <usize>kx * tapBytes);
      }
    }
    store<f32>(o + cb, clampf(acc, lo, hi));
  }
}
