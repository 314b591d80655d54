// Pointwise convolution as GEMM: out[M x N] = clamp(in[M x K] . W[K x N] + bias, lo, hi) (+ residual).
// W is packed in panels of 8 output channels: panel p holds K rows of 8 floats (zero-padded past N),
// so the micro-kernel reads weights contiguously and a 4x8 tile lives in 8 f32x4 registers.

import { storeTail } from './util';

// Weights up to this size stay in cache, so each 4-row group sweeps all panels and writes whole
// output rows; larger weights are swept once per block of BLOCK_BYTES of input rows instead.
const SMALL_WEIGHT_BYTES: usize = 96 * 1024;
const BLOCK_BYTES: i32 = 65536;

export function gemm(
  M: i32, K: i32, N: i32,
  a: usize, w: usize, bias: usize, out: usize,
  lo: f32, hi: f32, res: usize,
): void {
  if (M <= 0 || N <= 0) return;
  const panels = (N + 7) >> 3;
  const vlo = f32x4.splat(lo);
  const vhi = f32x4.splat(hi);
  const lda = <usize>K << 2;
  const ldc = <usize>N << 2;
  const panelBytes = <usize>K << 5;
  if (<usize>panels * panelBytes <= SMALL_WEIGHT_BYTES) {
    let m = 0;
    for (; m + 4 <= M; m += 4) {
      for (let p = 0; p < panels; p++) {
        const n0 = <usize>(p << 3);
        tile4(a + <usize>m * lda, lda, w + <usize>p * panelBytes, K, bias + (n0 << 2),
          out + <usize>m * ldc + (n0 << 2), ldc, res ? res + <usize>m * ldc + (n0 << 2) : 0, vlo, vhi, min<i32>(8, N - (p << 3)));
      }
    }
    for (; m < M; m++) {
      for (let p = 0; p < panels; p++) {
        const n0 = <usize>(p << 3);
        tile1(a + <usize>m * lda, w + <usize>p * panelBytes, K, bias + (n0 << 2),
          out + <usize>m * ldc + (n0 << 2), res ? res + <usize>m * ldc + (n0 << 2) : 0, vlo, vhi, min<i32>(8, N - (p << 3)));
      }
    }
    return;
  }
  let mc = (BLOCK_BYTES / max<i32>(K << 2, 1)) & ~3;
  if (mc < 4) mc = 4;
  for (let m0 = 0; m0 < M; m0 += mc) {
    const m1 = min<i32>(M, m0 + mc);
    for (let p = 0; p < panels; p++) {
      const n0 = <usize>(p << 3);
      const cols = min<i32>(8, N - (p << 3));
      const wp = w + <usize>p * panelBytes;
      let m = m0;
      for (; m + 4 <= m1; m += 4) {
        tile4(a + <usize>m * lda, lda, wp, K, bias + (n0 << 2),
          out + <usize>m * ldc + (n0 << 2), ldc, res ? res + <usize>m * ldc + (n0 << 2) : 0, vlo, vhi, cols);
      }
      for (; m < m1; m++) {
        tile1(a + <usize>m * lda, wp, K, bias + (n0 << 2),
          out + <usize>m * ldc + (n0 << 2), res ? res + <usize>m * ldc + (n0 << 2) : 0, vlo, vhi, cols);
      }
    }
  }
}

