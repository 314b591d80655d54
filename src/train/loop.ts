/**
 * One epoch of training or evaluation (runtime-safe): on cached pooled features (the
 * head alone) or on image batches (the whole module, backprop stopping at the head
 * when the features are frozen).
 */
import { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../tensor/rng.js';
import { crossEntropy } from '../ops/cross_entropy.js';
import { noGrad } from '../nn/grad_mode.js';
import type { Module } from '../nn/module.js';
import type { MobileNetV2 } from '../models/mobilenetv2.js';
import type { Optimizer } from '../optim/optimizer.js';
import { argmaxRows } from './metrics.js';
import { gatherRows, type FeatureSet, type ImageBatch } from './features.js';

/** Thrown when the loss or logits stop being finite; nothing from that step should be saved. */
export class TrainingDiverged extends Error {}

export interface EpochResult {
  loss: number;
  acc: number;
  count: number;
  /** True when `shouldStop` ended the epoch early. */
  stopped: boolean;
}

export interface EpochHooks {
  /** After each batch: samples done so far and running mean loss / accuracy. */
  onBatch?: (done: number, loss: number, acc: number) => void;
  shouldStop?: () => boolean;
}

export interface StepOptions {
  labelSmoothing: number;
  /** For error messages. */
  epoch: number;
}

function lossAndGrad(logits: Tensor, labels: Int32Array, o: StepOptions, batch: number): { loss: number; grad: Tensor } {
  let r;
  try {
    r = crossEntropy(logits, labels, { labelSmoothing: o.labelSmoothing });
  } catch (e) {
    const msg = (e as Error).message;
    if (/NaN|Inf/.test(msg)) throw new TrainingDiverged(`training diverged in epoch ${o.epoch}, batch ${batch}: ${msg}; try a lower --lr`);
    throw e;
  }
  if (!Number.isFinite(r.loss)) throw new TrainingDiverged(`training diverged in epoch ${o.epoch}, batch ${batch}: loss is ${r.loss}; try a lower --lr`);
  return r;
}

function countCorrect(logits: Tensor, labels: Int32Array): number {
  const pred = argmaxRows(logits.data, logits.shape[1]);
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (pred[i] === labels[i]) c++;
  return c;
}

/** One optimizer step of `head` ([B, C] -> logits) or the whole model on a batch. */
function step(net: Module, optimizer: Optimizer, x: Tensor, labels: Int32Array, o: StepOptions, batch: number): { loss: number; correct: number } {
  const logits = net.forward(x);
  const { loss, grad } = lossAndGrad(logits, labels, o, batch);
  optimizer.zeroGrad();
  net.backward(grad, false);
  optimizer.step();
  return { loss, correct: countCorrect(logits, labels) };
}

/**
 * What trains on image batches: the module itself, or an executor with the same interface
 * (the wasm executor, or the multi-core one whose forward/backward are async).
 */
export interface TrainNet {
  forward(x: Tensor): Tensor | Promise<Tensor>;
  backward(gradLogits: Tensor, needInputGrad: boolean): Tensor | null | Promise<Tensor | null>;
}

async function stepAsync(net: TrainNet, optimizer: Optimizer, x: Tensor, labels: Int32Array, o: StepOptions, batch: number): Promise<{ loss: number; correct: number }> {
  const logits = await net.forward(x);
  const { loss, grad } = lossAndGrad(logits, labels, o, batch);
  optimizer.zeroGrad();
  await net.backward(grad, false);
  optimizer.step();
  return { loss, correct: countCorrect(logits, labels) };
}

/** The head (`model.classifier`, train mode: dropout on) over the cached features, in an order drawn from `rng`. */
export function trainEpochOnFeatures(
  model: MobileNetV2,
  optimizer: Optimizer,
  set: FeatureSet,
  batchSize: number,
  rng: Rng,
  o: StepOptions,
  hooks: EpochHooks = {},
): EpochResult {
  model.classifier.train();
  const order = rng.shuffle(Array.from({ length: set.count }, (_, i) => i));
  let lossSum = 0;
  let correct = 0;
  let done = 0;
  for (let s = 0, b = 0; s < order.length; s += batchSize, b++) {
    if (hooks.shouldStop?.()) return { loss: done ? lossSum / done : NaN, acc: done ? correct / done : 0, count: done, stopped: true };
    const { x, labels } = gatherRows(set, order.slice(s, s + batchSize));
    const r = step(model.classifier, optimizer, x, labels, o, b);
    lossSum += r.loss * labels.length;
    correct += r.correct;
    done += labels.length;
    hooks.onBatch?.(done, lossSum / done, correct / done);
  }
  return { loss: lossSum / done, acc: correct / done, count: done, stopped: false };
}

/**
 * The whole model (in whatever train/eval modes the caller set) over image batches, on `net`
 * (default: the module tree itself).
 */
export async function trainEpochOnImages(
  model: MobileNetV2,
  optimizer: Optimizer,
  batches: AsyncIterable<ImageBatch>,
  o: StepOptions,
  hooks: EpochHooks = {},
  net: TrainNet = model,
): Promise<EpochResult> {
  let lossSum = 0;
  let correct = 0;
  let done = 0;
  let b = 0;
  for await (const batch of batches) {
    if (hooks.shouldStop?.()) return { loss: done ? lossSum / done : NaN, acc: done ? correct / done : 0, count: done, stopped: true };
    const r = await stepAsync(net, optimizer, batch.x, batch.labels, o, b++);
    model.clearCache();
    lossSum += r.loss * batch.labels.length;
    correct += r.correct;
    done += batch.labels.length;
    hooks.onBatch?.(done, lossSum / done, correct / done);
  }
  if (done === 0) throw new Error(`epoch ${o.epoch}: no training image could be loaded`);
  return { loss: lossSum / done, acc: correct / done, count: done, stopped: false };
}

export interface EvalResult {
  loss: number;
  acc: number;
  labels: Int32Array;
  preds: Int32Array;
}

function finishEval(logitRows: Float32Array, labels: Int32Array, numClasses: number): EvalResult {
  const logits = new Tensor(logitRows, [labels.length, numClasses]);
  let loss: number;
  try {
    loss = crossEntropy(logits, labels).loss;
  } catch (e) {
    const msg = (e as Error).message;
    if (/NaN|Inf/.test(msg)) throw new TrainingDiverged(`training diverged (evaluation): ${msg}; try a lower --lr`);
    throw e;
  }
  const preds = argmaxRows(logitRows, numClasses);
  let c = 0;
  for (let i = 0; i < labels.length; i++) if (preds[i] === labels[i]) c++;
  return { loss, acc: c / labels.length, labels, preds };
}

/** Eval-mode head over cached features (plain cross-entropy, no label smoothing). */
export function evaluateFeatures(model: MobileNetV2, set: FeatureSet): EvalResult {
  const was = model.classifier.training;
  model.classifier.eval();
  try {
    const logits = noGrad(() => model.classifier.forward(new Tensor(set.features, [set.count, set.dim])));
    return finishEval(logits.data, set.labels, logits.shape[1]);
  } finally {
    model.classifier.train(was);
  }
}

/**
 * `forward` (eval mode, images -> logits) over every batch; results in dataset order, over the
 * samples the batches delivered (a loader drops unreadable ones) out of `count`.
 */
export async function evaluateImages(forward: (x: Tensor) => Tensor | Promise<Tensor>, batches: AsyncIterable<ImageBatch>, count: number, numClasses: number): Promise<EvalResult> {
  const rows = new Float32Array(count * numClasses);
  const labels = new Int32Array(count).fill(-1);
  for await (const b of batches) {
    const logits = await forward(b.x);
    b.indices.forEach((i, j) => {
      rows.set(logits.data.subarray(j * numClasses, (j + 1) * numClasses), i * numClasses);
      labels[i] = b.labels[j];
    });
  }
  const seen: number[] = [];
  labels.forEach((l, i) => l >= 0 && seen.push(i));
  if (seen.length === 0) throw new Error(`evaluateImages: none of the ${count} samples could be loaded`);
  if (seen.length === count) return finishEval(rows, labels, numClasses);
  const kept = new Float32Array(seen.length * numClasses);
  seen.forEach((i, r) => kept.set(rows.subarray(i * numClasses, (i + 1) * numClasses), r * numClasses));
  return finishEval(kept, Int32Array.from(seen, (i) => labels[i]), numClasses);
}
