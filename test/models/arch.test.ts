import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { InvertedResidual, MobileNetV2, makeDivisible } from '../../src/models/mobilenetv2.js';
import { fixturePath } from '../helpers/fixtures.js';

interface ArchEntry {
  params: number;
  state_dict: [string, number[], string][];
  use_shortcut: boolean[];
}

const arch = JSON.parse(readFileSync(fixturePath('arch.json'), 'utf8')) as Record<string, ArchEntry>;

describe('MobileNetV2 architecture matches PyTorch (arch.json)', () => {
  it('covers the six alphas', () => {
    expect(Object.keys(arch).sort()).toEqual(['0.35', '0.5', '0.75', '1.0', '1.3', '1.4']);
  });

  for (const [alphaText, entry] of Object.entries(arch)) {
    it(`alpha ${alphaText}: keys in order, shapes, dtypes, parameter count, use_shortcut`, () => {
      const model = new MobileNetV2({ alpha: Number(alphaText) });
      const sd = [...model.stateDict()].map(([k, t]) => [k, [...t.shape], t.dtype]);
      expect(sd).toEqual(entry.state_dict);
      expect(model.numParameters()).toBe(entry.params);
      const shortcuts = Array.from({ length: model.features.length }, (_, i) => {
        const block = model.features.at(i);
        return block instanceof InvertedResidual ? block.useShortcut : false;
      });
      expect(shortcuts).toEqual(entry.use_shortcut);
    });
  }
});

describe('makeDivisible (the TF slim rounding)', () => {
  it('matches values worked out from the Python definition', () => {
    // int(ch + 4) // 8 * 8, at least 8, bumped by 8 when it would fall below 90% of ch.
    expect(makeDivisible(32 * 0.35)).toBe(16);
    expect(makeDivisible(16 * 0.35)).toBe(8);
    expect(makeDivisible(1280 * 0.35)).toBe(448);
    expect(makeDivisible(24 * 1.3)).toBe(32);
    expect(makeDivisible(11.9)).toBe(16);
    expect(makeDivisible(3, 8)).toBe(8);
    expect(makeDivisible(100, 8, 4)).toBe(104);
    expect(makeDivisible(12, 8)).toBe(16);
  });
});

describe('the seed weight init', () => {
  it('is reproducible per seed and has the documented statistics', async () => {
    const { Rng } = await import('../../src/tensor/rng.js');
    const a = new MobileNetV2({ numClasses: 10, rng: new Rng(7) });
    const b = new MobileNetV2({ numClasses: 10, rng: new Rng(7) });
    const c = new MobileNetV2({ numClasses: 10, rng: new Rng(8) });
    const key = 'features.2.conv.0.0.weight';
    expect(Array.from(a.stateDict().get(key)!.data)).toEqual(Array.from(b.stateDict().get(key)!.data));
    expect(Array.from(a.stateDict().get(key)!.data)).not.toEqual(Array.from(c.stateDict().get(key)!.data));

    const std = (xs: Float32Array) => Math.sqrt(xs.reduce((s, v) => s + v * v, 0) / xs.length);
    // kaiming_normal_(mode='fan_out'): std = sqrt(2 / (out_channels * k * k)); this one is [96, 16, 1, 1].
    expect(a.stateDict().get(key)!.shape).toEqual([96, 16, 1, 1]);
    expect(std(a.stateDict().get(key)!.data)).toBeCloseTo(Math.sqrt(2 / 96), 2);
    // Depthwise [96, 1, 3, 3]: fan_out = 96 * 9.
    expect(std(a.stateDict().get('features.2.conv.1.0.weight')!.data)).toBeCloseTo(Math.sqrt(2 / (96 * 9)), 2);
    expect(std(a.stateDict().get('classifier.1.weight')!.data)).toBeCloseTo(0.01, 3);
    expect(Array.from(a.stateDict().get('classifier.1.bias')!.data).every((v) => v === 0)).toBe(true);
    expect(Array.from(a.stateDict().get('features.5.conv.3.weight')!.data).every((v) => v === 1)).toBe(true);
    expect(Array.from(a.stateDict().get('features.5.conv.3.bias')!.data).every((v) => v === 0)).toBe(true);
  });
});
