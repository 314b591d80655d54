import { madd } from '../simd';

// a*b + c on f64x2: one FMA in the relaxed-SIMD build. Where the product of two float32 values
// is formed (exact in float64), the fused and the separate forms round identically.
@inline
function madd64(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f64x2.relaxed_madd(a, b, c);
  return f64x2.add(c, f64x2.mul(a, b));
}

// Train-mode BatchNorm over NHWC activations [M rows x C channels], with ReLU6 fused in.
// Statistics and the backward channel sums are accumulated in float64 (a channel sums over
// N*H*W values, and float32 would lose digits PyTorch keeps). A pointer of 0 means "absent".

// Rows per tile of channelShiftedSums64: a tile (~32 KB) stays in L1/L2 while each group of 4
// channels sweeps down its rows with its sums in registers (32 KB measured ~16% faster than 64),
// and at least 16 rows (wide layers spent their time in tile set-up).
const TILE_BYTES: i32 = 32768;

/**
 * One-pass shifted batch statistics in float64, for BN's mean and variance: out64 holds three
 * runs of C values, k[c] = x[0, c], s1[c] = sum_m (x[m, c] - k[c]) and s2[c] = sum_m (x[m, c] - k[c])^2.
 * Then sum(x) = M*k + s1 (M*k is exact: a float32 times an integer below 2^29) and
 * sum((x - mean)^2) = s2 + 2 (k - mean) s1 + M (k - mean)^2, which cancels only as much as
 * (k - mean)^2 exceeds the variance; k is a sample of the channel, so (Samuelson) at most M times,
 * and float64 keeps the result well inside float32 rounding of the two-pass sums.
 */
export function channelShiftedSums64(M: i32, C: i32, x: usize, out64: usize): void {
  const k = out64;
  const s1 = out64 + (<usize>C << 3);
  const s2 = s1 + (<usize>C << 3);
  memory.fill(s1, 0, <usize>C << 4);
  if (M <= 0) {
    zero64(C, k);
    return;
  }
  for (let c = 0; c < C; c++) store<f64>(k + (<usize>c << 3), <f64>load<f32>(x + (<usize>c << 2)));
  const ps = <usize>C << 2;
  const cVec = C & ~3;
  const TR = max<i32>(16, TILE_BYTES / <i32>ps);
  const groups = <usize>max<i32>(1, cVec >> 2);
  let sink: i32 = 0;
  for (let m0 = 0; m0 < M; m0 += TR) {
    const rows = min<i32>(TR, M - m0);
    const xt = x + <usize>m0 * ps;
    // The column sweeps read a tile line by line at a stride the prefetchers do not follow:
    // the next tile (one contiguous range) is touched meanwhile, a share before each group.
    let tx = xt + <usize>rows * ps;
    const txEnd = tx + <usize>min<i32>(TR, M - m0 - rows) * ps;
    const share = ((txEnd - tx) / groups + 64) & ~63;
    let c = 0;
    for (; c < cVec; c += 4) {
      const end = min<usize>(tx + share, txEnd);
      for (; tx < end; tx += 64) sink ^= load<i32>(tx);
      const o = <usize>c << 3;
      shiftedSumsColumn(rows, ps, xt + (<usize>c << 2), k + o, s1 + o, s2 + o);
    }
    for (; c < C; c++) {
      const o = <usize>c << 3;
      const kc = load<f64>(k + o);
      let a = load<f64>(s1 + o);
      let q = load<f64>(s2 + o);
      let p = xt + (<usize>c << 2);
      for (let r = 0; r < rows; r++) {
        const d = <f64>load<f32>(p) - kc;
        a += d;
        q += d * d;
        p += ps;
      }
      store<f64>(s1 + o, a);
      store<f64>(s2 + o, q);
    }
  }
  store<i32>(touchSink, sink); // keeps the touches
}

const touchSink: usize = memory.data(16, 16);
// ReLU6's open interval as two vectors (see backwardSums).
const relu6Bounds: usize = memory.data<f32>([0, 0, 0, 0, 6, 6, 6, 6], 16);

