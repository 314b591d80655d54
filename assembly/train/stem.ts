// Backward of the stem: a dense 3x3 convolution with 3 input channels, padding 1, NHWC.

import { madd } from '../simd';

/**
 * dw[(ky*3 + kx)*3 + ci][o] (27 rows of Cp = Cout rounded up to 4) = sum over n, oy, ox of
 * dy[n, oy, ox, o] * x[n, oy*stride - 1 + ky, ox*stride - 1 + kx, ci]. Each output row is
 * summed into `rowAcc` (27*Cp floats of scratch) first, then added to dw.
 */
export function conv3x3c3Wgrad(
  N: i32, H: i32, W: i32,
  x: usize, dy: usize, dw: usize, rowAcc: usize,
  Cout: i32, stride: i32, OH: i32, OW: i32,
): void {
  const Cp = (Cout + 3) & ~3;
  const rowBytes = <usize>Cp << 2;
  const accBytes: usize = <usize>27 * rowBytes;
  const ps: usize = 12;
  const rs = <usize>W * ps;
  const ops = <usize>Cout << 2;
  const cVec = <usize>(Cout & ~3) << 2;
  const step = <usize>stride * ps;
  // x-interior output columns [oxA, oxB): all three tap columns inside the image.
  const oxA = min<i32>(1, OW);
  const oxB = max<i32>(oxA, min<i32>(OW, (W - 2) / stride + 1));
  memory.fill(dw, 0, accBytes);
  for (let n = 0; n < N; n++) {
    const img = x + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      memory.fill(rowAcc, 0, accBytes);
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      const grow = dy + <usize>(n * OH + oy) * <usize>OW * ops;
      // Per accumulator (tap, ci, channel) the sum runs over ox in increasing order: left border
      // pixels, then the x-interior ones, then the right border, as a plain pixel loop would.
      for (let ox = 0; ox < oxA; ox++) stemWgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, rs, ops, rowBytes, cVec);
      if (oxB > oxA) {
        // x-interior pixels: per tap row ky and channel group, the 9 (kx, ci) accumulators stay
        // in registers while the group sweeps the row.
        for (let ky = kyLo; ky <= kyHi; ky++) {
          const rowIn = img + <isize>(iy0 + ky) * <isize>rs + <isize>(oxA * stride - 1) * <isize>ps;
          for (let cb: usize = 0; cb < cVec; cb += 16) {
            const ar = rowAcc + <usize>(ky * 9) * rowBytes + cb;
            let a00 = v128.load(ar), a01 = v128.load(ar + rowBytes), a02 = v128.load(ar + 2 * rowBytes);
            let a10 = v128.load(ar + 3 * rowBytes), a11 = v128.load(ar + 4 * rowBytes), a12 = v128.load(ar + 5 * rowBytes);
            let a20 = v128.load(ar + 6 * rowBytes), a21 = v128.load(ar + 7 * rowBytes), a22 = v128.load(ar + 8 * rowBytes);
            let px = rowIn;
            let gp = grow + <usize>oxA * ops + cb;
            for (let ox = oxA; ox < oxB; ox++) {
              const gv = v128.load(gp);
              a00 = madd(v128.load32_splat(px), gv, a00);
              a01 = madd(v128.load32_splat(px, 4), gv, a01);
              a02 = madd(v128.load32_splat(px, 8), gv, a02);
              a10 = madd(v128.load32_splat(px, 12), gv, a10);
              a11 = madd(v128.load32_splat(px, 16), gv, a11);
              a12 = madd(v128.load32_splat(px, 20), gv, a12);
              a20 = madd(v128.load32_splat(px, 24), gv, a20);
              a21 = madd(v128.load32_splat(px, 28), gv, a21);
              a22 = madd(v128.load32_splat(px, 32), gv, a22);
              px += step;
              gp += ops;
            }
            v128.store(ar, a00); v128.store(ar + rowBytes, a01); v128.store(ar + 2 * rowBytes, a02);
            v128.store(ar + 3 * rowBytes, a10); v128.store(ar + 4 * rowBytes, a11); v128.store(ar + 5 * rowBytes, a12);
            v128.store(ar + 6 * rowBytes, a20); v128.store(ar + 7 * rowBytes, a21); v128.store(ar + 8 * rowBytes, a22);
          }
          if (cVec < ops) {
            for (let ox = oxA; ox < oxB; ox++) {
              const px0 = rowIn + <usize>(ox - oxA) * step;
              const g = grow + <usize>ox * ops;
              for (let t = 0; t < 9; t++) {
                const xs = load<f32>(px0 + (<usize>t << 2));
                const a = rowAcc + <usize>(ky * 9 + t) * rowBytes;
                for (let cb = cVec; cb < ops; cb += 4) store<f32>(a + cb, load<f32>(a + cb) + xs * load<f32>(g + cb));
              }
            }
          }
        }
      }
      for (let ox = oxB; ox < OW; ox++) stemWgradPixel(img, grow, rowAcc, ox, iy0, kyLo, kyHi, W, stride, rs, ops, rowBytes, cVec);
      for (let b: usize = 0; b < accBytes; b += 16) v128.store(dw + b, f32x4.add(v128.load(dw + b), v128.load(rowAcc + b)));
    }
  }
}

