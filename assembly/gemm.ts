// Pointwise convolution as GEMM: out[M x N] = clamp(in[M x K] . W[K x N] + bias, lo, hi) (+ residual).
// W is packed in panels of 8 output channels: panel p holds K rows of 8 floats (zero-padded past N),
// so the micro-kernel reads weights contiguously and a 4x8 tile lives in 8 f32x4 registers.

import { storeTail } from './util';

// Rows of `in` kept hot in cache while all weight panels sweep over them (~64 KiB of activations).
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
  let mc = (BLOCK_BYTES / max<i32>(K << 2, 1)) & ~3;
  if (mc < 4) mc = 4;
  const lda = <usize>K << 2;
  const ldc = <usize>N << 2;
  for (let m0 = 0; m0 < M; m0 += mc) {
    const m1 = min<i32>(M, m0 + mc);
    for (let p = 0; p < panels; p++) {
      const n0 = p << 3;
      const cols = min<i32>(8, N - n0);
      const wp = w + ((<usize>p * <usize>K) << 5);
      const b0 = v128.load(bias + (<usize>n0 << 2));
      const b1 = v128.load(bias + (<usize>n0 << 2), 16);
      let m = m0;
      for (; m + 4 <= m1; m += 4) {
        const a0 = a + <usize>m * lda;
        const a1 = a0 + lda;
        const a2 = a1 + lda;
        const a3 = a2 + lda;
        let c00 = b0, c01 = b1, c10 = b0, c11 = b1;
        let c20 = b0, c21 = b1, c30 = b0, c31 = b1;
        let wk = wp;
        const kEnd = <usize>K << 2;
        for (let k: usize = 0; k < kEnd; k += 4) {
          const w0 = v128.load(wk);
          const w1 = v128.load(wk, 16);
          let x = v128.load32_splat(a0 + k);
          c00 = f32x4.add(c00, f32x4.mul(x, w0));
          c01 = f32x4.add(c01, f32x4.mul(x, w1));
          x = v128.load32_splat(a1 + k);
          c10 = f32x4.add(c10, f32x4.mul(x, w0));
          c11 = f32x4.add(c11, f32x4.mul(x, w1));
          x = v128.load32_splat(a2 + k);
          c20 = f32x4.add(c20, f32x4.mul(x, w0));
          c21 = f32x4.add(c21, f32x4.mul(x, w1));
          x = v128.load32_splat(a3 + k);
          c30 = f32x4.add(c30, f32x4.mul(x, w0));
          c31 = f32x4.add(c31, f32x4.mul(x, w1));
          wk += 32;
        }
        const o = out + <usize>m * ldc + (<usize>n0 << 2);
        const r = res ? res + <usize>m * ldc + (<usize>n0 << 2) : 0;
        storeRow(o, r, c00, c01, vlo, vhi, cols);
        storeRow(o + ldc, r ? r + ldc : 0, c10, c11, vlo, vhi, cols);
        storeRow(o + 2 * ldc, r ? r + 2 * ldc : 0, c20, c21, vlo, vhi, cols);
        storeRow(o + 3 * ldc, r ? r + 3 * ldc : 0, c30, c31, vlo, vhi, cols);
      }
      for (; m < m1; m++) {
        const a0 = a + <usize>m * lda;
        let c00 = b0, c01 = b1;
        let wk = wp;
        const kEnd = <usize>K << 2;
        for (let k: usize = 0; k < kEnd; k += 4) {
          const x = v128.load32_splat(a0 + k);
          c00 = f32x4.add(c00, f32x4.mul(x, v128.load(wk)));
          c01 = f32x4.add(c01, f32x4.mul(x, v128.load(wk, 16)));
          wk += 32;
        }
        const o = out + <usize>m * ldc + (<usize>n0 << 2);
        const r = res ? res + <usize>m * ldc + (<usize>n0 << 2) : 0;
        storeRow(o, r, c00, c01, vlo, vhi, cols);
      }
    }
  }
}

// Epilogue of one output row of the tile: clamp, then the residual (MobileNetV2 adds the
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
