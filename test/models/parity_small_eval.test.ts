import { afterAll, describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { noGrad } from '../../src/nn/grad_mode.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';
import { expectParity, parity, worst } from '../helpers/compare.js';

const ref = loadFixture('parity_small_eval.safetensors').tensors;
const weights = loadFixture('small.safetensors').tensors;

function smallModel(): MobileNetV2 {
  const model = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
  model.loadStateDict(weights);
  return model.eval();
}

/** Runs the model layer by layer, returning every `features.i`, `pooled` and `logits`. */
function trace(model: MobileNetV2, input: Tensor): Map<string, Tensor> {
  return noGrad(() => {
    const out = new Map<string, Tensor>();
    let x = input;
    for (let i = 0; i < model.features.length; i++) {
      x = model.features.at(i).forward(x);
      out.set(`features.${i}`, x);
    }
    const pooled = model.pool(x);
    out.set('pooled', pooled);
    out.set('logits', model.classifier.forward(pooled));
    return out;
  });
}

describe('parity with PyTorch: small MobileNetV2 (alpha 0.35, 5 classes), eval mode', () => {
  const model = smallModel();

  it('b3_96: every features.i, pooled and logits', () => {
    const got = trace(model, ref.get('b3_96.input')!);
    const keys = [...ref.keys()].filter((k) => k.startsWith('b3_96.') && k !== 'b3_96.input');
    expect(keys.length).toBe(19 + 2);
    for (const k of keys) expectParity(got.get(k.slice('b3_96.'.length))!, ref.get(k)!, k);
  });

  for (const c of ['b1_160x128', 'b2_97x113', 'b1_32']) {
    it(`${c}: features.18 and logits`, () => {
      const got = trace(model, ref.get(`${c}.input`)!);
      expectParity(got.get('features.18')!, ref.get(`${c}.features.18`)!, `${c}.features.18`);
      expectParity(got.get('logits')!, ref.get(`${c}.logits`)!, `${c}.logits`);
    });
  }

  it('the comparator sees a 1e-3 perturbation of one weight', () => {
    const input = ref.get('b3_96.input')!;
    // The random-BN small model damps many early perturbations before the logits,
    // which is why every layer is compared: the perturbed layer itself must fail.
    const first = smallModel();
    first.stateDict().get('features.0.0.weight')!.data[0] += 1e-3;
    expect(parity(trace(first, input).get('features.0')!, ref.get('b3_96.features.0')!).ok).toBe(false);

    const head = smallModel();
    head.stateDict().get('classifier.1.weight')!.data[2] += 1e-3;
    expect(parity(trace(head, input).get('logits')!, ref.get('b3_96.logits')!).ok).toBe(false);

    // The unperturbed model still passes, so the failures are the perturbations'.
    const clean = trace(model, input);
    expect(parity(clean.get('features.0')!, ref.get('b3_96.features.0')!).ok).toBe(true);
    expect(parity(clean.get('logits')!, ref.get('b3_96.logits')!).ok).toBe(true);
  });

  afterAll(() => console.log(`[parity_small_eval] worst error/bound: ${worst.ratio.toFixed(4)} (${worst.label})`));
});
