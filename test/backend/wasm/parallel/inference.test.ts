import { afterAll, describe, expect, it } from 'vitest';
import { Tensor } from '../../../../src/tensor/tensor.js';
import { compileMobileNetV2 } from '../../../../src/backend/wasm/mobilenetv2.js';
import { createParallelInference, type ParallelInference } from '../../../../src/backend/wasm/parallel/node.js';
import { splitRows } from '../../../../src/backend/wasm/parallel/protocol.js';
import { loadFixture } from '../../../helpers/fixtures.js';
import { parity } from '../../../helpers/compare.js';
import { trainKernels } from '../train/helpers.js';
import { defaultKernelBuild } from '../../../../src/backend/wasm/node.js';
import { randomInput, workerScript } from './helpers.js';

const weights = loadFixture('small.safetensors').tensors;
const config = { numClasses: 5, alpha: 0.35 };
const script = workerScript();
// The build the workers load (relaxed SIMD where this Node has it).
const single = compileMobileNetV2(trainKernels(defaultKernelBuild()), weights, config);

const open: ParallelInference[] = [];
afterAll(async () => {
  await Promise.all(open.map((p) => p.close()));
});

describe('createParallelInference', () => {
  it('splits rows into contiguous shards differing by at most one', () => {
    expect(splitRows(5, 2)).toEqual([{ start: 0, count: 3 }, { start: 3, count: 2 }]);
    expect(splitRows(1, 4)).toEqual([{ start: 0, count: 1 }]);
    expect(splitRows(8, 3).map((s) => s.count)).toEqual([3, 3, 2]);
  });

  it('equals single-thread inference for batches of 5, 2 and 1 on 2 workers, rows in order', async () => {
    const inf = await createParallelInference(weights, config, { threads: 2, script });
    open.push(inf);
    for (const n of [5, 2, 1]) {
      const shape = [n, 3, 48, 40];
      const x = new Tensor(randomInput(shape, 100 + n), shape);
      const ref = single.forward(x);
      const y = await inf.forward(x);
      expect(y.shape).toEqual(ref.shape);
      const p = parity(y, ref);
      // Same kernels on the same rows: identical, not just within tolerance.
      expect(p.maxAbsErr, `batch ${n}`).toBe(0);
    }
  });

  it('rejects bad input and use after close with clear errors', async () => {
    const inf = await createParallelInference(weights, config, { threads: 2, script });
    await expect(inf.forward(Tensor.zeros([2, 4, 8, 8]))).rejects.toThrow(/NCHW \[N, 3, H, W\]/);
    await inf.close();
    await expect(inf.forward(Tensor.zeros([1, 3, 8, 8]))).rejects.toThrow(/closed/);
    await expect(createParallelInference(weights, config, { threads: 0, script })).rejects.toThrow(/threads must be a positive integer/);
  });

  it('a state dict that does not fit the model fails at creation, naming the key', async () => {
    const bad = new Map(weights);
    bad.delete('features.0.0.weight');
    await expect(createParallelInference(bad, config, { threads: 2, script })).rejects.toThrow(/features\.0\.0\.weight/);
  });
});
