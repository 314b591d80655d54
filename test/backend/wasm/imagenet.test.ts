import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/tensor/tensor.js';
import { readPth } from '../../../src/io/pth.js';
import { compileMobileNetV2 } from '../../../src/backend/wasm/mobilenetv2.js';
import { fixturePath, loadFixture } from '../../helpers/fixtures.js';
import { testKernels, maxDiff, WASM_BUILDS } from './helpers.js';

// The real ImageNet MobileNetV2 1.0 (TFLite-derived, BN re-inflated) against PyTorch eval.
describe.each(WASM_BUILDS)('WasmMobileNetV2 on mobilenet_v2_imagenet.pth vs PyTorch (%s build)', (build) => {
  const kernels = testKernels(build);
  const { stateDict } = readPth(new Uint8Array(readFileSync(fixturePath('mobilenet_v2_imagenet.pth'))), { name: 'mobilenet_v2_imagenet.pth' });
  const model = compileMobileNetV2(kernels, stateDict, { numClasses: 1000, alpha: 1.0 });
  const parity = loadFixture('parity_imagenet.safetensors').tensors;
  const ref = (key: string): Tensor => {
    const t = parity.get(key);
    if (!t) throw new Error(`parity_imagenet.safetensors: missing '${key}'`);
    return t;
  };
  const expectClose = (ours: Tensor, torch: Tensor, what: string): void => {
    expect(ours.shape, `${what} shape`).toEqual(torch.shape);
    const r = maxDiff(ours.data, torch.data);
    expect(r.ok, `${what}: max|ours - torch| = ${r.diff} > ${r.tol}`).toBe(true);
  };

  it('matches every layer of the parrot', () => {
    // The photo's input is keyed by file name; its per-layer outputs by 'parrot'.
    const tr = model.trace(ref('parrot.jpg.input'));
    expect(tr.features.length).toBe(19);
    for (let i = 0; i < tr.features.length; i++) expectClose(tr.features[i], ref(`parrot.features.${i}`), `parrot.features.${i}`);
    expectClose(tr.pooled, ref('parrot.pooled'), 'parrot.pooled');
    expectClose(tr.logits, ref('parrot.logits'), 'parrot.logits');
  });

  it('matches the softmax probabilities of every sample photo', () => {
    const photos = [...parity.keys()].filter((k) => k.endsWith('.input')).map((k) => k.slice(0, -'.input'.length));
    expect(photos.length).toBe(8);
    for (const photo of photos) {
      const logits = model.forward(ref(`${photo}.input`));
      const probs = ref(`${photo}.probs`);
      expectClose(softmax(logits).reshape(probs.shape), probs, `${photo}.probs`);
    }
  });
});

function softmax(logits: Tensor): Tensor {
  const x = logits.data;
  let mx = -Infinity;
  for (const v of x) mx = Math.max(mx, v);
  let sum = 0;
  for (const v of x) sum += Math.exp(v - mx);
  return new Tensor(Float32Array.from(x, (v) => Math.exp(v - mx) / sum), logits.shape);
}
