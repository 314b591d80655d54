// Adam / AdamW's elementwise update (torch.optim's single-tensor loop on CPU), four parameters per
// f32x4, with exactly the float32 operations of src/optim/adam.ts: every +, -, *, / and sqrt is
// one IEEE float32 operation (JS gets the same by rounding each float64 result with
// Math.fround, which is exact for these operations), and the fused multiply-adds (lerp and the
// L2 decay) are computed in float64 and rounded once to float32, as the JS does.

// decay: 0 none; 1 decoupled (AdamW: w *= decay before the update); 2 L2 (grad += decay * w).
export function adamUpdate(
  n: i32, w: usize, g: usize, m: usize, v: usize,
  lerpCoeff: f32, b2: f32, oneMinusB2: f32, negStepSize: f32, bc2Sqrt: f32, eps: f32,
  decayMode: i32, decay: f32,
): void {
  const vLerp = f64x2.splat(<f64>lerpCoeff);
  const vB2 = f32x4.splat(b2);
  const vOneMinusB2 = f32x4.splat(oneMinusB2);
  const vNegStep = f32x4.splat(negStepSize);
  const vBc2 = f32x4.splat(bc2Sqrt);
  const vEps = f32x4.splat(eps);
  const vDecay = f32x4.splat(decay);
  const vDecay64 = f64x2.splat(<f64>decay);
  const nVec = n & ~3;
  let i = 0;
  for (; i < nVec; i += 4) {
    const off = <usize>i << 2;
    let wi = v128.load(w + off);
    let d = v128.load(g + off);
    const mi = v128.load(m + off);
    if (decayMode == 1) wi = f32x4.mul(wi, vDecay);
    else if (decayMode == 2) d = fma64(vDecay64, wi, d);
    const mNew = fma64(vLerp, f32x4.sub(d, mi), mi);
    v128.store(m + off, mNew);
    const vNew = f32x4.add(f32x4.mul(v128.load(v + off), vB2), f32x4.mul(f32x4.mul(vOneMinusB2, d), d));
    v128.store(v + off, vNew);
    const denom = f32x4.add(f32x4.div(f32x4.sqrt(vNew), vBc2), vEps);
    v128.store(w + off, f32x4.add(wi, f32x4.div(f32x4.mul(vNegStep, mNew), denom)));
  }
  for (; i < n; i++) {
    const off = <usize>i << 2;
    let wi = load<f32>(w + off);
    let d = load<f32>(g + off);
    const mi = load<f32>(m + off);
    if (decayMode == 1) wi = wi * decay;
    else if (decayMode == 2) d = <f32>(<f64>decay * <f64>wi + <f64>d);
    const mNew = <f32>(<f64>lerpCoeff * <f64>(d - mi) + <f64>mi);
    store<f32>(m + off, mNew);
    const vNew = load<f32>(v + off) * b2 + oneMinusB2 * d * d;
    store<f32>(v + off, vNew);
    const denom = Mathf.sqrt(vNew) / bc2Sqrt + eps;
    store<f32>(w + off, wi + negStepSize * mNew / denom);
  }
}

/** a*b + c per lane, a in float64 (two lanes), b and c float32x4: float64 arithmetic, rounded once. */
@inline
function fma64(a: v128, b: v128, c: v128): v128 {
  const bHi = i32x4.shuffle(b, b, 2, 3, 0, 1);
  const cHi = i32x4.shuffle(c, c, 2, 3, 0, 1);
  const lo = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(a, f64x2.promote_low_f32x4(b)), f64x2.promote_low_f32x4(c)));
  const hi = f32x4.demote_f64x2_zero(f64x2.add(f64x2.mul(a, f64x2.promote_low_f32x4(bHi)), f64x2.promote_low_f32x4(cHi)));
  return i32x4.shuffle(lo, hi, 0, 1, 4, 5);
}