/** A 4x8 output tile: rows a0..a3 (lda apart) times one weight panel, then the epilogue. */
@inline
function tile4(
  a0: usize, lda: usize, wp: usize, K: i32, bias: usize,
  o: usize, ldc: usize, r: usize, vlo: v128, vhi: v128, cols: i32,
): void {
  const a1 = a0 + lda;
  const a2 = a1 + lda;
  const a3 = a2 + lda;
  const b0 = v128.load(bias);
  const b1 = v128.load(bias, 16);
  let c00 = b0, c01 = b1, c10 = b0, c11 = b1;
  let c20 = b0, c21 = b1, c30 = b0, c31 = b1;
  let w0: v128, w1: v128, x: v128;
  let wk = wp;
  const kEnd = <usize>K << 2;
  const kEnd4 = <usize>(K & ~3) << 2;
  let k: usize = 0;
  // Unrolled by 4 so the row offsets become immediates and the loop overhead is amortized.
  for (; k < kEnd4; k += 16) {
    w0 = v128.load(wk, 0);
    w1 = v128.load(wk, 16);
    x = v128.load32_splat(a0 + k, 0);
    c00 = f32x4.add(c00, f32x4.mul(x, w0));
    c01 = f32x4.add(c01, f32x4.mul(x, w1));
    x = v128.load32_splat(a1 + k, 0);
    c10 = f32x4.add(c10, f32x4.mul(x, w0));
    c11 = f32x4.add(c11, f32x4.mul(x, w1));
    x = v128.load32_splat(a2 + k, 0);
    c20 = f32x4.add(c20, f32x4.mul(x, w0));
    c21 = f32x4.add(c21, f32x4.mul(x, w1));
    x = v128.load32_splat(a3 + k, 0);
    c30 = f32x4.add(c30, f32x4.mul(x, w0));
    c31 = f32x4.add(c31, f32x4.mul(x, w1));
    w0 = v128.load(wk, 32);
    w1 = v128.load(wk, 48);
    x = v128.load32_splat(a0 + k, 4);
    c00 = f32x4.add(c00, f32x4.mul(x, w0));
    c01 = f32x4.add(c01, f32x4.mul(x, w1));
    x = v128.load32_splat(a1 + k, 4);
    c10 = f32x4.add(c10, f32x4.mul(x, w0));
    c11 = f32x4.add(c11, f32x4.mul(x, w1));
    x = v128.load32_splat(a2 + k, 4);
    c20 = f32x4.add(c20, f32x4.mul(x, w0));
    c21 = f32x4.add(c21, f32x4.mul(x, w1));
    x = v128.load32_splat(a3 + k, 4);
    c30 = f32x4.add(c30, f32x4.mul(x, w0));
    c31 = f32x4.add(c31, f32x4.mul(x, w1));
    w0 = v128.load(wk, 64);
    w1 = v128.load(wk, 80);
    x = v128.load32_splat(a0 + k, 8);
    c00 = f32x4.add(c00, f32x4.mul(x, w0));
    c01 = f32x4.add(c01, f32x4.mul(x, w1));
    x = v128.load32_splat(a1 + k, 8);
    c10 = f32x4.add(c10, f32x4.mul(x, w0));
    c11 = f32x4.add(c11, f32x4.mul(x, w1));
    x = v128.load32_splat(a2 + k, 8);
    c20 = f32x4.add(c20, f32x4.mul(x, w0));
    c21 = f32x4.add(c21, f32x4.mul(x, w1));
    x = v128.load32_splat(a3 + k, 8);
    c30 = f32x4.add(c30, f32x4.mul(x, w0));
    c31 = f32x4.add(c31, f32x4.mul(x, w1));
    w0 = v128.load(wk, 96);
    w1 = v128.load(wk, 112);
    x = v128.load32_splat(a0 + k, 12);
    c00 = f32x4.add(c00, f32x4.mul(x, w0));
    c01 = f32x4.add(c01, f32x4.mul(x, w1));
    x = v128.load32_splat(a1 + k, 12);
    c10 = f32x4.add(c10, f32x4.mul(x, w0));
    c11 = f32x4.add(c11, f32x4.mul(x, w1));
    x = v128.load32_splat(a2 + k, 12);
    c20 = f32x4.add(c20, f32x4.mul(x, w0));
    c21 = f32x4.add(c21, f32x4.mul(x, w1));
    x = v128.load32_splat(a3 + k, 12);
    c30 = f32x4.add(c30, f32x4.mul(x, w0));
    c31 = f32x4.add(c31, f32x4.mul(x, w1));
    wk += 128;
  }
  for (; k < kEnd; k += 4) {
    w0 = v128.load(wk, 0);
    w1 = v128.load(wk, 16);
    x = v128.load32_splat(a0 + k, 0);
    c00 = f32x4.add(c00, f32x4.mul(x, w0));
    c01 = f32x4.add(c01, f32x4.mul(x, w1));
    x = v128.load32_splat(a1 + k, 0);
    c10 = f32x4.add(c10, f32x4.mul(x, w0));
    c11 = f32x4.add(c11, f32x4.mul(x, w1));
    x = v128.load32_splat(a2 + k, 0);
    c20 = f32x4.add(c20, f32x4.mul(x, w0));
    c21 = f32x4.add(c21, f32x4.mul(x, w1));
    x = v128.load32_splat(a3 + k, 0);
    c30 = f32x4.add(c30, f32x4.mul(x, w0));
    c31 = f32x4.add(c31, f32x4.mul(x, w1));
    wk += 32;
  }
  storeRow(o, r, c00, c01, vlo, vhi, cols);
  storeRow(o + ldc, r ? r + ldc : 0, c10, c11, vlo, vhi, cols);
  storeRow(o + 2 * ldc, r ? r + 2 * ldc : 0, c20, c21, vlo, vhi, cols);
  storeRow(o + 3 * ldc, r ? r + 3 * ldc : 0, c30, c31, vlo, vhi, cols);
}

/** One output row of 8 columns (the M tail). */
@inline
function tile1(a0: usize, wp: usize, K: i32, bias: usize, o: usize, r: usize, vlo: v128, vhi: v128, cols: i32): void {
  let c00 = v128.load(bias);
  let c01 = v128.load(bias, 16);
  let wk = wp;
  const kEnd = <usize>K << 2;
  for (let k: usize = 0; k < kEnd; k += 4) {
    const x = v128.load32_splat(a0 + k);
    c00 = f32x4.add(c00, f32x4.mul(x, v128.load(wk)));
    c01 = f32x4.add(c01, f32x4.mul(x, v128.load(wk, 16)));
    wk += 32;
  }
  storeRow(o, r, c00, c01, vlo, vhi, cols);
}

// Epilogue of one output row of a tile: clamp, then the residual (MobileNetV2 adds the
// shortcut after the linear projection, so the clamp there is [-inf, inf]).
@inline
function storeRow(o: usize, r: usize, v0: v128, v1: v128, vlo: v128, vhi: v128, cols: i32): void {
  v0 = f32x4.pmin(f32x4.pmax(v0, vlo), vhi);
  v1 = f32x4.pmin(f32x4.pmax(v1, vlo), vhi);
  if (cols == 8) {
    if (r) {
      v0 = f32x4.add(v0, v128.load(r));
      v1 = f32x4.add(v1, v128.load(r, 16));
    }
    v128.store(o, v0);
    v128.store(o, v1, 16);
  } else {
    storeTail(o, r, v0, v1, cols);
  }
}
