import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WasmArena } from '../../../../src/backend/wasm/arena.js';
import { POINTWISE_BACKWARD_BLOCK_ROWS, trainExports, type WasmTrainExports } from '../../../../src/backend/wasm/train/kernels.js';
import { packGemmWeightsTransposed } from '../../../../src/backend/wasm/train/pack.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import { trainKernels, rand } from './helpers.js';
import { WASM_BUILDS } from '../helpers.js';

/**
 * pointwiseBackward (BN's dx, the dgrad GEMM and the weight gradient in one pass over row blocks)
 * against the three separate kernels it replaces: the same dz, so a bit-identical input gradient;
 * and the weight gradient against a float64 reference, within float32 rounding of the sum of
 * |terms| (its blocks are pointwiseWgrad's). Shapes cover both wgrad paths (in place: channels in
 * multiples of 8 and 4 with Cin + Cout <= 240; packed: the rest), several row blocks, channel
 * tails, and the flags that switch off the input or the weight gradient.
 */
let kernels: WasmKernels;
let k: WasmTrainExports;

function setup(M: number, Cout: number, Cin: number, seed: number) {
  const arena = new WasmArena(kernels);
  arena.resetScratch();
  const f32 = () => kernels.f32;
  const put = (a: Float32Array) => {
    const p = arena.allocScratch(a.length);
    f32().set(a, p >> 2);
    return p;
  };
  const alloc = (n: number) => {
    const p = arena.allocScratch(n);
    f32().fill(NaN, p >> 2, (p >> 2) + n);
    return p;
  };
  const get = (p: number, n: number) => f32().slice(p >> 2, (p >> 2) + n);
  const gy = rand(M * Cout, seed), z = rand(M * Cout, seed + 1, -4, 4), x = rand(M * Cin, seed + 2);
  const w = rand(Cout * Cin, seed + 3), res = rand(M * Cin, seed + 4);
  const per = (s: number, lo = -1, hi = 1) => put(rand(Cout, seed + s, lo, hi));
  return {
    put, alloc, get, x, gy,
    p: {
      gy: put(gy), z: put(z), x: put(x), res: put(res),
      mean: per(5), scale: per(6, -2, 2), shift: per(7, -3, 9), ca: per(8), cb: per(9), cc: per(10),
      wT: put(packGemmWeightsTransposed(w, Cout, Cin)),
      zero: put(new Float32Array(Math.ceil(Cin / 8) * 8)),
      gzBlock: alloc(POINTWISE_BACKWARD_BLOCK_ROWS * Cout),
    },
  };
}

describe.each(WASM_BUILDS)('pointwiseBackward (%s build)', (build) => {
  beforeAll(() => {
    kernels = trainKernels(build);
    k = trainExports(kernels);
  });

  const shapes = fc.oneof(
    // in-place wgrad path
    fc.record({ M: fc.integer({ min: 1, max: 700 }), Cout: fc.integer({ min: 1, max: 12 }).map((c) => 4 * c), Cin: fc.integer({ min: 1, max: 6 }).map((c) => 8 * c) }),
    // packed path and channel tails
    fc.record({ M: fc.integer({ min: 1, max: 400 }), Cout: fc.integer({ min: 1, max: 90 }), Cin: fc.integer({ min: 1, max: 90 }) }),
  );

  it('equals bnBackwardDx(Relu6) + gemm (W^T, + res) + pointwiseWgrad', () => {
    fc.assert(fc.property(shapes, fc.boolean(), fc.boolean(), fc.constantFrom('both', 'dgrad', 'wgrad'), fc.integer({ min: 1, max: 1e9 }),
      ({ M, Cout, Cin }, relu6, withRes, parts, seed) => {
        const s = setup(M, Cout, Cin, seed);
        const { p } = s;
        const res = withRes ? p.res : 0;
        // The separate kernels.
        const gz = s.alloc(M * Cout);
        if (relu6) k.bnBackwardDxRelu6(M, Cout, p.gy, p.z, p.mean, p.scale, p.shift, p.ca, p.cb, p.cc, gz);
        else k.bnBackwardDx(M, Cout, p.gy, p.z, p.mean, p.ca, p.cb, p.cc, gz);
        const gxRef = s.alloc(M * Cin);
        kernels.exports.gemm(M, Cout, Cin, gz, p.wT, p.zero, gxRef, -Infinity, Infinity, res);
        const dz = s.get(gz, M * Cout);
        // Fused.
        const wantDx = parts !== 'wgrad', wantDw = parts !== 'dgrad';
        const gx = s.alloc(M * Cin), dw = wantDw ? s.alloc(Cout * Cin) : 0;
        k.pointwiseBackward(M, Cout, Cin, p.gy, p.z, p.mean, p.scale, p.shift, p.ca, p.cb, p.cc, relu6 ? 1 : 0,
          wantDx ? p.wT : 0, p.zero, gx, res, p.x, dw, p.gzBlock);
        if (wantDx) expect(Array.from(s.get(gx, M * Cin))).toEqual(Array.from(s.get(gxRef, M * Cin)));
        else expect(s.get(gx, M * Cin).every(Number.isNaN), 'gx untouched without wT').toBe(true);
        if (wantDw) {
          const got = s.get(dw, Cout * Cin);
          for (let o = 0; o < Cout; o++) {
            for (let c = 0; c < Cin; c++) {
              let ref = 0, abs = 0;
              for (let r = 0; r < M; r++) {
                const t = dz[r * Cout + o] * s.x[r * Cin + c];
                ref += t;
                abs += Math.abs(t);
              }
              const err = Math.abs(got[o * Cin + c] - ref);
              if (!(err <= 1e-5 * abs + 1e-30)) expect.fail(`dw[${o}][${c}]: ${got[o * Cin + c]}, reference ${ref} (|terms| ${abs})`);
            }
          }
        }
      }), { numRuns: 60, seed: 20261128 });
  });

  it('sums dw in the blocks pointwiseWgrad uses: the same bits at MobileNetV2 shapes', () => {
    for (const [M, Cout, Cin] of [[1000, 96, 16], [600, 24, 144], [300, 160, 960], [260, 1280, 320]]) {
      const s = setup(M, Cout, Cin, M + Cout);
      const { p } = s;
      const gz = s.alloc(M * Cout);
      k.bnBackwardDxRelu6(M, Cout, p.gy, p.z, p.mean, p.scale, p.shift, p.ca, p.cb, p.cc, gz);
      const dwRef = s.alloc(Cout * Cin), dw = s.alloc(Cout * Cin), gx = s.alloc(M * Cin);
      k.pointwiseWgrad(M, Cin, Cout, p.x, gz, dwRef);
      k.pointwiseBackward(M, Cout, Cin, p.gy, p.z, p.mean, p.scale, p.shift, p.ca, p.cb, p.cc, 1, p.wT, p.zero, gx, 0, p.x, dw, p.gzBlock);
      expect(Array.from(s.get(dw, Cout * Cin)), `${M}x${Cout}x${Cin}`).toEqual(Array.from(s.get(dwRef, Cout * Cin)));
    }
  });
});