// Four channels down `rows` rows with their sums in registers, two rows per iteration into two
// sets of sums: one set is a chain of dependent float64 adds, whose latency bound the loop.
// Out of line (one body for every tile and group), and each pair of floats is loaded straight
// into its float64 lanes' half (load64_zero) rather than shuffled out of a 4-float load: the
// promotions and shuffles shared one port.
// @ts-ignore: decorator
@noinline
function shiftedSumsColumn(rows: i32, ps: usize, p: usize, k: usize, s1: usize, s2: usize): void {
  const k0 = v128.load(k);
  const k1 = v128.load(k, 16);
  let a0 = v128.load(s1);
  let a1 = v128.load(s1, 16);
  let q0 = v128.load(s2);
  let q1 = v128.load(s2, 16);
  let b0 = f64x2.splat(0);
  let b1 = b0;
  let r0 = b0;
  let r1 = b0;
  let r = 0;
  for (; r + 2 <= rows; r += 2) {
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p)), k0);
    const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p, 8)), k1);
    const e0 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p + ps)), k0);
    const e1 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p + ps, 8)), k1);
    a0 = f64x2.add(a0, d0);
    a1 = f64x2.add(a1, d1);
    q0 = madd64(d0, d0, q0);
    q1 = madd64(d1, d1, q1);
    b0 = f64x2.add(b0, e0);
    b1 = f64x2.add(b1, e1);
    r0 = madd64(e0, e0, r0);
    r1 = madd64(e1, e1, r1);
    p += ps << 1;
  }
  if (r < rows) {
    const d0 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p)), k0);
    const d1 = f64x2.sub(f64x2.promote_low_f32x4(v128.load64_zero(p, 8)), k1);
    a0 = f64x2.add(a0, d0);
    a1 = f64x2.add(a1, d1);
    q0 = madd64(d0, d0, q0);
    q1 = madd64(d1, d1, q1);
  }
  v128.store(s1, f64x2.add(a0, b0));
  v128.store(s1, f64x2.add(a1, b1), 16);
  v128.store(s2, f64x2.add(q0, r0));
  v128.store(s2, f64x2.add(q1, r1), 16);
}

/** out = clamp(x * scale[c] + shift[c], lo, hi) (+ res): BN with per-channel affine, then ReLU6 or nothing. */
export function affineClamp(M: i32, C: i32, x: usize, scale: usize, shift: usize, out: usize, lo: f32, hi: f32, res: usize): void {
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const ps = <usize>C << 2;
  const cVec = <usize>(C & ~3) << 2;
  for (let m = 0; m < M; m++) {
    const off = <usize>m * ps;
    const xr = x + off;
    const orow = out + off;
    let cb: usize = 0;
    for (; cb < cVec; cb += 16) {
      let v = f32x4.add(f32x4.mul(v128.load(xr + cb), v128.load(scale + cb)), v128.load(shift + cb));
      v = f32x4.pmin(f32x4.pmax(v, vlo), vhi);
      if (res) v = f32x4.add(v, v128.load(res + off + cb));
      v128.store(orow + cb, v);
    }
    for (; cb < ps; cb += 4) {
      let v = load<f32>(xr + cb) * load<f32>(scale + cb) + load<f32>(shift + cb);
      v = v < lo ? lo : v > hi ? hi : v;
      if (res) v += load<f32>(res + off + cb);
      store<f32>(orow + cb, v);
    }
  }
}

// ReLU6's gradient passes only where its output is strictly inside (0, 6). The backward recomputes
// that output's pre-clamp value v = z*scale + shift from the BN input z, with the very float32
// operations affineClamp used (so the same bits), instead of reading the stored output: both
// backward passes read z anyway, so each element costs one stream (y) and one store (the masked
// gradient written back for the second pass) less.
@inline
function maskRelu6(g: v128, z: v128, scale: v128, shift: v128, zero: v128, six: v128): v128 {
  const v = f32x4.add(f32x4.mul(z, scale), shift);
  return v128.and(g, v128.and(f32x4.gt(v, zero), f32x4.lt(v, six)));
}

@inline
function maskRelu6s(g: f32, z: f32, scale: f32, shift: f32): f32 {
  return insideRelu6s(z * scale + shift) ? g : 0;
}

