import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WasmArena } from '../../../src/backend/wasm/arena.js';
import {
  packGemmWeights, packDepthwiseWeights, packStemWeights, padBias, convOut,
} from '../../../src/backend/wasm/pack.js';
import type { WasmKernels } from '../../../src/backend/wasm/kernels.js';
import { testKernels, maxDiff, WASM_BUILDS } from './helpers.js';

// Set by each build's describe block before its tests run (vitest runs the blocks in order).
let kernels: WasmKernels;
let arena: WasmArena;

// Scalar references in float64, straight from the definitions (PyTorch weight layouts).

function refGemm(M: number, K: number, N: number, a: Float32Array, w: Float32Array, b: Float32Array,
  lo: number, hi: number, res?: Float32Array): Float64Array {
  const out = new Float64Array(M * N);
  for (let m = 0; m < M; m++) {
    for (let n = 0; n < N; n++) {
      let s = b[n];
      for (let k = 0; k < K; k++) s += a[m * K + k] * w[n * K + k]; // w is [N, K] like a 1x1 conv / Linear
      s = Math.min(Math.max(s, lo), hi);
      out[m * N + n] = s + (res ? res[m * N + n] : 0);
    }
  }
  return out;
}

/** 3x3 conv, padding 1, NHWC input; groups = 1 (w [Cout, Cin, 3, 3]) or depthwise (w [C, 1, 3, 3]). */
function refConv3x3(N: number, H: number, W: number, Cin: number, Cout: number, depthwise: boolean,
  x: Float32Array, w: Float32Array, b: Float32Array, stride: number, lo: number, hi: number): Float64Array {
  const OH = Math.floor((H - 1) / stride) + 1;
  const OW = Math.floor((W - 1) / stride) + 1;
  const out = new Float64Array(N * OH * OW * Cout);
  for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) {
    for (let co = 0; co < Cout; co++) {
      let s = b[co];
      for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy * stride - 1 + ky;
        const ix = ox * stride - 1 + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        const px = ((n * H + iy) * W + ix) * Cin;
        if (depthwise) s += x[px + co] * w[co * 9 + ky * 3 + kx];
        else for (let ci = 0; ci < Cin; ci++) s += x[px + ci] * w[((co * Cin + ci) * 3 + ky) * 3 + kx];
      }
      out[((n * OH + oy) * OW + ox) * Cout + co] = Math.min(Math.max(s, lo), hi);
    }
  }
  return out;
}

const floats = (n: number) =>
  fc.array(fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));

const clampArb = fc.constantFrom<[number, number]>([-Infinity, Infinity], [0, 6], [-0.5, 0.75]);

/** Copies arrays into fresh scratch memory and returns their byte pointers. */
function put(...arrays: Float32Array[]): number[] {
  return arrays.map((a) => {
    const p = arena.allocScratch(a.length);
    kernels.f32.set(a, p >> 2);
    return p;
  });
}

function read(ptr: number, n: number): Float32Array {
  return kernels.f32.slice(ptr >> 2, (ptr >> 2) + n);
}

