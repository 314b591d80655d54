import { afterAll, describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { Dropout } from '../../src/nn/layers/dropout.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { SGD } from '../../src/optim/sgd.js';
import { Adam, AdamW } from '../../src/optim/adam.js';
import type { Optimizer } from '../../src/optim/optimizer.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';
import { expectParity, gradParity, parity, worst } from '../helpers/compare.js';
import { resolveKinks, type Unit } from '../helpers/kinks.js';
import type { Net, TrainBackend } from '../helpers/backends.js';

/**
 * BN biases whose exact gradient is 0: their output reaches the loss only through
 * a 1x1 conv into a train-mode BN (directly or via identity shortcuts). Train-mode
 * BN's input gradient sums to zero per channel, a 1x1 conv keeps channel sums at
 * zero, and a bias gradient is a channel sum. PyTorch's stored values are float32
 * cancellation noise (~1e-6), which no implementation can reproduce element-wise,
 * so these are checked to be zero to noise on both sides instead.
 */
const isZeroGradBias = (name: string): boolean => name === 'features.1.conv.2.bias' || /^features\.\d+\.conv\.3\.bias$/.test(name);

/**
 * parity_small_train: the small model in train mode against PyTorch — logits,
 * losses, every gradient, the input gradient, BN running stats, and two steps of
 * SGD, Adam and AdamW. ReLU6 units that sit within float32 noise of a kink may be
 * routed either way (see test/helpers/kinks.ts); nothing else is.
 */
export function describeTrainParity(backend: TrainBackend): void {
  const ref = loadFixture('parity_small_train.safetensors').tensors;
  const weights = loadFixture('small.safetensors').tensors;
  const input = ref.get('input')!;
  const target = ref.get('target')!;
  const mask = ref.get('dropout_mask')!;
  const tag = `[${backend.name} parity_small_train]`;

  function trainModel(): { model: MobileNetV2; net: Net } {
    const model = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
    model.loadStateDict(weights);
    model.train();
    return { model, net: backend.attach(model) };
  }

  /** The fixture's dropout mask replaces Dropout(0.2) in every forward. */
  function forwardWithMask(model: MobileNetV2, net: Net): Tensor {
    (model.classifier.at(0) as Dropout).setNextMask(mask);
    return net.forward(input);
  }

  function ratio(ours: Tensor, theirs: Tensor, kind: 'value' | 'grad' = 'grad'): number {
    const p = kind === 'grad' ? gradParity(ours, theirs) : parity(ours, theirs);
    return p.maxAbsErr / p.bound;
  }

  /** A label-smoothed step on a fresh model, with the given kink decisions flipped. */
  function gradStep(flips: readonly Unit[]) {
    const { model, net } = trainModel();
    const logits = forwardWithMask(model, net);
    net.flipUnits(flips);
    const plain = crossEntropy(logits, target);
    const smoothed = crossEntropy(logits, target, { labelSmoothing: 0.1 });
    net.backward(smoothed.grad);
    return { model, logits, plain, smoothed, ambiguous: net.lastAmbiguous() };
  }

  function gradScore(model: MobileNetV2): number {
    let s = 0;
    for (const [name, p] of model.namedParameters()) if (!isZeroGradBias(name)) s += ratio(p.grad!, ref.get(`grad.${name}`)!);
    return s;
  }

  describe(`${backend.name}: training parity with PyTorch, small MobileNetV2 in train mode`, () => {
    const kinks1 = gradStep([]).ambiguous;
    const flips1 = resolveKinks(kinks1, (f) => gradScore(gradStep(f).model));
    const { model, logits, plain, smoothed } = gradStep(flips1);

    it('finds few float32-ambiguous ReLU6 units, and flips only some of them', () => {
      console.log(`${tag} ${kinks1.length} ReLU6 units within 1e-5 of a kink; PyTorch took the other side at: ${JSON.stringify(flips1)}`);
      expect(kinks1.length).toBeLessThan(30);
      expect(flips1.length).toBeLessThanOrEqual(kinks1.length);
    });

    it('logits and both losses', () => {
      expectParity(logits, ref.get('logits')!, 'logits');
      const l = ref.get('loss')!.data[0];
      const ls = ref.get('loss_label_smoothing_0.1')!.data[0];
      expect(Math.abs(plain.loss - l)).toBeLessThanOrEqual(1e-4 * Math.max(1, l));
      expect(Math.abs(smoothed.loss - ls)).toBeLessThanOrEqual(1e-4 * Math.max(1, ls));
    });

    it('every parameter gradient (label-smoothed CE)', () => {
      const params = [...model.namedParameters()];
      expect(params.length).toBe([...ref.keys()].filter((k) => k.startsWith('grad.') && k !== 'grad.input').length);
      let zeroBiases = 0;
      for (const [name, p] of params) {
        expect(p.grad, `${name} has no gradient`).not.toBeNull();
        const theirs = ref.get(`grad.${name}`)!;
        if (isZeroGradBias(name)) {
          zeroBiases++;
          const maxAbs = (t: Tensor) => t.data.reduce((m, v) => Math.max(m, Math.abs(v)), 0);
          expect(maxAbs(theirs), `${name}: PyTorch's value should be noise`).toBeLessThan(1e-5);
          expect(maxAbs(p.grad!), `${name}: ours should be zero to noise`).toBeLessThan(1e-5);
        } else {
          expectParity(p.grad!, theirs, `grad.${name}`, 'grad');
        }
      }
      expect(zeroBiases).toBe(17);
    });

    it('BN running stats and num_batches_tracked after one forward', () => {
      const sd = model.stateDict();
      const keys = [...ref.keys()].filter((k) => k.startsWith('after_forward.'));
      expect(keys.length).toBe(52 * 3);
      for (const k of keys) {
        const name = k.slice('after_forward.'.length);
        const ours = sd.get(name)!;
        if (name.endsWith('num_batches_tracked')) expect(ours.int64![0]).toBe(ref.get(k)!.int64![0]);
        else expectParity(ours, ref.get(k)!, k);
      }
    });

    it('input gradient from plain CE on a fresh model', () => {
      const run = (flips: readonly Unit[]) => {
        const { model: m, net } = trainModel();
        const out = forwardWithMask(m, net);
        net.flipUnits(flips);
        return net.backward(crossEntropy(out, target).grad, true)!;
      };
      const flips = resolveKinks(kinks1, (f) => ratio(run(f), ref.get('grad.input')!));
      expectParity(run(flips), ref.get('grad.input')!, 'grad.input', 'grad');
    });

    const optimizers: Record<string, (m: MobileNetV2) => Optimizer<any>> = {
      sgd: (m) => new SGD(m.parameters(), { lr: 0.05, momentum: 0.9, weightDecay: 4e-5 }),
      adam: (m) => new Adam(m.parameters(), { lr: 1e-3 }),
      adamw: (m) => new AdamW(m.parameters(), { lr: 1e-3, weightDecay: 0.01 }),
    };
    /*
     * Step 1 applies PyTorch's stored step-1 gradient (our backward reproduces it,
     * tested above). Feeding our own, equal within 1e-4 of its bound, moves the
     * step-2 loss by up to 6.6e-4 for SGD (lr 0.05 on random-BN weights): the
     * two-step trajectory amplifies in-tolerance differences, so it would test that
     * conditioning rather than the optimizers. Step 2 is all ours: forward,
     * backward (with its own float32-ambiguous kinks resolved) and the update.
     */
    for (const [name, make] of Object.entries(optimizers)) {
      it(`${name}: two steps on the same batch, losses and watched parameters`, () => {
        const watched = [...ref.keys()].filter((k) => k.startsWith(`${name}.step2.`));
        expect(watched.length).toBe(6);
        const refLosses = ref.get(`${name}.losses`)!.data;
        let kinks2: Unit[] | null = null;
        const run = (flips2: readonly Unit[]) => {
          const { model: m, net } = trainModel();
          const opt = make(m);
          const losses: number[] = [];
          for (let step = 0; step < 2; step++) {
            opt.zeroGrad();
            const out = forwardWithMask(m, net);
            if (step === 1 && kinks2 === null) kinks2 = net.lastAmbiguous();
            net.flipUnits(step === 0 ? flips1 : flips2);
            const { loss, grad } = crossEntropy(out, target, { labelSmoothing: 0.1 });
            losses.push(loss);
            net.backward(grad);
            if (step === 0) for (const [n, p] of m.namedParameters()) p.grad!.copy_(ref.get(`grad.${n}`)!);
            opt.step();
          }
          return { sd: m.stateDict(), losses };
        };
        const score = (f: readonly Unit[]) => {
          const { sd } = run(f);
          return watched.reduce((s, k) => s + ratio(sd.get(k.slice(`${name}.step2.`.length))!, ref.get(k)!, 'value'), 0);
        };
        run([]);
        const flips2 = resolveKinks(kinks2 ?? [], score);
        const { sd, losses } = run(flips2);
        for (let i = 0; i < 2; i++) {
          expect(Math.abs(losses[i] - refLosses[i]), `${name} loss ${i}`).toBeLessThanOrEqual(1e-4 * Math.max(1, refLosses[i]));
        }
        for (const k of watched) expectParity(sd.get(k.slice(`${name}.step2.`.length))!, ref.get(k)!, k);
      });
    }

    it('the gradient comparator sees a 1e-3 perturbation of a head weight and of a features weight', () => {
      const head = trainModel();
      head.model.stateDict().get('classifier.1.weight')!.data[2] += 1e-3;
      const out = forwardWithMask(head.model, head.net);
      head.net.flipUnits(flips1);
      head.net.backward(crossEntropy(out, target, { labelSmoothing: 0.1 }).grad);
      expect(gradParity(head.model.classifier.at(1).parameters()[0].grad!, ref.get('grad.classifier.1.weight')!).ok).toBe(false);

      const deep = trainModel();
      deep.model.stateDict().get('features.5.conv.1.0.weight')!.data[7] += 1e-2;
      const out2 = forwardWithMask(deep.model, deep.net);
      deep.net.flipUnits(flips1);
      deep.net.backward(crossEntropy(out2, target, { labelSmoothing: 0.1 }).grad);
      const g = deep.model.getSubmodule('features.5.conv.1.0').parameters()[0].grad!;
      expect(gradParity(g, ref.get('grad.features.5.conv.1.0.weight')!).ok).toBe(false);
    });

    afterAll(() => console.log(`${tag} worst error/bound: ${worst.ratio.toFixed(4)} (${worst.label})`));
  });
}
