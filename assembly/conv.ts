// Dense 3x3 convolution with 3 input channels and padding 1 (MobileNetV2's stem), NHWC.
// Weights are packed [ky][kx][ci][Cp] with Cp = Cout rounded up to 8, so each of the 27 input
// values is broadcast once and multiplies rows of output channels.
//
// Interior pixels go in pairs over groups of 16 output channels: 8 accumulators, and each of the
// 27 taps costs 2 broadcasts and 4 weight loads for 8 multiply-adds (one pixel and 8 channels at a
// time needed 3 loads per 2). Border pixels and the last group of 8 channels take the per-pixel
// path, which skips taps in the zero padding. Every path adds bias, then the taps ky, kx, ci in
// that order, so an output is the same float32 sum whichever path computed it.

import { storeTail } from './util';
import { madd } from './simd';

export function conv3x3c3(
  N: i32, H: i32, W: i32,
  inp: usize, w: usize, bias: usize, out: usize,
  Cout: i32, stride: i32, OH: i32, OW: i32, lo: f32, hi: f32,
): void {
  const Cp = (Cout + 7) & ~7;
  const ciBytes = <usize>Cp << 2; // one (ky, kx, ci) row of packed weights
  const ps: usize = 12; // 3 floats per input pixel
  const rs = <usize>W * ps;
  const ops = <usize>Cout << 2;
  const c16 = Cout & ~15; // channels covered by the paired 16-channel path (whole vectors only)
  // Output columns [oxA, oxB) read only in-range input columns.
  const oxA = min<i32>(1, OW);
  const oxB = max<i32>(oxA, min<i32>(OW, (W - 2) / stride + 1));
  for (let n = 0; n < N; n++) {
    const img = inp + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      const orow = out + <usize>(n * OH + oy) * <usize>OW * ops;
      if (kyLo != 0 || kyHi != 2 || c16 == 0) {
        for (let ox = 0; ox < OW; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, rs, w, ciBytes, bias, Cout, 0, lo, hi);
        continue;
      }
      for (let ox = 0; ox < oxA; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, rs, w, ciBytes, bias, Cout, 0, lo, hi);
      const pairs = (oxB - oxA) >> 1;
      pixelPairs(pairs, img + <usize>iy0 * rs + <usize>(oxA * stride - 1) * ps, orow + <usize>oxA * ops,
        <usize>stride * ps, rs, w, ciBytes, bias, c16, ops, lo, hi);
      // The pairs' channels past c16, then the unpaired interior pixel and the right border.
      if (c16 < Cout) {
        for (let ox = oxA; ox < oxA + 2 * pairs; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, rs, w, ciBytes, bias, Cout, c16, lo, hi);
      }
      for (let ox = oxA + 2 * pairs; ox < OW; ox++) pixel(img, orow, ox, iy0, kyLo, kyHi, W, stride, rs, w, ciBytes, bias, Cout, 0, lo, hi);
    }
  }
}

