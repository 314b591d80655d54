import { readFileSync } from 'node:fs';
import { describe, expect, it, vi } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { Dropout } from '../../src/nn/layers/dropout.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { readPth } from '../../src/io/pth.js';
import { sameShape } from '../../src/tensor/tensor.js';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { expectParity, gradParity, parity } from '../helpers/compare.js';
import type { Net, TrainBackend } from '../helpers/backends.js';

/**
 * parity_frozen: one step of the seed's transfer-learning recipe against PyTorch.
 * ImageNet weights minus the classifier, features frozen, model.train(): BN
 * inside the frozen features still normalizes with batch statistics and updates
 * its running stats; only the head gets gradients, and backprop never enters the
 * features.
 */
export function describeFrozenParity(backend: TrainBackend): void {
  const ref = loadFixture('parity_frozen.safetensors').tensors;
  const input = ref.get('input')!;
  const target = ref.get('target')!;
  const mask = ref.get('dropout_mask')!;
  const imagenet = readPth(new Uint8Array(readFileSync(fixturePath('mobilenet_v2_imagenet.pth'))), { name: 'mobilenet_v2_imagenet.pth' }).stateDict;
  const BN_LAYERS = ['features.0.1', 'features.9.conv.1.1', 'features.18.1'];

  function transferModel(): { model: MobileNetV2; net: Net } {
    const m = new MobileNetV2({ numClasses: 5 });
    const own = m.stateDict();
    const pretrained = new Map([...imagenet].filter(([k, v]) => own.has(k) && sameShape(own.get(k)!.shape, v.shape)));
    const { missingKeys } = m.loadStateDict(pretrained, { strict: false });
    expect(missingKeys).toEqual(['classifier.1.weight', 'classifier.1.bias']);
    own.get('classifier.1.weight')!.copy_(ref.get('init.classifier.1.weight')!);
    own.get('classifier.1.bias')!.copy_(ref.get('init.classifier.1.bias')!);
    m.features.requiresGrad_(false);
    m.train();
    return { model: m, net: backend.attach(m) };
  }

  function step(m: MobileNetV2, net: Net) {
    (m.classifier.at(0) as Dropout).setNextMask(mask);
    const logits = net.forward(input);
    const { loss, grad } = crossEntropy(logits, target);
    const gInput = net.backward(grad);
    return { logits, loss, gInput };
  }

  describe(`${backend.name}: transfer-learning parity with PyTorch, frozen features in train mode`, () => {
    const { model, net } = transferModel();
    const featuresBackward = vi.spyOn(model.features, 'backward');
    const headBackward = vi.spyOn(model.classifier, 'backward');
    const { logits, loss, gInput } = step(model, net);

    it('logits and loss', () => {
      expectParity(logits, ref.get('logits')!, 'logits');
      const l = ref.get('loss')!.data[0];
      expect(Math.abs(loss - l)).toBeLessThanOrEqual(1e-4 * Math.max(1, l));
    });

    it('head gradients', () => {
      const head = model.classifier.at(1).parameters();
      expectParity(head[0].grad!, ref.get('grad.classifier.1.weight')!, 'grad.classifier.1.weight', 'grad');
      expectParity(head[1].grad!, ref.get('grad.classifier.1.bias')!, 'grad.classifier.1.bias', 'grad');
    });

    it('BN running stats inside the frozen features moved with the batch statistics', () => {
      const sd = model.stateDict();
      for (const bn of BN_LAYERS) {
        for (const stat of ['running_mean', 'running_var']) {
          const before = imagenet.get(`${bn}.${stat}`)!.data;
          const after = ref.get(`after_forward.${bn}.${stat}`)!;
          const ours = sd.get(`${bn}.${stat}`)!;
          expectParity(ours, after, `after_forward.${bn}.${stat}`);
          // The update is a 0.1 momentum step, small next to the stats themselves
          // (features.18.1's mean moves by less than the tolerance), so the steps
          // are compared on their own scale too.
          const delta = (t: Float32Array) => Float32Array.from(t, (v, i) => v - before[i]);
          const theirStep = delta(after.data);
          expect(theirStep.some((v) => v !== 0), `${bn}.${stat}: the fixture's stats did not move`).toBe(true);
          const p = parity(delta(ours.data), theirStep);
          expect(p.maxAbsErr, `${bn}.${stat} update: max err ${p.maxAbsErr} exceeds ${p.bound}`).toBeLessThanOrEqual(p.bound);
        }
        expect(sd.get(`${bn}.num_batches_tracked`)!.int64![0]).toBe(imagenet.get(`${bn}.num_batches_tracked`)!.int64![0] + 1n);
      }
    });

    it('no features parameter got a gradient, and backprop stopped at the head', () => {
      const features = [...model.features.namedParameters('features')];
      expect(features.length).toBe(156);
      for (const [name, p] of features) {
        expect(p.requiresGrad, name).toBe(false);
        expect(p.grad, `${name} got a gradient`).toBeNull();
      }
      expect(gInput).toBeNull();
      expect(featuresBackward).not.toHaveBeenCalled();
      expect(headBackward).toHaveBeenCalledTimes(1);
      // needInputGrad=false into the head: nothing below it needs a gradient.
      expect(headBackward.mock.calls[0][1]).toBe(false);
    });

    it('the comparison sees BN in eval mode inside features (running stats instead of batch stats)', () => {
      const { model: m, net: n } = transferModel();
      m.features.eval();
      const out = step(m, n);
      expect(parity(out.logits, ref.get('logits')!).ok).toBe(false);
      expect(Array.from(m.stateDict().get('features.0.1.running_mean')!.data)).toEqual(Array.from(imagenet.get('features.0.1.running_mean')!.data));
    });

    it('the gradient comparator sees a 1e-3 perturbation of one head weight', () => {
      const { model: m, net: n } = transferModel();
      m.stateDict().get('classifier.1.weight')!.data[3] += 1e-3;
      step(m, n);
      expect(gradParity(m.classifier.at(1).parameters()[0].grad!, ref.get('grad.classifier.1.weight')!).ok).toBe(false);
    });
  });
}
