/**
 * Layout conversions for the training kernels: weights into the packed forms of the forward and
 * dgrad GEMMs, and weight gradients from the kernels' layouts back to PyTorch's.
 */

/**
 * Packs W^T for the pointwise dgrad GEMM dX[M x K] = dY[M x N] . W^T, where `w` is a 1x1 conv
 * weight [N(out), K(in)]: panels of 8 input channels, each N rows of 8 floats, zero past K.
 */
export function packGemmWeightsTransposed(w: Float32Array, N: number, K: number): Float32Array {
  const out = new Float32Array(Math.ceil(K / 8) * N * 8);
  packGemmWeightsTransposedInto(out, 0, w, N, K);
  return out;
}

/** packGemmWeightsTransposed into `dst` at float index `offset` (ceil(K / 8) * N * 8 floats). */
export function packGemmWeightsTransposedInto(dst: Float32Array, offset: number, w: Float32Array, N: number, K: number): void {
  if (w.length !== N * K) throw new Error(`packGemmWeightsTransposed: ${w.length} weights, expected ${N}x${K}`);
  const panels = Math.ceil(K / 8);
  if (K % 8) dst.fill(0, offset, offset + panels * N * 8);
  // Reads w row by row; writes stay within one 8-float group per (panel, n).
  for (let n = 0; n < N; n++) {
    const row = n * K;
    const base = offset + n * 8;
    for (let k = 0; k < K; k++) dst[base + (k >> 3) * N * 8 + (k & 7)] = w[row + k];
  }
}

/** depthwise3x3Wgrad's [9][Cp] -> PyTorch [C, 1, 3, 3]. */
export function depthwiseGradToTorch(src: Float32Array, offset: number, C: number): Float32Array {
  const Cp = Math.ceil(C / 4) * 4;
  const out = new Float32Array(C * 9);
  for (let t = 0; t < 9; t++) for (let c = 0; c < C; c++) out[c * 9 + t] = src[offset + t * Cp + c];
  return out;
}

/** conv3x3c3Wgrad's [ky][kx][ci][Cp] (Cp = Cout rounded up to 4) -> PyTorch [Cout, 3, 3, 3]. */
export function stemGradToTorch(src: Float32Array, offset: number, Cout: number): Float32Array {
  const Cp = Math.ceil(Cout / 4) * 4;
  const out = new Float32Array(Cout * 27);
  for (let t = 0; t < 9; t++) {
    for (let ci = 0; ci < 3; ci++) {
      const row = offset + (t * 3 + ci) * Cp;
      for (let o = 0; o < Cout; o++) out[(o * 3 + ci) * 9 + t] = src[row + o];
    }
  }
  return out;
}
