/** Node-only: `mnv2 predict`. */
import { basename } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { softmax } from '../ops/softmax.js';
import { loadWeightsFile } from '../io/node.js';
import { decodeImageFile } from '../data/decode.js';
import { centerCrop, resizeShorter, toNormalizedTensor } from '../data/transforms.js';
import { inferMobileNetV2Config } from './config.js';
import { createThreadedEngine, type BackendName, type ThreadedEngine } from './engine.js';
import { labelsFromCheckpoint, loadClassIndicesFile, loadLabelsFile } from './labels.js';
import { defaultLabelsPath, defaultWeightsPath } from './paths.js';
import { formatMs, table } from './format.js';
import type { CliIO } from './io.js';

export interface PredictOptions {
  weights?: string;
  key?: string;
  labels?: string;
  classes?: string;
  topk: number;
  json: boolean;
  backend: BackendName;
  alpha?: number;
  imageSize: number;
  resize: number;
  mean: readonly [number, number, number];
  std: readonly [number, number, number];
  batchSize: number;
  /** Worker threads for wasm inference of multi-image batches (default 1; at most the batch size). */
  threads?: number;
}

export interface TopEntry {
  index: number;
  label: string;
  prob: number;
}

export type PredictResult = { file: string; top: TopEntry[]; ms: number } | { file: string; error: string };

/** The k largest probabilities, highest first; ties keep the lower index first, like torch.topk on CPU. */
export function topK(probs: Float32Array, k: number): { index: number; prob: number }[] {
  const idx = Array.from(probs.keys());
  idx.sort((a, b) => probs[b] - probs[a] || a - b);
  return idx.slice(0, Math.min(k, probs.length)).map((index) => ({ index, prob: probs[index] }));
}

function resolveLabels(opts: PredictOptions, extra: Record<string, unknown>, numClasses: number, usingDefaultWeights: boolean): { labels: string[]; source: string } | undefined {
  if (opts.labels && opts.classes) throw new Error('use either --labels or --classes, not both');
  if (opts.labels) return { labels: loadLabelsFile(opts.labels), source: opts.labels };
  if (opts.classes) return { labels: loadClassIndicesFile(opts.classes), source: opts.classes };
  const fromCheckpoint = labelsFromCheckpoint(extra);
  if (fromCheckpoint) return { labels: fromCheckpoint, source: `${opts.weights} (checkpoint 'classes')` };
  // Custom 1000-class weights are ImageNet classifiers in practice: give them the bundled names.
  if (usingDefaultWeights || numClasses === 1000) {
    const p = defaultLabelsPath();
    return { labels: loadLabelsFile(p), source: p };
  }
  return undefined;
}

async function preprocess(file: string, opts: PredictOptions): Promise<Tensor> {
  const img = await decodeImageFile(file);
  if (img.width === 0 || img.height === 0) throw new Error(`${file}: image has no pixels (${img.width}x${img.height})`);
  return toNormalizedTensor(centerCrop(resizeShorter(img, opts.resize), opts.imageSize), opts.mean, opts.std);
}

/** Runs predictions; returns the exit code (1 when any image, or the setup, failed). */
export async function predictCommand(images: string[], opts: PredictOptions, io: CliIO): Promise<number> {
  const err = (msg: string) => io.stderr.write(`mnv2: ${msg}\n`);
  const usingDefaultWeights = opts.weights === undefined;
  const weightsPath = opts.weights ?? defaultWeightsPath();

  let engine: ThreadedEngine;
  let labels: string[] | undefined;
  let numClasses: number;
  const tLoad = performance.now();
  try {
    const w = loadWeightsFile(weightsPath, { key: opts.key });
    const config = inferMobileNetV2Config(w.stateDict, { alpha: opts.alpha, name: weightsPath });
    numClasses = config.numClasses;
    const found = resolveLabels({ ...opts, weights: weightsPath }, w.extra, numClasses, usingDefaultWeights);
    if (found && found.labels.length !== numClasses) {
      throw new Error(`${found.source}: has ${found.labels.length} labels but ${weightsPath} has ${numClasses} classes`);
    }
    labels = found?.labels;
    // Default one thread: starting workers (each compiles the model) costs more than it saves on a few images.
    const threads = Math.max(1, Math.min(opts.threads ?? 1, opts.batchSize, images.length));
    engine = await createThreadedEngine(opts.backend, w.stateDict, config, weightsPath, (m) => err(`warning: ${m}`), threads);
  } catch (e) {
    err(`error: ${(e as Error).message}`);
    return 1;
  }
  const loadMs = performance.now() - tLoad;

  try {
    return await predictWith(engine, images, opts, io, err, labels, numClasses, weightsPath, loadMs);
  } finally {
    await engine.close();
  }
}

async function predictWith(
  engine: ThreadedEngine,
  images: string[],
  opts: PredictOptions,
  io: CliIO,
  err: (msg: string) => void,
  labels: string[] | undefined,
  numClasses: number,
  weightsPath: string,
  loadMs: number,
): Promise<number> {
  const results: (PredictResult | undefined)[] = new Array(images.length);
  const ready: { i: number; x: Tensor }[] = [];
  for (let i = 0; i < images.length; i++) {
    try {
      ready.push({ i, x: await preprocess(images[i], opts) });
    } catch (e) {
      results[i] = { file: images[i], error: (e as Error).message };
    }
  }

  // Same-shaped inputs (all of them, after the center crop) share one forward pass per batch.
  const groups = new Map<string, { i: number; x: Tensor }[]>();
  for (const r of ready) {
    const key = r.x.shape.join('x');
    if (!groups.has(key)) groups.set(key, []);
    groups.get(key)!.push(r);
  }
  for (const group of groups.values()) {
    for (let s = 0; s < group.length; s += opts.batchSize) {
      const batch = group.slice(s, s + opts.batchSize);
      const [c, h, w] = batch[0].x.shape;
      const data = new Float32Array(batch.length * c * h * w);
      batch.forEach((b, j) => data.set(b.x.data, j * c * h * w));
      const t0 = performance.now();
      const probs = softmax(await engine.forward(new Tensor(data, [batch.length, c, h, w])));
      const ms = (performance.now() - t0) / batch.length;
      batch.forEach((b, j) => {
        const row = probs.data.subarray(j * numClasses, (j + 1) * numClasses);
        const top = topK(row, opts.topk).map(({ index, prob }) => ({ index, label: labels?.[index] ?? `class ${index}`, prob }));
        results[b.i] = { file: images[b.i], top, ms };
      });
    }
  }

  let failed = false;
  for (const r of results) {
    if (r && 'error' in r) {
      failed = true;
      err(`error: ${r.error}`);
    }
  }
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(results)}\n`);
  } else {
    const out: string[] = [];
    for (const r of results) {
      if (!r || 'error' in r) continue;
      out.push(`${r.file}  (${engine.backend}, ${formatMs(r.ms)})`);
      out.push(...table(r.top.map((t, n) => [`  ${n + 1}.`, t.label, t.prob.toFixed(4)]), [0, 2]));
    }
    if (ready.length) out.push(`model: ${basename(weightsPath)} loaded in ${formatMs(loadMs)} (${engine.backend} backend${engine.threads > 1 ? `, ${engine.threads} threads` : ''})`);
    if (out.length) io.stdout.write(`${out.join('\n')}\n`);
  }
  return failed ? 1 : 0;
}

