/**
 * Node-only: `mnv2 eval`, accuracy, per-class precision/recall and the confusion matrix of
 * a trained model on an image folder (val split by default), with the training's val
 * transform: Resize((S, S)) and Normalize(0.5, 0.5).
 */
import { existsSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { loadWeightsFile } from '../io/node.js';
import { loadImageFolder, type Sample } from '../data/folder.js';
import { DataLoader, DecodePool, skippedImagesWarning, workerScriptPath } from '../data/loader.js';
import { evaluateImages } from '../train/loop.js';
import { confusionMatrix, evalReport, type EvalReport } from '../train/metrics.js';
import { inferMobileNetV2Config } from './config.js';
import { createEngine, type BackendName } from './engine.js';
import { loadClassIndicesFile } from './labels.js';
import { table } from './format.js';
import { NORMALIZE_MEAN, NORMALIZE_STD } from './train.js';
import type { CliIO } from './io.js';

export interface EvalOptions {
  data: string;
  weights: string;
  classes?: string;
  split: 'val' | 'train' | 'all';
  imageSize: number;
  batch: number;
  backend: BackendName;
  alpha?: number;
  workers?: number;
  json: boolean;
}

const pct = (v: number | null) => (v === null ? '-' : v.toFixed(4));

export function formatReport(r: EvalReport): string[] {
  const out = [`accuracy ${r.accuracy.toFixed(4)} (${r.correct}/${r.total})`, ''];
  out.push(...table([['class', 'precision', 'recall', 'images'], ...r.perClass.map((c) => [c.name, pct(c.precision), pct(c.recall), String(c.support)])], [1, 2, 3]));
  out.push('', 'confusion matrix (rows: true class, columns: predicted)');
  const names = r.perClass.map((c) => c.name);
  out.push(...table([['', ...names], ...r.confusion.map((row, i) => [names[i], ...row.map(String)])], names.map((_, i) => i + 1)));
  return out;
}

export async function evalCommand(o: EvalOptions, io: CliIO): Promise<number> {
  let pool: DecodePool | null = null;
  try {
    const ds = loadImageFolder(o.data);
    const w = loadWeightsFile(o.weights);
    const config = inferMobileNetV2Config(w.stateDict, { alpha: o.alpha, name: o.weights });
    const besideWeights = join(dirname(o.weights), 'class_indices.json');
    const classesPath = o.classes ?? (existsSync(besideWeights) ? besideWeights : undefined);
    const classes = classesPath ? loadClassIndicesFile(classesPath) : ds.classes;
    const source = classesPath ?? `${o.data} (class folders)`;
    if (classes.length !== config.numClasses) {
      throw new Error(`${source}: has ${classes.length} classes but ${o.weights} has ${config.numClasses}`);
    }
    // Folder labels -> the model's class indices, by name.
    const remap = ds.classes.map((c) => {
      const i = classes.indexOf(c);
      if (i < 0) throw new Error(`${o.data}: class folder '${c}' is not one of the model's classes in ${source} [${classes.join(', ')}]`);
      return i;
    });
    const pick = o.split === 'val' ? ds.val : o.split === 'train' ? ds.train : [...ds.train, ...ds.val];
    const samples: Sample[] = pick.map((s) => ({ path: s.path, label: remap[s.label] }));
    if (samples.length === 0) throw new Error(`${o.data}: the ${o.split} split has no images`);
    const engine = createEngine(o.backend, w.stateDict, config, o.weights, (m) => io.stderr.write(`mnv2: warning: ${m}\n`));
    if (o.workers !== 0 && workerScriptPath()) pool = new DecodePool(o.workers);
    const loader = new DataLoader(samples, {
      batchSize: o.batch,
      transform: { kind: 'resize', size: o.imageSize, mean: NORMALIZE_MEAN, std: NORMALIZE_STD },
      pool,
    });
    const r = await evaluateImages((x) => engine.forward(x), loader.epoch(0), samples.length, config.numClasses);
    const warning = skippedImagesWarning(loader.skipped, (p) => relative(o.data, p) || p);
    if (warning) io.stderr.write(`mnv2: warning: ${warning}\n`);
    const report = evalReport(confusionMatrix(r.labels, r.preds, config.numClasses), classes);
    const skipped = loader.skipped.size;
    if (o.json) {
      io.stdout.write(`${JSON.stringify({ weights: o.weights, data: o.data, split: o.split, loss: r.loss, skipped_images: skipped, ...report })}\n`);
    } else {
      const images = `${samples.length - skipped} images${skipped ? `, ${skipped} unreadable skipped` : ''}`;
      io.stdout.write(`${[`${o.weights} on ${o.data} (${o.split} split, ${images}, ${engine.backend} backend)`, ...formatReport(report)].join('\n')}\n`);
    }
    return 0;
  } catch (e) {
    io.stderr.write(`mnv2: error: ${(e as Error).message}\n`);
    return 1;
  } finally {
    await pool?.close();
  }
}