describe.each(WASM_BUILDS)('wasm kernels (%s build) vs scalar references', (build) => {
  beforeAll(() => {
    kernels = testKernels(build);
    arena = new WasmArena(kernels);
  });

  it('gemm: pointwise conv with bias, clamp and optional residual, any M, K, N', () => {
    const shape = fc.record({ M: fc.integer({ min: 1, max: 23 }), K: fc.integer({ min: 1, max: 37 }), N: fc.integer({ min: 1, max: 29 }) });
    const arb = shape.chain(({ M, K, N }) =>
      fc.record({
        M: fc.constant(M), K: fc.constant(K), N: fc.constant(N),
        a: floats(M * K), w: floats(N * K), b: floats(N), res: fc.option(floats(M * N), { nil: undefined }), clamp: clampArb,
      }));
    fc.assert(
      fc.property(arb, ({ M, K, N, a, w, b, res, clamp }) => {
        arena.resetScratch();
        const [pa, pw, pb] = put(a, packGemmWeights(w, N, K), padBias(b, 8));
        const pr = res ? put(res)[0] : 0;
        // Guard values around the output catch writes past the N-column tail.
        const guard = new Float32Array(M * N + 8).fill(12345);
        const [po] = put(guard);
        kernels.exports.gemm(M, K, N, pa, pw, pb, po, clamp[0], clamp[1], pr);
        const out = read(po, M * N + 8);
        const { ok, diff, tol } = maxDiff(out.subarray(0, M * N), refGemm(M, K, N, a, w, b, clamp[0], clamp[1], res));
        expect(ok, `diff ${diff} > ${tol}`).toBe(true);
        expect(Array.from(out.subarray(M * N))).toEqual(new Array(8).fill(12345));
      }),
      { numRuns: 150 },
    );
  });

  it('gemm: weights too large for the cache-resident path (blocked over M, with M tails and a residual)', () => {
    // 4 panels x 1100 x 32 bytes > 96 KiB, so the kernel blocks M by 64 KiB of input rows (12 here).
    const M = 70, K = 1100, N = 29;
    const rnd = (n: number, s: number) => Float32Array.from({ length: n }, (_, i) => Math.sin(i * s) * 0.5);
    const a = rnd(M * K, 0.37), w = rnd(N * K, 0.11), b = rnd(N, 1.3), res = rnd(M * N, 0.7);
    for (const clamp of [[-Infinity, Infinity], [0, 6]] as const) {
      arena.resetScratch();
      const [pa, pw, pb, pr, po] = put(a, packGemmWeights(w, N, K), padBias(b, 8), res, new Float32Array(M * N));
      kernels.exports.gemm(M, K, N, pa, pw, pb, po, clamp[0], clamp[1], pr);
      const r = maxDiff(read(po, M * N), refGemm(M, K, N, a, w, b, clamp[0], clamp[1], res));
      expect(r.ok, `diff ${r.diff} > ${r.tol}`).toBe(true);
    }
  });

  it('depthwise 3x3, stride 1 and 2, odd sizes and channel tails', () => {
    const arb = fc
      .record({
        N: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }),
        C: fc.integer({ min: 1, max: 19 }), stride: fc.constantFrom(1, 2), clamp: clampArb,
      })
      .chain((s) => fc.record({ s: fc.constant(s), x: floats(s.N * s.H * s.W * s.C), w: floats(s.C * 9), b: floats(s.C) }));
    fc.assert(
      fc.property(arb, ({ s: { N, H, W, C, stride, clamp }, x, w, b }) => {
        arena.resetScratch();
        const OH = convOut(H, stride), OW = convOut(W, stride);
        const [px, pw, pb] = put(x, packDepthwiseWeights(w, C), padBias(b, 4));
        const [po] = put(new Float32Array(N * OH * OW * C + 4).fill(777));
        kernels.exports.depthwise3x3(N, H, W, C, px, pw, pb, po, stride, OH, OW, clamp[0], clamp[1]);
        const out = read(po, N * OH * OW * C + 4);
        const r = maxDiff(out.subarray(0, N * OH * OW * C), refConv3x3(N, H, W, C, C, true, x, w, b, stride, clamp[0], clamp[1]));
        expect(r.ok, `diff ${r.diff} > ${r.tol}`).toBe(true);
        expect(Array.from(out.subarray(N * OH * OW * C))).toEqual([777, 777, 777, 777]);
      }),
      { numRuns: 150 },
    );
  });

  it('stem conv 3x3 with 3 input channels, stride 1 and 2, output-channel tails', () => {
    const arb = fc
      .record({
        N: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 9 }), W: fc.integer({ min: 1, max: 9 }),
        Cout: fc.integer({ min: 1, max: 21 }), stride: fc.constantFrom(1, 2), clamp: clampArb,
      })
      .chain((s) => fc.record({ s: fc.constant(s), x: floats(s.N * s.H * s.W * 3), w: floats(s.Cout * 27), b: floats(s.Cout) }));
    fc.assert(
      fc.property(arb, ({ s: { N, H, W, Cout, stride, clamp }, x, w, b }) => {
        arena.resetScratch();
        const OH = convOut(H, stride), OW = convOut(W, stride);
        const [px, pw, pb] = put(x, packStemWeights(w, Cout), padBias(b, 8));
        const [po] = put(new Float32Array(N * OH * OW * Cout + 8).fill(777));
        kernels.exports.conv3x3c3(N, H, W, px, pw, pb, po, Cout, stride, OH, OW, clamp[0], clamp[1]);
        const out = read(po, N * OH * OW * Cout + 8);
        const r = maxDiff(out.subarray(0, N * OH * OW * Cout), refConv3x3(N, H, W, 3, Cout, false, x, w, b, stride, clamp[0], clamp[1]));
        expect(r.ok, `diff ${r.diff} > ${r.tol}`).toBe(true);
        expect(Array.from(out.subarray(N * OH * OW * Cout))).toEqual(new Array(8).fill(777));
      }),
      { numRuns: 150 },
    );
  });

  it('global average pool NHWC -> [N, C]', () => {
    const arb = fc
      .record({ N: fc.integer({ min: 1, max: 3 }), HW: fc.integer({ min: 1, max: 81 }), C: fc.integer({ min: 1, max: 19 }) })
      .chain((s) => fc.record({ s: fc.constant(s), x: floats(s.N * s.HW * s.C) }));
    fc.assert(
      fc.property(arb, ({ s: { N, HW, C }, x }) => {
        arena.resetScratch();
        const [px, po] = put(x, new Float32Array(N * C));
        kernels.exports.globalAvgPool(N, HW, C, px, po);
        const ref = new Float64Array(N * C);
        for (let n = 0; n < N; n++) for (let i = 0; i < HW; i++) for (let c = 0; c < C; c++) ref[n * C + c] += x[(n * HW + i) * C + c] / HW;
        const r = maxDiff(read(po, N * C), ref);
        expect(r.ok, `diff ${r.diff} > ${r.tol}`).toBe(true);
      }),
      { numRuns: 100 },
    );
  });

  it('the references are sensitive: a wrong bias is detected', () => {
    const M = 3, K = 5, N = 6;
    const a = Float32Array.from({ length: M * K }, (_, i) => i / 7);
    const w = Float32Array.from({ length: N * K }, (_, i) => (i % 5) - 2);
    const b = new Float32Array(N);
    arena.resetScratch();
    const [pa, pw, pb, po] = put(a, packGemmWeights(w, N, K), padBias(Float32Array.from(b, (_, i) => (i === 2 ? 1e-3 : 0)), 8), new Float32Array(M * N));
    kernels.exports.gemm(M, K, N, pa, pw, pb, po, -Infinity, Infinity, 0);
    expect(maxDiff(read(po, M * N), refGemm(M, K, N, a, w, b, -Infinity, Infinity)).ok).toBe(false);
  });
});
