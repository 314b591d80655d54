import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WasmArena } from '../../../../src/backend/wasm/arena.js';
import { convOut, packDepthwiseWeights, roundUp } from '../../../../src/backend/wasm/pack.js';
import { trainExports, type WasmTrainExports } from '../../../../src/backend/wasm/train/kernels.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import { trainKernels, rand } from './helpers.js';
import { WASM_BUILDS } from '../helpers.js';

/**
 * depthwiseBackward (BN's dx, then the depthwise conv's input and weight gradients, image by
 * image) against the three separate kernels it replaces, bit for bit: the same dz, the same
 * dgrad per image, and the weight gradient's rows added in the same order. Random shapes with
 * channel tails, odd sizes, batches of 1-3, both strides, with and without ReLU6, and with the
 * input or the weight gradient switched off.
 */
let kernels: WasmKernels;
let k: WasmTrainExports;

describe.each(WASM_BUILDS)('depthwiseBackward (%s build)', (build) => {
  beforeAll(() => {
    kernels = trainKernels(build);
    k = trainExports(kernels);
  });

  it('equals bnBackwardDx(Relu6) + depthwise3x3Dgrad + depthwise3x3Wgrad', () => {
    const dims = fc.record({
      N: fc.integer({ min: 1, max: 3 }), H: fc.integer({ min: 1, max: 13 }), W: fc.integer({ min: 1, max: 13 }),
      C: fc.integer({ min: 1, max: 19 }), stride: fc.constantFrom(1, 2),
    });
    fc.assert(fc.property(dims, fc.boolean(), fc.constantFrom('both', 'dgrad', 'wgrad'), fc.integer({ min: 1, max: 1e9 }),
      ({ N, H, W, C, stride }, relu6, parts, seed) => {
        const OH = convOut(H, stride), OW = convOut(W, stride);
        const arena = new WasmArena(kernels);
        arena.resetScratch();
        const put = (a: Float32Array) => {
          const p = arena.allocScratch(a.length);
          kernels.f32.set(a, p >> 2);
          return p;
        };
        const alloc = (n: number) => {
          const p = arena.allocScratch(n);
          kernels.f32.fill(NaN, p >> 2, (p >> 2) + n);
          return p;
        };
        const get = (p: number, n: number) => Array.from(kernels.f32.slice(p >> 2, (p >> 2) + n));
        const out = N * OH * OW * C, inp = N * H * W * C, taps = 9 * roundUp(C, 4);
        const gy = put(rand(out, seed)), z = put(rand(out, seed + 1, -4, 4)), x = put(rand(inp, seed + 2));
        const per = (s: number, lo = -1, hi = 1) => put(rand(roundUp(C, 4), seed + s, lo, hi));
        const mean = per(3), scale = per(4, -2, 2), shift = per(5, -3, 9), ca = per(6), cb = per(7), cc = per(8);
        const w = put(packDepthwiseWeights(rand(9 * C, seed + 9), C));
        const rowAcc = alloc(taps);

        const gz = alloc(out);
        if (relu6) k.bnBackwardDxRelu6(N * OH * OW, C, gy, z, mean, scale, shift, ca, cb, cc, gz);
        else k.bnBackwardDx(N * OH * OW, C, gy, z, mean, ca, cb, cc, gz);
        const gxRef = alloc(inp), dwRef = alloc(taps);
        k.depthwise3x3Dgrad(N, H, W, C, gz, w, gxRef, stride, OH, OW);
        k.depthwise3x3Wgrad(N, H, W, C, x, gz, dwRef, rowAcc, stride, OH, OW);

        const wantDx = parts !== 'wgrad', wantDw = parts !== 'dgrad';
        const gx = alloc(inp), dw = alloc(taps), gzImage = alloc(OH * OW * C);
        k.depthwiseBackward(N, H, W, C, gy, z, mean, scale, shift, ca, cb, cc, relu6 ? 1 : 0,
          wantDx ? w : 0, gx, x, wantDw ? dw : 0, rowAcc, gzImage, stride, OH, OW);
        if (wantDx) expect(get(gx, inp)).toEqual(get(gxRef, inp));
        else expect(get(gx, inp).every(Number.isNaN), 'gx untouched without weights').toBe(true);
        if (wantDw) expect(get(dw, taps)).toEqual(get(dwRef, taps));
        else expect(get(dw, taps).every(Number.isNaN), 'dw untouched').toBe(true);
      }), { numRuns: 80, seed: 20261128 });
  });
});
