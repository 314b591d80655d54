/**
 * Eval-mode BatchNorm folding and weight packing for the NHWC kernels. Folding is done in
 * float64 and rounded once to float32:
 *   scale = gamma / sqrt(running_var + eps),  w' = w * scale,  b' = beta - running_mean * scale.
 */

export interface BatchNormParams {
  weight: Float32Array;
  bias: Float32Array;
  runningMean: Float32Array;
  runningVar: Float32Array;
}

export interface FoldedConv {
  /** PyTorch layout [Cout, Cin/groups, kh, kw], flattened. */
  weight: Float32Array;
  bias: Float32Array;
  cout: number;
}

/** Folds BN into a bias-free conv whose weight has `cout` output channels (PyTorch layout). */
export function foldBatchNorm(weight: Float32Array, cout: number, bn: BatchNormParams, eps: number): FoldedConv {
  const per = weight.length / cout;
  const w = new Float32Array(weight.length);
  const b = new Float32Array(cout);
  for (let o = 0; o < cout; o++) {
    const scale = bn.weight[o] / Math.sqrt(bn.runningVar[o] + eps);
    for (let i = 0; i < per; i++) w[o * per + i] = weight[o * per + i] * scale;
    b[o] = bn.bias[o] - bn.runningMean[o] * scale;
  }
  return { weight: w, bias: b, cout };
}

export function roundUp(n: number, m: number): number {
  return Math.ceil(n / m) * m;
}

/**
 * GEMM weights from a [N, K] matrix (a 1x1 conv [Cout, Cin, 1, 1] or a Linear [out, in]) into
 * panels of 8 output channels: panel p is K rows of 8 floats, zero past N.
 */
export function packGemmWeights(w: Float32Array, N: number, K: number): Float32Array {
  const out = new Float32Array(packedGemmFloats(N, K));
  packGemmWeightsInto(out, 0, w, N, K);
  return out;
}

/** Floats of packGemmWeights' result. */
export function packedGemmFloats(N: number, K: number): number {
  return Math.ceil(N / 8) * K * 8;
}

/** packGemmWeights into `dst` at float index `offset` (e.g. straight into wasm memory; no temporary array). */
export function packGemmWeightsInto(dst: Float32Array, offset: number, w: Float32Array, N: number, K: number): void {
  if (w.length !== N * K) throw new Error(`packGemmWeights: ${w.length} weights, expected ${N}x${K}`);
  const panels = Math.ceil(N / 8);
  if (N % 8) dst.fill(0, offset, offset + panels * K * 8);
  for (let n = 0; n < N; n++) {
    const base = offset + (n >> 3) * K * 8 + (n & 7);
    const row = n * K;
    for (let k = 0; k < K; k++) dst[base + k * 8] = w[row + k];
  }
}

/** Bias zero-padded to `multiple` (the kernels read whole vector groups). */
export function padBias(b: Float32Array, multiple: number): Float32Array {
  const out = new Float32Array(roundUp(Math.max(b.length, 1), multiple));
  out.set(b);
  return out;
}

/** Depthwise weights [C, 1, 3, 3] -> tap-major [9][Cp], Cp = C rounded up to 4. */
export function packDepthwiseWeights(w: Float32Array, C: number): Float32Array {
  const out = new Float32Array(9 * roundUp(C, 4));
  packDepthwiseWeightsInto(out, 0, w, C);
  return out;
}

/** packDepthwiseWeights into `dst` at float index `offset` (9 * roundUp(C, 4) floats). */
export function packDepthwiseWeightsInto(dst: Float32Array, offset: number, w: Float32Array, C: number): void {
  if (w.length !== C * 9) throw new Error(`packDepthwiseWeights: ${w.length} weights, expected ${C}x1x3x3`);
  const Cp = roundUp(C, 4);
  if (Cp !== C) dst.fill(0, offset, offset + 9 * Cp);
  for (let c = 0; c < C; c++) for (let t = 0; t < 9; t++) dst[offset + t * Cp + c] = w[c * 9 + t];
}

/** Stem weights [Cout, 3, 3, 3] -> [ky][kx][ci][Cp], Cp = Cout rounded up to 8. */
export function packStemWeights(w: Float32Array, Cout: number): Float32Array {
  if (w.length !== Cout * 27) throw new Error(`packStemWeights: ${w.length} weights, expected ${Cout}x3x3x3`);
  const Cp = roundUp(Cout, 8);
  const out = new Float32Array(27 * Cp);
  for (let o = 0; o < Cout; o++) {
    for (let ci = 0; ci < 3; ci++) {
      for (let t = 0; t < 9; t++) out[(t * 3 + ci) * Cp + o] = w[(o * 3 + ci) * 9 + t];
    }
  }
  return out;
}

/** Output size of a 3x3 conv with padding 1. */
export function convOut(size: number, stride: number): number {
  return Math.floor((size + 2 - 3) / stride) + 1;
}

/** NCHW -> NHWC into `dst` starting at float index `offset`. */
export function nchwToNhwc(src: Float32Array, N: number, C: number, H: number, W: number, dst: Float32Array, offset: number): void {
  const HW = H * W;
  for (let n = 0; n < N; n++) {
    const s = n * C * HW;
    const d = offset + n * HW * C;
    for (let c = 0; c < C; c++) {
      const sc = s + c * HW;
      for (let i = 0; i < HW; i++) dst[d + i * C + c] = src[sc + i];
    }
  }
}

/** NHWC (read from `src` at float index `offset`) -> a new NCHW array. */
export function nhwcToNchw(src: Float32Array, offset: number, N: number, C: number, H: number, W: number): Float32Array {
  const HW = H * W;
  const out = new Float32Array(N * C * HW);
  for (let n = 0; n < N; n++) {
    const s = offset + n * HW * C;
    const d = n * C * HW;
    for (let i = 0; i < HW; i++) {
      const si = s + i * C;
      for (let c = 0; c < C; c++) out[d + c * HW + i] = src[si + c];
    }
  }
  return out;
}