@inline
function insideRelu6(v: v128): v128 {
  return v128.and(f32x4.gt(v, f32x4.splat(0)), f32x4.lt(v, f32x4.splat(6)));
}

@inline
function insideRelu6s(v: f32): bool {
  return v > 0 && v < 6;
}

/** Channel sums of the BN backward: sumDy64[c] = sum dy, sumDyXc64[c] = sum dy * (x - mean[c]). */
export function bnBackwardSums(M: i32, C: i32, dy: usize, x: usize, mean: usize, sumDy64: usize, sumDyXc64: usize): void {
  backwardSums(M, C, dy, x, mean, 0, 0, sumDy64, sumDyXc64, false);
}

/**
 * bnBackwardSums for a BN followed by ReLU6: dy is the gradient at the ReLU6 output, masked here
 * by ReLU6's pass-through region, recomputed from x (the BN input) and the forward's per-channel
 * scale and shift (see maskRelu6).
 */
export function bnBackwardSumsRelu6(
  M: i32, C: i32, dy: usize, x: usize, mean: usize, scale: usize, shift: usize, sumDy64: usize, sumDyXc64: usize,
): void {
  backwardSums(M, C, dy, x, mean, scale, shift, sumDy64, sumDyXc64, true);
}

// The two entry points' shared body; `relu6` is a constant at each inlined call, so each export
// compiles to its own loop without the test. Every term is added in float64: the bias gradient
// is sum(dy), which may cancel to far below sum(|dy|).
@inline
function backwardSums(
  M: i32, C: i32, dy: usize, x: usize, mean: usize, scale: usize, shift: usize, sumDy64: usize, sumDyXc64: usize, relu6: bool,
): void {
  zero64(C, sumDy64);
  zero64(C, sumDyXc64);
  const ps = <usize>C << 2;
  // Loaded once: V8 re-creates a vector constant at each use inside a loop (three instructions).
  const zero = v128.load(relu6Bounds);
  const six = v128.load(relu6Bounds, 16);
  const cVec = C & ~3;
  for (let m = 0; m < M; m++) {
    const off = <usize>m * ps;
    let c = 0;
    for (; c < cVec; c += 4) {
      const cb = <usize>c << 2;
      const z = v128.load(x + off + cb);
      let g = v128.load(dy + off + cb);
      if (relu6) g = maskRelu6(g, z, v128.load(scale + cb), v128.load(shift + cb), zero, six);
      const xc = f32x4.sub(z, v128.load(mean + cb));
      const s = sumDy64 + (<usize>c << 3);
      const t = sumDyXc64 + (<usize>c << 3);
      const gLo = f64x2.promote_low_f32x4(g);
      const gHi = f64x2.promote_low_f32x4(f32x4.shuffle(g, g, 2, 3, 2, 3));
      v128.store(s, f64x2.add(v128.load(s), gLo));
      v128.store(s, f64x2.add(v128.load(s, 16), gHi), 16);
      v128.store(t, madd64(gLo, f64x2.promote_low_f32x4(xc), v128.load(t)));
      v128.store(t, madd64(gHi, f64x2.promote_low_f32x4(f32x4.shuffle(xc, xc, 2, 3, 2, 3)), v128.load(t, 16)), 16);
    }
    for (; c < C; c++) {
      const cb = <usize>c << 2;
      const z = load<f32>(x + off + cb);
      let g = load<f32>(dy + off + cb);
      if (relu6) g = maskRelu6s(g, z, load<f32>(scale + cb), load<f32>(shift + cb));
      const xc = z - load<f32>(mean + cb);
      const s = sumDy64 + (<usize>c << 3);
      const t = sumDyXc64 + (<usize>c << 3);
      store<f64>(s, load<f64>(s) + <f64>g);
      store<f64>(t, load<f64>(t) + <f64>g * <f64>xc);
    }
  }
}


/**
 * dx = ca[c] * dy + cb[c] * (x - mean[c]) + cc[c]. Train-mode BN is
 * ca = gamma*invStd, cb = -gamma*invStd^3*sum(g*(x-mean))/M, cc = -gamma*invStd*sum(g)/M;
 * eval-mode BN is ca = gamma/sqrt(running_var + eps) and cb = cc = 0.
 */
