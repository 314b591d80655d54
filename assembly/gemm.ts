// Pointwise convolution as GEMM: out[M x N] = clamp(in[M x K] . W[K x N] + bias, lo, hi) (+ residual).
// W is packed in panels of 8 output channels: panel p holds K rows of 8 floats (zero-padded past N),
// so the micro-kernel reads weights contiguously and a 4x8 tile lives in 8 f32x4 registers.

import { storeTail } from './util';
import { madd } from './simd';

// Rows are processed in blocks of about this many bytes of input, so a block stays in L1 while
// every weight panel sweeps it.
const BLOCK_BYTES: i32 = 32768;

export function gemm(
  M: i32, K: i32, N: i32,
  a: usize, w: usize, bias: usize, out: usize,
  lo: f32, hi: f32, res: usize,
): void {
  if (M <= 0 || N <= 0) return;
  const panels = (N + 7) >> 3;
  const lda = <usize>K << 2;
  const ldc = <usize>N << 2;
  const panelBytes = <usize>K << 5;
  let mc = (BLOCK_BYTES / max<i32>(K << 2, 1)) & ~3;
  if (mc < 8) mc = 8;
  for (let m0 = 0; m0 < M; m0 += mc) {
    const rows = min<i32>(M - m0, mc);
    for (let p = 0; p < panels; p++) {
      const n0 = <usize>(p << 3);
      rowsTimesPanel(rows, K, a + <usize>m0 * lda, lda, w + <usize>p * panelBytes, bias + (n0 << 2),
        out + <usize>m0 * ldc + (n0 << 2), ldc, res ? res + <usize>m0 * ldc + (n0 << 2) : 0,
        lo, hi, min<i32>(8, N - (p << 3)));
    }
  }
}

// Kept out of line on purpose: V8's register allocator spills the accumulators when this loop
// nest is inlined into gemm's (more live values across the loops), which cost ~30% (18 vs 22
// GFLOP/s with mul+add, 18 vs 31 with FMA). The K loop is not unrolled for the same reason:
// TurboFan regroups an unrolled body's loads and spills them.
// @ts-ignore: decorator
@noinline
function rowsTimesPanel(
  M: i32, K: i32, a: usize, lda: usize, wp: usize, bias: usize,
  o: usize, ldc: usize, r: usize, lo: f32, hi: f32, cols: i32,
): void {
  const kEnd = <usize>K << 2;
  let m = 0;
  for (; m + 4 <= M; m += 4) {
    const a1 = a + lda;
    const a2 = a1 + lda;
    const a3 = a2 + lda;
    let c00 = v128.load(bias), c01 = v128.load(bias, 16);
    let c10 = c00, c11 = c01, c20 = c00, c21 = c01, c30 = c00, c31 = c01;
    let wk = wp;
    for (let k: usize = 0; k < kEnd; k += 4) {
      const w0 = v128.load(wk);
      const w1 = v128.load(wk, 16);
      const x0 = v128.load32_splat(a + k);
      c00 = madd(x0, w0, c00);
      c01 = madd(x0, w1, c01);
      const x1 = v128.load32_splat(a1 + k);
      c10 = madd(x1, w0, c10);
      c11 = madd(x1, w1, c11);
      const x2 = v128.load32_splat(a2 + k);
      c20 = madd(x2, w0, c20);
      c21 = madd(x2, w1, c21);
      const x3 = v128.load32_splat(a3 + k);
      c30 = madd(x3, w0, c30);
      c31 = madd(x3, w1, c31);
      wk += 32;
    }
    const vlo = f32x4.splat(lo);
    const vhi = f32x4.splat(hi);
    storeRow(o, r, c00, c01, vlo, vhi, cols);
    storeRow(o + ldc, r ? r + ldc : 0, c10, c11, vlo, vhi, cols);
    storeRow(o + 2 * ldc, r ? r + 2 * ldc : 0, c20, c21, vlo, vhi, cols);
    storeRow(o + 3 * ldc, r ? r + 3 * ldc : 0, c30, c31, vlo, vhi, cols);
    a += lda << 2;
    o += ldc << 2;
    if (r) r += ldc << 2;
  }
  for (; m < M; m++) {
    let c00 = v128.load(bias), c01 = v128.load(bias, 16);
    let wk = wp;
    for (let k: usize = 0; k < kEnd; k += 4) {
      const x = v128.load32_splat(a + k);
      c00 = madd(x, v128.load(wk), c00);
      c01 = madd(x, v128.load(wk, 16), c01);
      wk += 32;
    }
    storeRow(o, r, c00, c01, f32x4.splat(lo), f32x4.splat(hi), cols);
    a += lda;
    o += ldc;
    if (r) r += ldc;
  }
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