// Out of line so that V8 allocates the 8 accumulators for this loop alone.
// @ts-ignore: decorator
@noinline
function pixelPairs(
  pairs: i32, p: usize, o: usize, step: usize, rs: usize,
  w: usize, ciBytes: usize, bias: usize, c16: i32, ops: usize, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  for (let i = 0; i < pairs; i++) {
    const q = p + step; // the second pixel's tap (0, 0)
    for (let c0 = 0; c0 < c16; c0 += 16) {
      const cb = <usize>c0 << 2;
      let a0 = v128.load(bias + cb), a1 = v128.load(bias + cb, 16), a2 = v128.load(bias + cb, 32), a3 = v128.load(bias + cb, 48);
      let b0 = a0, b1 = a1, b2 = a2, b3 = a3;
      let wt = w + cb;
      for (let ky: usize = 0; ky < 3; ky++) {
        const pr = p + ky * rs;
        const qr = q + ky * rs;
        // kx and ci together: the 9 input floats of a row of taps are contiguous.
        for (let t: usize = 0; t < 36; t += 4) {
          const x = v128.load32_splat(pr + t);
          const y = v128.load32_splat(qr + t);
          const w0 = v128.load(wt);
          const w1 = v128.load(wt, 16);
          const w2 = v128.load(wt, 32);
          const w3 = v128.load(wt, 48);
          a0 = madd(x, w0, a0);
          a1 = madd(x, w1, a1);
          a2 = madd(x, w2, a2);
          a3 = madd(x, w3, a3);
          b0 = madd(y, w0, b0);
          b1 = madd(y, w1, b1);
          b2 = madd(y, w2, b2);
          b3 = madd(y, w3, b3);
          wt += ciBytes;
        }
      }
      const oa = o + cb;
      v128.store(oa, f32x4.pmin(f32x4.pmax(a0, vlo), vhi));
      v128.store(oa, f32x4.pmin(f32x4.pmax(a1, vlo), vhi), 16);
      v128.store(oa, f32x4.pmin(f32x4.pmax(a2, vlo), vhi), 32);
      v128.store(oa, f32x4.pmin(f32x4.pmax(a3, vlo), vhi), 48);
      const ob = oa + ops;
      v128.store(ob, f32x4.pmin(f32x4.pmax(b0, vlo), vhi));
      v128.store(ob, f32x4.pmin(f32x4.pmax(b1, vlo), vhi), 16);
      v128.store(ob, f32x4.pmin(f32x4.pmax(b2, vlo), vhi), 32);
      v128.store(ob, f32x4.pmin(f32x4.pmax(b3, vlo), vhi), 48);
    }
    p += step << 1;
    o += ops << 1;
  }
}

/** Output pixel `ox` of a row, channels from `cFrom` (a multiple of 8): only the taps inside the image. */
function pixel(
  img: usize, orow: usize, ox: i32, iy0: i32, kyLo: i32, kyHi: i32, W: i32, stride: i32, rs: usize,
  w: usize, ciBytes: usize, bias: usize, Cout: i32, cFrom: i32, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const ps: usize = 12;
  const ix0 = ox * stride - 1;
  const kxLo = ix0 < 0 ? 1 : 0;
  const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
  const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
  const o = orow + <usize>ox * (<usize>Cout << 2);
  for (let c0 = cFrom; c0 < Cout; c0 += 8) {
    const cb = <usize>c0 << 2;
    let acc0 = v128.load(bias + cb);
    let acc1 = v128.load(bias + cb, 16);
    for (let ky = kyLo; ky <= kyHi; ky++) {
      for (let kx = kxLo; kx <= kxHi; kx++) {
        const px = p0 + <usize>ky * rs + <usize>kx * ps;
        const wt = w + <usize>((ky * 3 + kx) * 3) * ciBytes + cb;
        let x = v128.load32_splat(px);
        acc0 = madd(x, v128.load(wt), acc0);
        acc1 = madd(x, v128.load(wt, 16), acc1);
        x = v128.load32_splat(px, 4);
        acc0 = madd(x, v128.load(wt + ciBytes), acc0);
        acc1 = madd(x, v128.load(wt + ciBytes, 16), acc1);
        x = v128.load32_splat(px, 8);
        acc0 = madd(x, v128.load(wt + 2 * ciBytes), acc0);
        acc1 = madd(x, v128.load(wt + 2 * ciBytes, 16), acc1);
      }
    }
    acc0 = f32x4.pmin(f32x4.pmax(acc0, vlo), vhi);
    acc1 = f32x4.pmin(f32x4.pmax(acc1, vlo), vhi);
    const cols = min<i32>(8, Cout - c0);
    if (cols == 8) {
      v128.store(o + cb, acc0);
      v128.store(o + cb, acc1, 16);
    } else {
      storeTail(o + cb, 0, acc0, acc1, cols);
    }
  }
}