export function bnBackwardDx(M: i32, C: i32, dy: usize, x: usize, mean: usize, ca: usize, cbv: usize, cc: usize, dx: usize): void {
  backwardDx(M, C, dy, x, mean, 0, 0, ca, cbv, cc, dx, false);
}

/** bnBackwardDx with dy masked by the ReLU6 that follows the BN, as in bnBackwardSumsRelu6. */
export function bnBackwardDxRelu6(
  M: i32, C: i32, dy: usize, x: usize, mean: usize, scale: usize, shift: usize, ca: usize, cbv: usize, cc: usize, dx: usize,
): void {
  backwardDx(M, C, dy, x, mean, scale, shift, ca, cbv, cc, dx, true);
}

@inline
function backwardDx(
  M: i32, C: i32, dy: usize, x: usize, mean: usize, scale: usize, shift: usize, ca: usize, cbv: usize, cc: usize, dx: usize, relu6: bool,
): void {
  const ps = <usize>C << 2;
  // Loaded once: V8 re-creates a vector constant at each use inside a loop (three instructions).
  const zero = v128.load(relu6Bounds);
  const six = v128.load(relu6Bounds, 16);
  const cVec = <usize>(C & ~3) << 2;
  for (let m = 0; m < M; m++) {
    const off = <usize>m * ps;
    let cb: usize = 0;
    for (; cb < cVec; cb += 16) {
      const z = v128.load(x + off + cb);
      let g = v128.load(dy + off + cb);
      if (relu6) g = maskRelu6(g, z, v128.load(scale + cb), v128.load(shift + cb), zero, six);
      const xc = f32x4.sub(z, v128.load(mean + cb));
      const v = f32x4.add(madd(v128.load(cbv + cb), xc, f32x4.mul(v128.load(ca + cb), g)), v128.load(cc + cb));
      v128.store(dx + off + cb, v);
    }
    for (; cb < ps; cb += 4) {
      const z = load<f32>(x + off + cb);
      let g = load<f32>(dy + off + cb);
      if (relu6) g = maskRelu6s(g, z, load<f32>(scale + cb), load<f32>(shift + cb));
      const xc = z - load<f32>(mean + cb);
      store<f32>(dx + off + cb, load<f32>(ca + cb) * g + load<f32>(cbv + cb) * xc + load<f32>(cc + cb));
    }
  }
}

/** dx = dy masked by ReLU6 on its output y (0 < y < 6). */
export function relu6Backward(n: i32, dy: usize, y: usize, dx: usize): void {
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(dx + o, v128.and(v128.load(dy + o), insideRelu6(v128.load(y + o))));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(dx + o, insideRelu6s(load<f32>(y + o)) ? load<f32>(dy + o) : 0);
  }
}

/** a += b over n floats (the identity shortcut's gradient fan-in). */
export function addInPlace(n: i32, a: usize, b: usize): void {
  const n4 = n & ~3;
  let i = 0;
  for (; i < n4; i += 4) {
    const o = <usize>i << 2;
    v128.store(a + o, f32x4.add(v128.load(a + o), v128.load(b + o)));
  }
  for (; i < n; i++) {
    const o = <usize>i << 2;
    store<f32>(a + o, load<f32>(a + o) + load<f32>(b + o));
  }
}

/** Global average pool backward, NHWC: dx[n, i, c] = g[n, c] / HW. */
export function globalAvgPoolBackward(N: i32, HW: i32, C: i32, g: usize, dx: usize): void {
  const ps = <usize>C << 2;
  const cVec = <usize>(C & ~3) << 2;
  const inv = f32x4.splat(<f32>HW);
  for (let n = 0; n < N; n++) {
    const gr = g + <usize>n * ps;
    let o = dx + <usize>n * <usize>HW * ps;
    for (let i = 0; i < HW; i++) {
      let cb: usize = 0;
      for (; cb < cVec; cb += 16) v128.store(o + cb, f32x4.div(v128.load(gr + cb), inv));
      for (; cb < ps; cb += 4) store<f32>(o + cb, load<f32>(gr + cb) / <f32>HW);
      o += ps;
    }
  }
}

function zero64(C: i32, p: usize): void {
  memory.fill(p, 0, <usize>C << 3);
}
