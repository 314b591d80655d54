import { describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';

const weights = loadFixture('small.safetensors').tensors;
const small = () => new MobileNetV2({ numClasses: 5, alpha: 0.35 });

describe('Module.loadStateDict reports problems as PyTorch does', () => {
  it('names a shape mismatch with both shapes, and changes nothing', () => {
    const m = small();
    const before = m.stateDict().get('features.0.0.weight')!.data.slice();
    const bad = new Map(weights);
    bad.set('classifier.1.weight', Tensor.zeros([1000, 448]));
    expect(() => m.loadStateDict(bad)).toThrow(
      /size mismatch for classifier\.1\.weight: copying a param with shape \[1000, 448\] from checkpoint, the shape in current model is \[5, 448\]/,
    );
    expect(() => m.loadStateDict(bad, { strict: false })).toThrow(/size mismatch/);
    expect(Array.from(m.stateDict().get('features.0.0.weight')!.data)).toEqual(Array.from(before));
  });

  it('lists missing and unexpected keys when strict, and returns them when not', () => {
    const partial = new Map(weights);
    partial.delete('features.3.conv.1.0.weight');
    partial.set('head.extra', Tensor.zeros([1]));
    expect(() => small().loadStateDict(partial)).toThrow(/Missing key\(s\) in state_dict: "features\.3\.conv\.1\.0\.weight"[\s\S]*Unexpected key\(s\) in state_dict: "head\.extra"/);
    const res = small().loadStateDict(partial, { strict: false });
    expect(res).toEqual({ missingKeys: ['features.3.conv.1.0.weight'], unexpectedKeys: ['head.extra'] });
  });

  it('copies values in place, including int64 num_batches_tracked', () => {
    const m = small();
    const param = m.features.at(0).parameters()[0];
    m.loadStateDict(weights);
    expect(param.data).toBe(m.stateDict().get('features.0.0.weight'));
    expect(Array.from(param.data.data)).toEqual(Array.from(weights.get('features.0.0.weight')!.data));
    expect(m.stateDict().get('features.0.1.num_batches_tracked')!.int64![0]).toBe(weights.get('features.0.1.num_batches_tracked')!.int64![0]);
  });

  it('train()/eval() reach every module, requiresGrad_ freezes a subtree', () => {
    const m = small().eval();
    expect([...m.modules()].every((x) => !x.training)).toBe(true);
    m.train();
    expect([...m.modules()].every((x) => x.training)).toBe(true);
    m.features.requiresGrad_(false);
    expect(m.features.hasTrainableParameters()).toBe(false);
    expect(m.classifier.hasTrainableParameters()).toBe(true);
    expect(m.parameters().filter((p) => p.requiresGrad).length).toBe(2);
  });
});
