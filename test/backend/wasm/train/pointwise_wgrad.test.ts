import { beforeAll, describe, expect, it } from 'vitest';
import { WasmArena } from '../../../../src/backend/wasm/arena.js';
import { trainExports, type WasmTrainExports } from '../../../../src/backend/wasm/train/kernels.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import { trainKernels, rand } from './helpers.js';
import { WASM_BUILDS } from '../helpers.js';

/**
 * pointwiseWgrad on shapes chosen for each of its paths (kernels.test.ts covers small random
 * shapes): in-place reads with several row blocks and the next block touched ahead (K a multiple
 * of 8, N of 4, K + N small), packed panels with dY read in place (K < 64), with dY packed, with
 * X packed in several chunks of input channels (K > 96), with channel tails, and the
 * classifier's shape (8 rows). Against a float64 reference from the definition, within float32
 * rounding of the sum of |terms|.
 */
let kernels: WasmKernels;
let k: WasmTrainExports;

const SHAPES: [M: number, K: number, N: number][] = [
  [1000, 16, 96], [700, 32, 16], [513, 24, 144], [300, 144, 24], // in place, several blocks
  [390, 44, 200], // packed X, dY in place
  [300, 64, 200], [260, 72, 212], // packed X and dY
  [200, 300, 12], [150, 389, 7], // X in several chunks, channel tails
  [8, 1280, 100], // the classifier's batch of rows
  [1, 9, 3], [5, 17, 5],
];

describe.each(WASM_BUILDS)('pointwiseWgrad paths (%s build)', (build) => {
  beforeAll(() => {
    kernels = trainKernels(build);
    k = trainExports(kernels);
  });

  it.each(SHAPES)('M=%i K=%i N=%i', (M, K, N) => {
    const arena = new WasmArena(kernels);
    arena.resetScratch();
    const x = rand(M * K, M * 31 + K), dy = rand(M * N, N * 17 + M);
    const px = arena.allocScratch(M * K), pdy = arena.allocScratch(M * N), pdw = arena.allocScratch(N * K);
    kernels.f32.set(x, px >> 2);
    kernels.f32.set(dy, pdy >> 2);
    kernels.f32.fill(NaN, pdw >> 2, (pdw >> 2) + N * K);
    k.pointwiseWgrad(M, K, N, px, pdy, pdw);
    const got = kernels.f32.slice(pdw >> 2, (pdw >> 2) + N * K);
    const ref = new Float64Array(N * K), abs = new Float64Array(N * K);
    for (let r = 0; r < M; r++) {
      for (let n = 0; n < N; n++) {
        const g = dy[r * N + n];
        for (let c = 0; c < K; c++) {
          const t = x[r * K + c] * g;
          ref[n * K + c] += t;
          abs[n * K + c] += Math.abs(t);
        }
      }
    }
    for (let i = 0; i < N * K; i++) {
      const err = Math.abs(got[i] - ref[i]);
      if (!(err <= 1e-5 * abs[i] + 1e-30)) {
        expect.fail(`dW[${i}]: ours ${got[i]}, reference ${ref[i]} (|terms| ${abs[i]})`);
      }
    }
  });
});
