import { describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { Adam } from '../../src/optim/adam.js';
import { noGrad } from '../../src/nn/grad_mode.js';
import { Rng } from '../../src/tensor/rng.js';
import { Tensor } from '../../src/tensor/tensor.js';

/**
 * End-to-end trainability: a small MobileNetV2 memorizes one fixed batch of
 * random images. Any sign error or dropped term in a backward kernel, or an
 * optimizer that does not move the weights, keeps this from reaching 100%.
 */
const BATCH = 8;
const SIZE = 32;
const CLASSES = 5;
const MAX_STEPS = 200;
/** Consecutive all-correct steps (and a loss below a quarter of the first) before stopping. */
const STREAK = 5;

function argmaxRows(logits: Tensor): number[] {
  const [n, c] = logits.shape;
  return Array.from({ length: n }, (_, i) => {
    let best = 0;
    for (let j = 1; j < c; j++) if (logits.data[i * c + j] > logits.data[i * c + best]) best = j;
    return best;
  });
}

describe('MobileNetV2 (alpha 0.35) overfits one batch', () => {
  function overfit(freezeHead: boolean) {
    const rng = new Rng(1234);
    const model = new MobileNetV2({ alpha: 0.35, numClasses: CLASSES, rng }).train();
    if (freezeHead) model.classifier.requiresGrad_(false);
    const x = Tensor.zeros([BATCH, 3, SIZE, SIZE]);
    for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
    // Every class present, so the constant-prediction shortcut caps accuracy at 2/8.
    const labels = Array.from({ length: BATCH }, (_, i) => i % CLASSES);
    const opt = new Adam(model.parameters(), { lr: 3e-3 });

    const losses: number[] = [];
    let streak = 0;
    let steps = 0;
    while (steps < MAX_STEPS && !(streak >= STREAK && losses[losses.length - 1] < losses[0] / 4)) {
      opt.zeroGrad();
      const logits = model.forward(x);
      const { loss, grad } = crossEntropy(logits, labels);
      losses.push(loss);
      const correct = argmaxRows(logits).filter((p, i) => p === labels[i]).length;
      streak = correct === BATCH ? streak + 1 : 0;
      model.backward(grad);
      opt.step();
      steps++;
    }
    const last = losses[losses.length - 1];
    console.log(`[overfit${freezeHead ? ', head frozen' : ''}] ${steps} steps, loss ${losses[0].toFixed(4)} -> ${last.toFixed(4)}`);
    expect(streak, `not 100% accurate for ${STREAK} steps in a row after ${steps} steps`).toBeGreaterThanOrEqual(STREAK);
    expect(last).toBeLessThan(losses[0] / 4);
    // The memorization must not hang on the last step's dropout mask: with
    // Dropout off (BN still on batch statistics) the batch is still all correct.
    model.classifier.at(0).eval();
    const noDropout = argmaxRows(noGrad(() => model.forward(x)));
    expect(noDropout).toEqual(labels);
    return model;
  }

  it(`reaches 100% training accuracy on ${BATCH} random ${SIZE}x${SIZE} images within ${MAX_STEPS} Adam steps`, () => {
    overfit(false);
  });

  /*
   * A linear head alone can separate 8 random feature vectors, so the test above
   * would pass even if no gradient reached the backbone. With the head frozen at
   * its random init, only backprop through every features block can do it.
   */
  it('does so with the classifier frozen: the backbone alone learns the batch', () => {
    const model = overfit(true);
    for (const p of model.classifier.parameters()) expect(p.grad).toBeNull();
    for (const [name, p] of model.features.namedParameters('features')) expect(p.grad, name).not.toBeNull();
  });
});
