// a*b + c on f32x4. The relaxed-SIMD build (build/mnv2-relaxed.wasm) emits relaxed_madd, which
// V8 lowers to one FMA where the CPU has it: the GEMM inner loops are bound by the two FP ports,
// so fusing the multiply and the add is worth ~1.5x there. The baseline build keeps the separate
// mul + add (SIMD128 has no FMA), so it runs wherever WebAssembly SIMD does.
@inline
export function madd(a: v128, b: v128, c: v128): v128 {
  if (ASC_FEATURE_RELAXED_SIMD) return f32x4.relaxed_madd(a, b, c);
  return f32x4.add(c, f32x4.mul(a, b));
}
