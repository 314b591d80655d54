import { describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/tensor/tensor.js';
import { compileMobileNetV2 } from '../../../src/backend/wasm/mobilenetv2.js';
import { loadFixture } from '../../helpers/fixtures.js';
import { testKernels } from './helpers.js';

describe('WasmMobileNetV2 memory', () => {
  it('1,000 forwards at 32x32 do not grow WebAssembly memory after the first', () => {
    const kernels = testKernels();
    const model = compileMobileNetV2(kernels, loadFixture('small.safetensors').tensors, { numClasses: 5, alpha: 0.35 });
    const input = loadFixture('parity_small_eval.safetensors').tensors.get('b1_32.input')!;
    const first = model.forward(input);
    const bytes = kernels.memory.buffer.byteLength;
    let last: Tensor = first;
    for (let i = 0; i < 1000; i++) last = model.forward(input);
    expect(kernels.memory.buffer.byteLength).toBe(bytes);
    // Same input, same arena addresses: the result is bit-identical, so no state leaks between calls.
    expect(Array.from(last.data)).toEqual(Array.from(first.data));
  });

  it('a larger input grows memory once; going back to the smaller one reuses it', () => {
    const kernels = testKernels();
    const model = compileMobileNetV2(kernels, loadFixture('small.safetensors').tensors, { numClasses: 5, alpha: 0.35 });
    model.forward(Tensor.zeros([1, 3, 32, 32]));
    model.forward(Tensor.zeros([2, 3, 64, 48]));
    const bytes = kernels.memory.buffer.byteLength;
    for (let i = 0; i < 20; i++) {
      model.forward(Tensor.zeros([1, 3, 32, 32]));
      model.forward(Tensor.zeros([2, 3, 64, 48]));
    }
    expect(kernels.memory.buffer.byteLength).toBe(bytes);
  });
});
