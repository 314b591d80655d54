// Backward of the depthwise 3x3 convolution (padding 1, stride 1 or 2), NHWC, with the forward's
// tap-major weights [9][Cp] (Cp = C rounded up to 4).

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
  for (let n = 0; n < N; n++) {
    const g = dy + <usize>n * <usize>OH * ors;
    let o = dx + <usize>n * <usize>H * <usize>W * ps;
    for (let iy = 0; iy < H; iy++) {
      // Output row reached through tap ky, or -1 when none.
      const oy0 = srcIndex(iy + 1, stride, OH);
      const oy1 = srcIndex(iy, stride, OH);
      const oy2 = srcIndex(iy - 1, stride, OH);
      for (let ix = 0; ix < W; ix++) {
        const ox0 = srcIndex(ix + 1, stride, OW);
        const ox1 = srcIndex(ix, stride, OW);
        const ox2 = srcIndex(ix - 1, stride, OW);
        let cb: usize = 0;
        for (; cb < cVec; cb += 16) {
          let acc = f32x4.splat(0);
          for (let ky = 0; ky < 3; ky++) {
            const oy = ky == 0 ? oy0 : ky == 1 ? oy1 : oy2;
            if (oy < 0) continue;
            const row = g + <usize>oy * ors + cb;
            const wr = w + <usize>(ky * 3) * tapBytes + cb;
            if (ox0 >= 0) acc = f32x4.add(acc, f32x4.mul(v128.load(row + <usize>ox0 * ps), v128.load(wr)));
            if (ox1 >= 0) acc = f32x4.add(acc, f32x4.mul(v128.load(row + <usize>ox1 * ps), v128.load(wr + tapBytes)));
            if (ox2 >= 0) acc = f32x4.add(acc, f32x4.mul(v128.load(row + <usize>ox2 * ps), v128.load(wr + 2 * tapBytes)));
          }
          v128.store(o + cb, acc);
        }
        for (; cb < ps; cb += 4) {
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
        o += ps;
      }
    }
  }
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
  const Cp = (C + 3) & ~3;
  const tapBytes = <usize>Cp << 2;
  const accBytes: usize = <usize>9 * tapBytes;
  const ps = <usize>C << 2;
  const rs = <usize>W * ps;
  const cVec = <usize>(C & ~3) << 2;
  memory.fill(dw, 0, accBytes);
  for (let n = 0; n < N; n++) {
    const img = x + <usize>n * <usize>H * rs;
    for (let oy = 0; oy < OH; oy++) {
      memory.fill(rowAcc, 0, accBytes);
      const iy0 = oy * stride - 1;
      const kyLo = iy0 < 0 ? 1 : 0;
      const kyHi = iy0 + 2 >= H ? H - 1 - iy0 : 2;
      let g = dy + (<usize>(n * OH + oy) * <usize>OW) * ps;
      for (let ox = 0; ox < OW; ox++) {
        const ix0 = ox * stride - 1;
        const kxLo = ix0 < 0 ? 1 : 0;
        const kxHi = ix0 + 2 >= W ? W - 1 - ix0 : 2;
        const p0 = img + <isize>iy0 * <isize>rs + <isize>ix0 * <isize>ps;
        let cb: usize = 0;
        for (; cb < cVec; cb += 16) {
          const gv = v128.load(g + cb);
          for (let ky = kyLo; ky <= kyHi; ky++) {
            const row = p0 + <usize>ky * rs + cb;
            const ar = rowAcc + <usize>(ky * 3) * tapBytes + cb;
            for (let kx = kxLo; kx <= kxHi; kx++) {
              const ap = ar + <usize>kx * tapBytes;
              v128.store(ap, f32x4.add(v128.load(ap), f32x4.mul(gv, v128.load(row + <usize>kx * ps))));
            }
          }
        }
        for (; cb < ps; cb += 4) {
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
        g += ps;
      }
      for (let b: usize = 0; b < accBytes; b += 16) v128.store(dw + b, f32x4.add(v128.load(dw + b), v128.load(rowAcc + b)));
    }
  }
}
