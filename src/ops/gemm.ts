/**
 * C[M x N] (+)= A[M x K] · B[K x N], all row-major from their offsets; A is
 * contiguous, B and C rows are `ld` apart (N by default: contiguous), so a
 * caller can take a column block of a wider matrix.
 *
 * The reference engine's pointwise convolutions are ~90% of MobileNetV2's work,
 * so they go through a 4x3 register tile: 12 float64 accumulators, 7 loads per
 * 12 multiply-adds. In V8 11 every typed-array load in the k loop re-checks the
 * array and its bounds, so MACs per load decide the speed, against register
 * spills: 4x3 measured fastest of 2x4, 4x2, 3x4, 4x4, 5x3, 4x6, k unrolled by
 * 2-8, B transposed or packed.
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
  ld = N,
): void {
  // A as float64 (exact): its loads then need no float32 conversion in the tile
  // loop, ~9% faster; the native set() converts it at a small fraction of that.
  // A weight gradient's A is a whole output gradient: past ~512K values it goes
  // in blocks of 4-row multiples (which change no sum), to bound the scratch.
  const rows = M * K <= SCRATCH ? M : Math.max(4, Math.floor(SCRATCH / K / 4) * 4);
  if (scratchA.length < rows * K) scratchA = new Float64Array(rows * K);
  for (let i = 0; i < M; i += rows) {
    const m = Math.min(rows, M - i);
    scratchA.set(A.subarray(aOff + i * K, aOff + (i + m) * K));
    tiles(m, N, K, scratchA, B, bOff, C, cOff + i * ld, accumulate, ld);
  }
}

const SCRATCH = 1 << 19;

let scratchA = new Float64Array(0);

function tiles(
  M: number,
  N: number,
  K: number,
  A: Float64Array,
  B: Float32Array,
  bOff: number,
  C: Float32Array | Float64Array,
  cOff: number,
  accumulate: boolean,
  ld: number,
): void {
  // A is the float64 copy, from its start.
  const aOff = 0;
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
      for (let k = 0; k < K; k++, b += ld) {
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
      let c = cOff + i * ld + j;
      store3(C, c, c00, c01, c02, accumulate);
      c += ld;
      store3(C, c, c10, c11, c12, accumulate);
      c += ld;
      store3(C, c, c20, c21, c22, accumulate);
      c += ld;
      store3(C, c, c30, c31, c32, accumulate);
    }
    for (let j = N3; j < N; j++) for (let r = 0; r < 4; r++) dot(K, ld, A, aOff + (i + r) * K, B, bOff + j, C, cOff + (i + r) * ld + j, accumulate);
  }
  // Leftover rows (a Linear weight gradient with 5 classes has one): a 1x3 tile still reads each B row once per 3 outputs.
  for (let i = M4; i < M; i++) {
    const a = aOff + i * K;
    for (let j = 0; j < N3; j += 3) {
      let c0 = 0, c1 = 0, c2 = 0;
      let b = bOff + j;
      for (let k = 0; k < K; k++, b += ld) {
        const x = A[a + k];
        c0 += x * B[b + 0]; c1 += x * B[b + 1]; c2 += x * B[b + 2];
      }
      store3(C, cOff + i * ld + j, c0, c1, c2, accumulate);
    }
    for (let j = N3; j < N; j++) dot(K, ld, A, a, B, bOff + j, C, cOff + i * ld + j, accumulate);
  }
}

/**
 * C[M x N] = A[M x K] · B[N x K]^T (+ bias[j] per column): both operands are read
 * along K, contiguously, as a Linear layer's x [batch, in] and W [out, in]. The
 * same 4x3 float64 tile as `matmul`; each output is one k-order sum plus its bias,
 * rounded once.
 */
