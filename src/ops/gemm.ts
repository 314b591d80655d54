/**
 * C[M x N] (+)= A[M x K] · B[K x N], all row-major and contiguous from their offsets.
 *
 * The reference engine's pointwise convolutions are ~95% of MobileNetV2's work,
 * so they go through this 4x4 register tile: 16 float64 accumulators, 8 loads per
 * 16 multiply-adds, and one rounding per output element. Sums in float64 also
 * keep the result within float32 rounding of any summation order PyTorch uses.
 */
export function matmul(
  M: number,
  N: number,
  K: number,
  A: Float32Array,
  aOff: number,
  B: Float32Array,
  bOff: number,
  C: Float32Array | Float64Array,
  cOff: number,
  accumulate = false,
): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    for (let j = 0; j < N4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let b = bOff + j;
      for (let k = 0; k < K; k++, b += N) {
        const b0 = B[b], b1 = B[b + 1], b2 = B[b + 2], b3 = B[b + 3];
        const x0 = A[a0 + k], x1 = A[a1 + k], x2 = A[a2 + k], x3 = A[a3 + k];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      let c = cOff + i * N + j;
      store4(C, c, c00, c01, c02, c03, accumulate);
      c += N;
      store4(C, c, c10, c11, c12, c13, accumulate);
      c += N;
      store4(C, c, c20, c21, c22, c23, accumulate);
      c += N;
      store4(C, c, c30, c31, c32, c33, accumulate);
    }
    for (let j = N4; j < N; j++) for (let r = 0; r < 4; r++) dot(K, N, A, aOff + (i + r) * K, B, bOff + j, C, cOff + (i + r) * N + j, accumulate);
  }
  for (let i = M4; i < M; i++) for (let j = 0; j < N; j++) dot(K, N, A, aOff + i * K, B, bOff + j, C, cOff + i * N + j, accumulate);
}

function store4(C: Float32Array | Float64Array, c: number, v0: number, v1: number, v2: number, v3: number, accumulate: boolean): void {
  if (accumulate) {
    C[c] += v0;
    C[c + 1] += v1;
    C[c + 2] += v2;
    C[c + 3] += v3;
  } else {
    C[c] = v0;
    C[c + 1] = v1;
    C[c + 2] = v2;
    C[c + 3] = v3;
  }
}

function dot(K: number, N: number, A: Float32Array, a: number, B: Float32Array, b: number, C: Float32Array | Float64Array, c: number, accumulate: boolean): void {
  let s = 0;
  for (let k = 0; k < K; k++, b += N) s += A[a + k] * B[b];
  C[c] = accumulate ? C[c] + s : s;
}

/** Row-major transpose of a [rows x cols] block. */
export function transpose(src: Float32Array, srcOff: number, rows: number, cols: number, dst: Float32Array = new Float32Array(rows * cols)): Float32Array {
  for (let r = 0; r < rows; r++) {
    const s = srcOff + r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[s + c];
  }
  return dst;
}
