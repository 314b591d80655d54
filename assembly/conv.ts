// Dense 3x3 convolution with 3 input channels and padding 1 (MobileNetV2's stem), NHWC.
// Weights are packed [ky][kx][ci][Cp] with Cp = Cout rounded up to 8, so each of the 27 input
// values is broadcast once and multiplies two f32x4 rows of output channels.

import { storeTail } from './util';
import { madd } from './simd';

export function conv3x3c3(
  N: i32, H: i32, W: i32,
  inp: usize, w: usize, bias: usize, out: usize,
  Cout: i32, stride: i32, OH: i32, OW: i32, lo: f32, hi: f32,
): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const Cp = (Cout + 7) & ~7;
  const ciBytes = <usize>Cp << 2; // one (ky, kx, ci) row of packed weights
  const ps: usize = 12; // 3 floats per input pixel
  const rs = <usize>W * ps;
  const ops = <usize>Cout << 2;
  for (let n = 0; n < N; n++) {
    const img = inp + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      let o = out + <usize>(n * OH + oy) * <usize>OW * ops;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * stride - 1;
        const kxLo = ix0 < 0 ? 1 : 0;
        const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
        const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
        for (let c0 = 0; c0 < Cout; c0 += 8) {
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
        o += ops;
      }
    }
  }
}
