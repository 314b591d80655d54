/**
 * Scalar float32 arithmetic that reproduces the rounding of PyTorch's CPU kernels.
 *
 * PyTorch's vectorized `add(a, b, alpha)` and `lerp` use a fused multiply-add:
 * one rounding of `a + alpha*b`. Both factors are float32, so their product is
 * exact in float64 and `Math.fround(a + alpha * b)` rounds once more from float64
 * (double rounding differs from a true FMA only in rare ties, far below any
 * tolerance we test at).
 */
export const f32 = Math.fround;

/** `fma(a, b, c) = a*b + c` rounded once to float32 (a, b, c already float32). */
export function fma32(a: number, b: number, c: number): number {
  return Math.fround(a * b + c);
}
