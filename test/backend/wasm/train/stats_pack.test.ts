import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WasmArena } from '../../../../src/backend/wasm/arena.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import { nchwToNhwc, packGemmWeights } from '../../../../src/backend/wasm/pack.js';
import { trainExports, type WasmTrainExports } from '../../../../src/backend/wasm/train/kernels.js';
import { packGemmWeightsTransposed } from '../../../../src/backend/wasm/train/pack.js';
import { WASM_BUILDS } from '../helpers.js';
import { trainKernels, rand } from './helpers.js';

/**
 * channelShiftedSums64 (BN's one-pass batch statistics) against the two-pass float64 sums of
 * the reference engine, including channels whose mean is far from zero relative to their spread
 * (where an unshifted sum of squares would cancel), and the wasm weight packing against the JS
 * packers it replaces in the executor (bit-identical: packing only moves floats), and the
 * in-place ReLU6 variant of the BN backward sums.
 */
let kernels: WasmKernels;
let k: WasmTrainExports;
const RUNS = { numRuns: 40, seed: 20261129 };

function put(arena: WasmArena, a: Float32Array, extra = 0): number {
  const p = arena.allocScratch(a.length + extra);
  kernels.f32.set(a, p >> 2);
  return p;
}

describe.each(WASM_BUILDS)('BN statistics and weight packing kernels (%s build)', (build) => {
  beforeAll(() => {
    kernels = trainKernels(build);
    k = trainExports(kernels);
  });

  it('channelShiftedSums64: mean and variance within float64 rounding of the two-pass sums', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 21 }), fc.double({ min: -1e4, max: 1e4, noNaN: true }),
      fc.integer({ min: 1, max: 1e9 }), (M, C, offset, seed) => {
        const arena = new WasmArena(kernels);
        arena.resetScratch();
        const x = rand(M * C, seed, -3, 5);
        for (let i = 0; i < x.length; i++) x[i] += offset;
        const px = put(arena, x);
        const out = arena.allocScratch(6 * C);
        kernels.f32.fill(NaN, out >> 2, (out >> 2) + 6 * C);
        k.channelShiftedSums64(M, C, px, out);
        const r = new Float64Array(kernels.memory.buffer, out, 3 * C).slice();
        for (let c = 0; c < C; c++) {
          expect(r[c]).toBe(x[c]);
          let sum = 0;
          for (let m = 0; m < M; m++) sum += x[m * C + c];
          const mean = sum / M;
          let sq = 0;
          for (let m = 0; m < M; m++) sq += (x[m * C + c] - mean) ** 2;
          const ourMean = (M * r[c] + r[C + c]) / M;
          const d = r[c] - ourMean;
          const ourSq = r[2 * C + c] + 2 * d * r[C + c] + M * d * d;
          expect(Math.abs(ourMean - mean)).toBeLessThanOrEqual(1e-13 * Math.max(1, Math.abs(mean)));
          // float32 needs 6e-8: the shifted sums stay far inside it even with |mean| >> spread.
          expect(Math.abs(ourSq - sq)).toBeLessThanOrEqual(1e-10 * Math.max(1e-30, sq) + 1e-12 * M);
        }
      }), RUNS);
  });

  it('channelShiftedSums64 over several row tiles, with a constant channel (variance exactly 0)', () => {
    const arena = new WasmArena(kernels);
    arena.resetScratch();
    const M = 5000, C = 6;
    const x = rand(M * C, 99, -1, 1);
    for (let m = 0; m < M; m++) x[m * C + 5] = 3.25;
    const px = put(arena, x);
    const out = arena.allocScratch(6 * C);
    k.channelShiftedSums64(M, C, px, out);
    const r = new Float64Array(kernels.memory.buffer, out, 3 * C).slice();
    expect(r[C + 5]).toBe(0);
    expect(r[2 * C + 5]).toBe(0);
    for (let c = 0; c < 5; c++) {
      let s1 = 0, s2 = 0;
      for (let m = 0; m < M; m++) {
        const d = x[m * C + c] - x[c];
        s1 += d;
        s2 += d * d;
      }
      expect(Math.abs(r[C + c] - s1)).toBeLessThanOrEqual(1e-12 * M);
      expect(Math.abs(r[2 * C + c] - s2)).toBeLessThanOrEqual(1e-12 * s2);
    }
  });

  it('nchwToNhwc equals the JS layout conversion', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 5 }), fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }),
      fc.integer({ min: 1, max: 1e9 }), (N, C, H, W, seed) => {
        const arena = new WasmArena(kernels);
        arena.resetScratch();
        const x = rand(N * C * H * W, seed);
        const want = new Float32Array(x.length);
        nchwToNhwc(x, N, C, H, W, want, 0);
        const src = put(arena, x);
        const dst = arena.allocScratch(x.length);
        k.nchwToNhwc(N, C, H * W, src, dst);
        expect(kernels.f32.slice(dst >> 2, (dst >> 2) + x.length)).toEqual(want);
      }), RUNS);
  });

  it('packGemmPanels / packGemmPanelsT equal the JS packers', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 1e9 }), (N, K, seed) => {
      const arena = new WasmArena(kernels);
      arena.resetScratch();
      const w = rand(N * K, seed);
      const pw = put(arena, w);
      const fwd = packGemmWeights(w, N, K);
      const tr = packGemmWeightsTransposed(w, N, K);
      const a = arena.allocScratch(fwd.length);
      const b = arena.allocScratch(tr.length);
      kernels.f32.fill(NaN, a >> 2, (a >> 2) + fwd.length);
      kernels.f32.fill(NaN, b >> 2, (b >> 2) + tr.length);
      k.packGemmPanels(pw, N, K, a);
      k.packGemmPanelsT(pw, N, K, b);
      expect(kernels.f32.slice(a >> 2, (a >> 2) + fwd.length)).toEqual(fwd);
      expect(kernels.f32.slice(b >> 2, (b >> 2) + tr.length)).toEqual(tr);
    }), RUNS);
  });
});