/** One output pixel's contributions to the row accumulators (only the taps inside the image). */
@inline
function stemWgradPixel(
  img: usize, grow: usize, rowAcc: usize, ox: i32, iy0: i32, kyLo: i32, kyHi: i32, W: i32, stride: i32,
  rs: usize, ops: usize, rowBytes: usize, cVec: usize,
): void {
  const ps: usize = 12;
  const ix0 = ox * stride - 1;
  const kxLo = ix0 < 0 ? 1 : 0;
  const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
  const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
  const g = grow + <usize>ox * ops;
  for (let ky = kyLo; ky <= kyHi; ky++) {
    for (let kx = kxLo; kx <= kxHi; kx++) {
      const px = p0 + <usize>ky * rs + <usize>kx * ps;
      const ar = rowAcc + <usize>((ky * 3 + kx) * 3) * rowBytes;
      for (let ci = 0; ci < 3; ci++) {
        const xs = load<f32>(px + (<usize>ci << 2));
        const xv = f32x4.splat(xs);
        const a = ar + <usize>ci * rowBytes;
        let cb: usize = 0;
        for (; cb < cVec; cb += 16) v128.store(a + cb, madd(xv, v128.load(g + cb), v128.load(a + cb)));
        for (; cb < ops; cb += 4) store<f32>(a + cb, load<f32>(a + cb) + xs * load<f32>(g + cb));
      }
    }
  }
}

/**
 * dx[n, iy, ix, ci] = sum over taps and o of dy[n, oy, ox, o] * w, with the forward's packed
 * weights [ky][kx][ci][Cp8] (Cp8 = Cout rounded up to 8). Only needed for an input gradient.
 */
export function conv3x3c3Dgrad(
  N: i32, H: i32, W: i32,
  dy: usize, w: usize, dx: usize,
  Cout: i32, stride: i32, OH: i32, OW: i32,
): void {
  const Cp = (Cout + 7) & ~7;
  const ciBytes = <usize>Cp << 2;
  const ops = <usize>Cout << 2;
  const cVec = <usize>(Cout & ~3) << 2;
  for (let n = 0; n < N; n++) {
    const gImg = dy + <usize>n * <usize>OH * <usize>OW * ops;
    let o = dx + <usize>n * <usize>H * <usize>W * 12;
    for (let iy = 0; iy < H; iy++) {
      for (let ix = 0; ix < W; ix++) {
        let a0 = f32x4.splat(0), a1 = f32x4.splat(0), a2 = f32x4.splat(0);
        let s0: f32 = 0, s1: f32 = 0, s2: f32 = 0;
        for (let ky = 0; ky < 3; ky++) {
          const oy = srcIndex(iy + 1 - ky, stride, OH);
          if (oy < 0) continue;
          for (let kx = 0; kx < 3; kx++) {
            const ox = srcIndex(ix + 1 - kx, stride, OW);
            if (ox < 0) continue;
            const g = gImg + (<usize>oy * <usize>OW + <usize>ox) * ops;
            const wt = w + <usize>((ky * 3 + kx) * 3) * ciBytes;
            let cb: usize = 0;
            for (; cb < cVec; cb += 16) {
              const gv = v128.load(g + cb);
              a0 = madd(gv, v128.load(wt + cb), a0);
              a1 = madd(gv, v128.load(wt + ciBytes + cb), a1);
              a2 = madd(gv, v128.load(wt + 2 * ciBytes + cb), a2);
            }
            for (; cb < ops; cb += 4) {
              const gs = load<f32>(g + cb);
              s0 += gs * load<f32>(wt + cb);
              s1 += gs * load<f32>(wt + ciBytes + cb);
              s2 += gs * load<f32>(wt + 2 * ciBytes + cb);
            }
          }
        }
        store<f32>(o, hsum(a0) + s0);
        store<f32>(o, hsum(a1) + s1, 4);
        store<f32>(o, hsum(a2) + s2, 8);
        o += 12;
      }
    }
  }
}

@inline
function hsum(v: v128): f32 {
  return f32x4.extract_lane(v, 0) + f32x4.extract_lane(v, 1) + f32x4.extract_lane(v, 2) + f32x4.extract_lane(v, 3);
}

@inline
function srcIndex(t: i32, stride: i32, size: i32): i32 {
  if (t < 0) return -1;
  if (stride == 2) {
    if (t & 1) return -1;
    t >>= 1;
  }
  return t < size ? t : -1;
}
