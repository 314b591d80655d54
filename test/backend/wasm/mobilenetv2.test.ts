import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { Tensor } from '../../../src/tensor/tensor.js';
import { compileMobileNetV2, WasmMobileNetV2 } from '../../../src/backend/wasm/mobilenetv2.js';
import { makeDivisible, mobileNetV2Layout } from '../../../src/models/layout.js';
import { loadFixture, fixturePath } from '../../helpers/fixtures.js';
import { testKernels, maxDiff, WASM_BUILDS } from './helpers.js';

const kernels = testKernels();
const weights = loadFixture('small.safetensors').tensors;
const parity = loadFixture('parity_small_eval.safetensors').tensors;
const SMALL = { numClasses: 5, alpha: 0.35 };

function ref(key: string): Tensor {
  const t = parity.get(key);
  if (!t) throw new Error(`parity_small_eval.safetensors: missing '${key}'`);
  return t;
}

function expectClose(ours: Tensor, torch: Tensor, what: string): void {
  expect(ours.shape, `${what} shape`).toEqual(torch.shape);
  const r = maxDiff(ours.data, torch.data);
  expect(r.ok, `${what}: max|ours - torch| = ${r.diff} > ${r.tol}`).toBe(true);
}

describe.each(WASM_BUILDS)('WasmMobileNetV2 (small model, alpha 0.35, %s build) vs PyTorch eval', (build) => {
  const kernels = testKernels(build);
  const model = compileMobileNetV2(kernels, weights, SMALL);

  it('matches every features.i, pooled and logits for b3_96', () => {
    const tr = model.trace(ref('b3_96.input'));
    expect(tr.features.length).toBe(19);
    for (let i = 0; i < 19; i++) expectClose(tr.features[i], ref(`b3_96.features.${i}`), `b3_96.features.${i}`);
    expectClose(tr.pooled, ref('b3_96.pooled'), 'b3_96.pooled');
    expectClose(tr.logits, ref('b3_96.logits'), 'b3_96.logits');
  });

  for (const c of ['b3_96', 'b1_160x128', 'b2_97x113', 'b1_32']) {
    it(`matches features.18 and logits for ${c}`, () => {
      const input = ref(`${c}.input`);
      expectClose(model.forwardFeatures(input, 18), ref(`${c}.features.18`), `${c}.features.18`);
      expectClose(model.forward(input), ref(`${c}.logits`), `${c}.logits`);
    });
  }

  it('forwardFeatures stops at an intermediate layer and forwardPooled gives [N, C]', () => {
    const input = ref('b3_96.input');
    expectClose(model.forwardFeatures(input, 7), ref('b3_96.features.7'), 'b3_96.features.7');
    expectClose(model.forwardPooled(input), ref('b3_96.pooled'), 'b3_96.pooled');
  });

  // Deep layers get a bias perturbation: one 1e-3 weight change there is diluted below the
  // tolerance by small activations. features.18 channel 0 is dead (ReLU6 at 0 everywhere), so
  // its bias is perturbed at the first channel that PyTorch shows active.
  const perturbedCases: [key: string, index: number, check: (m: WasmMobileNetV2, x: Tensor) => Tensor, ref: string][] = [
    ['features.0.0.weight', 0, (m, x) => m.forwardFeatures(x, 0), 'b3_96.features.0'],
    ['features.18.1.bias', firstActiveChannel(ref('b3_96.features.18')), (m, x) => m.forwardFeatures(x, 18), 'b3_96.features.18'],
    ['classifier.1.bias', 0, (m, x) => m.forward(x), 'b3_96.logits'],
  ];
  for (const [key, index, check, refKey] of perturbedCases) {
    it(`fails the comparison on ${refKey} when one value of ${key} is perturbed by 1e-3`, () => {
      const perturbed = new Map(weights);
      const w = weights.get(key)!.clone();
      w.data[index] += 1e-3;
      perturbed.set(key, w);
      const bad = compileMobileNetV2(kernels, perturbed, SMALL);
      expect(maxDiff(check(bad, ref('b3_96.input')).data, ref(refKey).data).ok).toBe(false);
    });
  }

  it('fails the comparison when a BN running_var is perturbed (folding uses it)', () => {
    const perturbed = new Map(weights);
    const key = 'features.0.1.running_var';
    const v = weights.get(key)!.clone();
    v.data[3] *= 1.01;
    perturbed.set(key, v);
    const bad = compileMobileNetV2(kernels, perturbed, SMALL);
    expect(maxDiff(bad.forwardFeatures(ref('b3_96.input'), 0).data, ref('b3_96.features.0').data).ok).toBe(false);
  });
});

describe('WasmMobileNetV2 errors', () => {
  it('names the missing key and wrong shapes', () => {
    const missing = new Map(weights);
    missing.delete('features.3.conv.1.1.running_mean');
    expect(() => compileMobileNetV2(kernels, missing, SMALL)).toThrow(/features\.3\.conv\.1\.1\.running_mean/);
    expect(() => compileMobileNetV2(kernels, weights, { numClasses: 7, alpha: 0.35 })).toThrow(/classifier\.1\.weight.*\[5, 448\].*\[7, 448\]/);
    expect(() => compileMobileNetV2(kernels, weights, { numClasses: 5, alpha: 1.0 })).toThrow(/features\.0\.0\.weight.*shape/);
  });

  it('rejects non-NCHW-RGB input and bad layer indices', () => {
    const model = new WasmMobileNetV2(kernels, weights, SMALL);
    expect(() => model.forward(Tensor.zeros([1, 4, 8, 8]))).toThrow(/\[N, 3, H, W\].*\[1, 4, 8, 8\]/);
    expect(() => model.forward(Tensor.zeros([3, 8, 8]))).toThrow(/NCHW/);
    expect(() => model.forwardFeatures(Tensor.zeros([1, 3, 8, 8]), 19)).toThrow(/upTo/);
  });
});

describe('MobileNetV2 layout', () => {
  it('makeDivisible follows the TF rule', () => {
    expect(makeDivisible(32 * 0.35)).toBe(16);
    expect(makeDivisible(16 * 0.35)).toBe(8);
    expect(makeDivisible(1280 * 0.35)).toBe(448);
    expect(makeDivisible(24 * 1.4)).toBe(32);
    expect(makeDivisible(96 * 0.75)).toBe(72);
  });

  it('agrees with arch.json shortcuts for every alpha', () => {
    const arch = loadArch();
    for (const [alpha, entry] of Object.entries(arch)) {
      const layout = mobileNetV2Layout(Number(alpha));
      const shortcut = layout.blocks.map((b) => b.useShortcut);
      // arch.json has one flag per features entry: the stem and the last conv never have a shortcut.
      expect(entry.use_shortcut.length).toBe(layout.numFeatures);
      expect(shortcut, `alpha ${alpha}`).toEqual(entry.use_shortcut.slice(1, -1));
    }
  });
});

interface ArchEntry { use_shortcut: boolean[] }

function loadArch(): Record<string, ArchEntry> {
  return JSON.parse(readFileSync(fixturePath('arch.json'), 'utf8')) as Record<string, ArchEntry>;
}

function firstActiveChannel(t: Tensor): number {
  const [N, C, H, W] = t.shape;
  for (let c = 0; c < C; c++) {
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < H * W; i++) {
        const v = t.data[(n * C + c) * H * W + i];
        if (v > 0 && v < 6) return c;
      }
    }
  }
  throw new Error('no active channel');
}
