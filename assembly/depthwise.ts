// Depthwise 3x3 convolution, padding 1, stride 1 or 2, NHWC. Weights are tap-major [9][Cp]
// with Cp = C rounded up to 4 (zero-padded), so each tap is a contiguous row of channels and
// four channels are computed per f32x4. Interior pixels take an unrolled path with no bounds
// checks; border pixels skip the taps that fall in the zero padding.

import { clampf } from './util';

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
  const cAll = <usize>C << 2;
  for (let n = 0; n < N; n++) {
    const img = inp + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      let o = out + ((<usize>(n * OH + oy) * <usize>OW) * ps);
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * stride - 1;
        const kxLo = ix0 < 0 ? 1 : 0;
        const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
        // Address of tap (0, 0); may lie in the padding, in which case only in-range taps are read.
        const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
        if (kyLo == 0 && kyHi == 2 && kxLo == 0 && kxHi == 2) {
          const p1 = p0 + rs;
          const p2 = p1 + rs;
          for (let cb: usize = 0; cb < cVec; cb += 16) {
            const wc = w + cb;
            let acc = v128.load(bias + cb);
            acc = f32x4.add(acc, f32x4.mul(v128.load(p0 + cb), v128.load(wc)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p0 + ps + cb), v128.load(wc + tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p0 + 2 * ps + cb), v128.load(wc + 2 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p1 + cb), v128.load(wc + 3 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p1 + ps + cb), v128.load(wc + 4 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p1 + 2 * ps + cb), v128.load(wc + 5 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p2 + cb), v128.load(wc + 6 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p2 + ps + cb), v128.load(wc + 7 * tapBytes)));
            acc = f32x4.add(acc, f32x4.mul(v128.load(p2 + 2 * ps + cb), v128.load(wc + 8 * tapBytes)));
            v128.store(o + cb, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
          }
        } else {
          for (let cb: usize = 0; cb < cVec; cb += 16) {
            let acc = v128.load(bias + cb);
            for (let ky = kyLo; ky <= kyHi; ky++) {
              const row = p0 + <usize>ky * rs + cb;
              const wr = w + <usize>(ky * 3) * tapBytes + cb;
              for (let kx = kxLo; kx <= kxHi; kx++) {
                acc = f32x4.add(acc, f32x4.mul(v128.load(row + <usize>kx * ps), v128.load(wr + <usize>kx * tapBytes)));
              }
            }
            v128.store(o + cb, f32x4.pmin(f32x4.pmax(acc, vlo), vhi));
          }
        }
        // Channel tail (C not a multiple of 4): scalar, same tap order as the vector path.
        for (let cb = cVec; cb < cAll; cb += 4) {
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
        o += ps;
      }
    }
  }
}
