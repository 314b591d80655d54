/**
 * C[M x N] (+)= A[M x K] · B[K x N], all row-major and contiguous from their offsets.
 *
 * The reference engine's pointwise convolutions are ~90% of MobileNetV2's work,
 * so they go through a 4x3 register tile: 12 float64 accumulators plus the 3 B
 * values and 1 A value of a step fill x86-64's 16 SSE registers without spills
 * (a 4x4 tile spills in V8 and runs ~25% slower), 7 loads per 12 multiply-adds.
 * Each output is one float64 sum in k order, rounded once, so the tile shape
 * does not change a single bit; float64 sums keep the result within float32
 * rounding of any summation order PyTorch uses.
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
  const N3 = N - (N % 3);
  for (let i = 0; i < M4; i += 4) {
    const a0 = aOff + i * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    for (let j = 0; j < N3; j += 3) {
      let c00 = 0, c01 = 0, c02 = 0;
      let c10 = 0, c11 = 0, c12 = 0;
      let c20 = 0, c21 = 0, c22 = 0;
      let c30 = 0, c31 = 0, c32 = 0;
      let b = bOff + j;
      for (let k = 0; k < K; k++, b += N) {
        // `b + 0`, not `b`: with a bare loop variable as the index V8 emits a slower
        // loop (~20% on this kernel, V8 11 / Node 20); keep the addition.
        const b0 = B[b + 0], b1 = B[b + 1], b2 = B[b + 2];
        const x0 = A[a0 + k];
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2;
        const x1 = A[a1 + k];
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2;
        const x2 = A[a2 + k];
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2;
        const x3 = A[a3 + k];
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2;
      }
      let c = cOff + i * N + j;
      store3(C, c, c00, c01, c02, accumulate);
      c += N;
      store3(C, c, c10, c11, c12, accumulate);
      c += N;
      store3(C, c, c20, c21, c22, accumulate);
      c += N;
      store3(C, c, c30, c31, c32, accumulate);
    }
    for (let j = N3; j < N; j++) for (let r = 0; r < 4; r++) dot(K, N, A, aOff + (i + r) * K, B, bOff + j, C, cOff + (i + r) * N + j, accumulate);
  }
  for (let i = M4; i < M; i++) for (let j = 0; j < N; j++) dot(K, N, A, aOff + i * K, B, bOff + j, C, cOff + i * N + j, accumulate);
}

function store3(C: Float32Array | Float64Array, c: number, v0: number, v1: number, v2: number, accumulate: boolean): void {
  if (accumulate) {
    C[c] += v0;
    C[c + 1] += v1;
    C[c + 2] += v2;
  } else {
    C[c] = v0;
    C[c + 1] = v1;
    C[c + 2] = v2;
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