export function matmulTransB(M: number, N: number, K: number, A: Float32Array, B: Float32Array, C: Float32Array, bias: Float32Array | null = null): void {
  const M4 = M - (M % 4);
  const N3 = N - (N % 3);
  for (let i = 0; i < M4; i += 4) {
    const a0 = i * K;
    const a1 = a0 + K;
    const a2 = a1 + K;
    const a3 = a2 + K;
    for (let j = 0; j < N3; j += 3) {
      const b0 = j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      let c00 = 0, c01 = 0, c02 = 0;
      let c10 = 0, c11 = 0, c12 = 0;
      let c20 = 0, c21 = 0, c22 = 0;
      let c30 = 0, c31 = 0, c32 = 0;
      for (let k = 0; k < K; k++) {
        const y0 = B[b0 + k], y1 = B[b1 + k], y2 = B[b2 + k];
        const x0 = A[a0 + k];
        c00 += x0 * y0; c01 += x0 * y1; c02 += x0 * y2;
        const x1 = A[a1 + k];
        c10 += x1 * y0; c11 += x1 * y1; c12 += x1 * y2;
        const x2 = A[a2 + k];
        c20 += x2 * y0; c21 += x2 * y1; c22 += x2 * y2;
        const x3 = A[a3 + k];
        c30 += x3 * y0; c31 += x3 * y1; c32 += x3 * y2;
      }
      const d0 = bias ? bias[j] : 0, d1 = bias ? bias[j + 1] : 0, d2 = bias ? bias[j + 2] : 0;
      let c = i * N + j;
      store3(C, c, c00 + d0, c01 + d1, c02 + d2, false);
      c += N;
      store3(C, c, c10 + d0, c11 + d1, c12 + d2, false);
      c += N;
      store3(C, c, c20 + d0, c21 + d1, c22 + d2, false);
      c += N;
      store3(C, c, c30 + d0, c31 + d1, c32 + d2, false);
    }
    // Leftover columns (1000 classes leave one, 5 leave two): 4 rows at a time, each B row read once per 4 outputs.
    for (let j = N3; j < N; j++) {
      const b = j * K;
      let c0 = 0, c1 = 0, c2 = 0, c3 = 0;
      for (let k = 0; k < K; k++) {
        const y = B[b + k];
        c0 += A[a0 + k] * y; c1 += A[a1 + k] * y; c2 += A[a2 + k] * y; c3 += A[a3 + k] * y;
      }
      const d = bias ? bias[j] : 0;
      C[i * N + j] = c0 + d;
      C[(i + 1) * N + j] = c1 + d;
      C[(i + 2) * N + j] = c2 + d;
      C[(i + 3) * N + j] = c3 + d;
    }
  }
  // Leftover rows (batch 1 has only these): 1x3 tiles, each A row value used for 3 outputs.
  for (let i = M4; i < M; i++) {
    const a = i * K;
    for (let j = 0; j < N3; j += 3) {
      const b0 = j * K;
      const b1 = b0 + K;
      const b2 = b1 + K;
      let c0 = 0, c1 = 0, c2 = 0;
      for (let k = 0; k < K; k++) {
        const x = A[a + k];
        c0 += x * B[b0 + k]; c1 += x * B[b1 + k]; c2 += x * B[b2 + k];
      }
      const c = i * N + j;
      C[c] = c0 + (bias ? bias[j] : 0);
      C[c + 1] = c1 + (bias ? bias[j + 1] : 0);
      C[c + 2] = c2 + (bias ? bias[j + 2] : 0);
    }
    for (let j = N3; j < N; j++) C[i * N + j] = dotRows(K, A, a, B, j * K) + (bias ? bias[j] : 0);
  }
}

function dotRows(K: number, A: Float32Array, a: number, B: Float32Array, b: number): number {
  let s = 0;
  for (let k = 0; k < K; k++) s += A[a + k] * B[b + k];
  return s;
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

function dot(K: number, ld: number, A: Float64Array, a: number, B: Float32Array, b: number, C: Float32Array | Float64Array, c: number, accumulate: boolean): void {
  let s = 0;
  for (let k = 0; k < K; k++, b += ld) s += A[a + k] * B[b];
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

// Tiny products at load give every path of `tiles` (the 4x3 tile, tail
// columns, leftover rows) type feedback before V8 optimizes it. Without them the
// first pointwise conv gets `tiles` optimized on stack with paths unseen, then
// deoptimized and recompiled, and depending on compile timing some processes
// kept tile code slower than the float32-A kernel it replaced (b1 forward 376
// instead of 321 ms CPU, 10 runs of 34). Feedback vectors are allocated lazily,
// so a handful of calls is not enough: with 64, 18 runs of 18 were fast.
for (let i = 0; i < 64; i++) matmul(5, 4, 2, new Float32Array(10), 0, new Float32Array(8), 0, new Float32Array(20), 0);
