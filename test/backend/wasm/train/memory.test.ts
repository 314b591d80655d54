import { describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../../../src/models/mobilenetv2.js';
import { crossEntropy } from '../../../../src/ops/cross_entropy.js';
import { Tensor } from '../../../../src/tensor/tensor.js';
import { Rng } from '../../../../src/tensor/rng.js';
import { createWasmExecutor } from '../../../../src/backend/wasm/executor.js';
import { loadFixture } from '../../../helpers/fixtures.js';
import { trainKernels } from './helpers.js';

describe('WASM executor memory and state', () => {
  it('100 train steps (forward, backward, in-place SGD update) do not grow WebAssembly memory after the first', () => {
    const kernels = trainKernels();
    const rng = new Rng(3);
    const model = new MobileNetV2({ numClasses: 5, alpha: 0.35, rng });
    model.loadStateDict(loadFixture('small.safetensors').tensors);
    model.train();
    const exec = createWasmExecutor(kernels, model);
    const before = model.getSubmodule('features.0.1').getBuffer('num_batches_tracked').int64![0];
    const params = model.parameters();
    const x = loadFixture('parity_small_train.safetensors').tensors.get('input')!;
    const small = new Tensor(x.data.slice(0, 2 * 3 * 32 * 32), [2, 3, 32, 32]);
    const target = [0, 3];
    const losses: number[] = [];
    let bytes = 0;
    for (let i = 0; i < 100; i++) {
      model.zeroGrad();
      const logits = exec.forward(small);
      const { loss, grad } = crossEntropy(logits, target);
      losses.push(loss);
      exec.backward(grad);
      // A plain SGD step in place, as optimizers do (src/optim's are exact to PyTorch but slow for 100 steps).
      for (const p of params) {
        const w = p.data.data;
        const g = p.grad!.data;
        for (let j = 0; j < w.length; j++) w[j] -= 0.05 * g[j];
      }
      if (i === 0) bytes = kernels.memory.buffer.byteLength;
      else expect(kernels.memory.buffer.byteLength, `step ${i}`).toBe(bytes);
    }
    // The optimizer's in-place updates are seen by the next forward: the loss goes down.
    expect(losses[99]).toBeLessThan(losses[0] * 0.5);
    expect(model.getSubmodule('features.0.1').getBuffer('num_batches_tracked').int64![0]).toBe(before + 100n);
  });

  it('backward needs a forward in grad mode, once', () => {
    const model = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
    model.loadStateDict(loadFixture('small.safetensors').tensors);
    const exec = createWasmExecutor(trainKernels(), model);
    const g = Tensor.zeros([2, 5]);
    expect(() => exec.backward(g)).toThrow(/no activations kept/);
    exec.forward(randomInput());
    exec.backward(g);
    expect(() => exec.backward(g)).toThrow(/backward ran twice/);
  });

  it('bad input and a single value per channel in train mode get clear errors', () => {
    const model = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
    model.loadStateDict(loadFixture('small.safetensors').tensors);
    const exec = createWasmExecutor(trainKernels(), model);
    expect(() => exec.forward(Tensor.zeros([1, 4, 8, 8]))).toThrow(/input must be float32 NCHW \[N, 3, H, W\], got float32 \[1, 4, 8, 8\]/);
    expect(() => exec.forward(Tensor.zeros([1, 3, 32, 32]))).toThrow(/expected more than 1 value per channel when training/);
    model.eval();
    expect(exec.forward(Tensor.zeros([1, 3, 32, 32])).shape).toEqual([1, 5]);
  });
});

function randomInput(): Tensor {
  const rng = new Rng(1);
  const t = Tensor.zeros([2, 3, 32, 32]);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.random() * 2 - 1;
  return t;
}
