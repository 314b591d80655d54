/**
 * Node-only: `mnv2 train`, transfer learning on an image folder.
 *
 * Transforms: train = RandomResizedCrop(S) + RandomHorizontalFlip (+ ColorJitter) with
 * --augment, else Resize((S, S)); val = Resize((S, S)), as the reference linear-probe
 * recipe. Both normalize with mean = std = 0.5 (what the bundled ImageNet weights expect).
 *
 * Written in --out, each file atomically: best.pth (plain state_dict of the best val
 * epoch), last.pth (model + optimizer + scheduler + epoch, for --resume), class_indices.json,
 * metrics.json, curves.svg and confusion_matrix.svg (val, best epoch).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/rng.js';
import { MobileNetV2 } from '../models/mobilenetv2.js';
import { BatchNorm2d } from '../nn/layers/batch_norm.js';
import { Dropout } from '../nn/layers/dropout.js';
import { Linear } from '../nn/layers/linear.js';
import { noGrad } from '../nn/grad_mode.js';
import { Adam, AdamW, SGD, StepLR, CosineAnnealingLR, type Optimizer, type LRScheduler } from '../optim/index.js';
import { loadWeightsFile, saveFileAtomic } from '../io/node.js';
import { compileMobileNetV2 } from '../backend/wasm/mobilenetv2.js';
import { defaultWasmPath, loadWasmKernelsFromFile } from '../backend/wasm/node.js';
import type { WasmKernels } from '../backend/wasm/kernels.js';
import { createWasmAdamKernel } from '../backend/wasm/optim.js';
import { createWasmLinearKernel } from '../backend/wasm/linear.js';
import { createWasmExecutor } from '../backend/wasm/executor.js';
import { createParallelExecutor, createParallelInference, defaultThreads, parallelWorkerScript } from '../backend/wasm/parallel/node.js';
import type { ParallelMobileNetV2Executor } from '../backend/wasm/parallel/pool.js';
import { loadImageFolder, classIndicesJson, type ImageFolderSplit } from '../data/folder.js';
import { DataLoader, DecodePool, skippedImagesWarning, workerScriptPath } from '../data/loader.js';
import { sampleSeed, type TransformSpec } from '../data/worker.js';
import { extractFeatures, type FeatureSet } from '../train/features.js';
import { TrainingDiverged, evaluateFeatures, evaluateImages, trainEpochOnFeatures, trainEpochOnImages, type EvalResult, type TrainNet } from '../train/loop.js';
import { confusionMatrix, evalReport, type EpochMetrics } from '../train/metrics.js';
import { confusionMatrixSvg, trainingCurvesSvg } from '../train/plots.js';
import { decodeLast, encodeBest, encodeLast } from '../train/checkpoint.js';
import { inferMobileNetV2Config } from './config.js';
import { defaultWeightsPath } from './paths.js';
import { createProgress, type Progress } from './progress.js';
import type { CliIO } from './io.js';

export const NORMALIZE_MEAN = [0.5, 0.5, 0.5] as const;
export const NORMALIZE_STD = [0.5, 0.5, 0.5] as const;

export interface TrainOptions {
  data: string;
  /** A .pth/.safetensors file, 'none' for random init; default the bundled ImageNet weights. */
  weights?: string;
  alpha?: number;
  epochs: number;
  batch: number;
  lr: number;
  optimizer: 'adam' | 'sgd' | 'adamw';
  weightDecay: number;
  momentum: number;
  labelSmoothing: number;
  scheduler: 'cosine' | 'step' | 'none';
  freezeFeatures: boolean;
  bn?: 'train' | 'frozen';
  augment: boolean;
  colorJitter?: number;
  imageSize: number;
  cacheFeatures: boolean;
  out: string;
  /** true: <out>/last.pth; a string: that file. */
  resume?: boolean | string;
  seed: number;
  backend: 'wasm' | 'js';
  /** wasm: worker threads a batch is split over (default: number of cores, at most the batch size). */
  threads?: number;
  workers?: number;
  json: boolean;
  /** Stops training like Ctrl-C (for tests and embedding). */
  signal?: AbortSignal;
}

export interface TrainSummary {
  out: string;
  classes: string[];
  train: number;
  val: number;
  epochs: EpochMetrics[];
  best_acc: number | null;
  best_epoch: number | null;
  interrupted: boolean;
  /** Distinct images skipped as unreadable, over the whole run. */
  skipped_images: number;
  files: string[];
}

/** A user-facing error: printed as `mnv2: error: ...`, exit code 1. */
class UsageError extends Error {}

function checkOptions(o: TrainOptions): void {
  if (o.cacheFeatures) {
    const bad: string[] = [];
    if (o.augment) bad.push('--augment (augmented images differ every epoch)');
    if (o.bn === 'train') bad.push('--bn train (batch statistics change the features every batch)');
    if (o.colorJitter) bad.push('--color-jitter');
    if (bad.length) {
      throw new UsageError(`--cache-features needs a fixed backbone and fixed inputs, so it cannot be combined with ${bad.join(', ')}`);
    }
  }
  if (o.colorJitter && !o.augment) throw new UsageError('--color-jitter needs --augment');
  if (!(o.labelSmoothing >= 0 && o.labelSmoothing < 1)) throw new UsageError(`--label-smoothing must be in [0, 1), got ${o.labelSmoothing}`);
  if (!(o.weightDecay >= 0)) throw new UsageError(`--weight-decay must be >= 0, got ${o.weightDecay}`);
}

function makeOptimizer(o: TrainOptions, params: MobileNetV2['parameters'] extends () => infer P ? P : never): Optimizer {
  if (params.length === 0) throw new UsageError('nothing to train: every parameter is frozen');
  if (o.optimizer === 'sgd') return new SGD(params, { lr: o.lr, momentum: o.momentum, weightDecay: o.weightDecay });
  if (o.optimizer === 'adamw') return new AdamW(params, { lr: o.lr, weightDecay: o.weightDecay });
  return new Adam(params, { lr: o.lr, weightDecay: o.weightDecay });
}

function makeScheduler(o: TrainOptions, opt: Optimizer): LRScheduler | null {
  if (o.scheduler === 'cosine') return new CosineAnnealingLR(opt, { tMax: o.epochs });
  if (o.scheduler === 'step') return new StepLR(opt, { stepSize: Math.max(1, Math.floor(o.epochs / 3)), gamma: 0.1 });
  return null;
}

/** Loads pretrained weights, skipping (and reporting) keys whose shapes do not fit, as the seed does with the classifier. */
function loadPretrained(model: MobileNetV2, path: string, log: (s: string) => void): void {
  const w = loadWeightsFile(path);
  const own = model.stateDict();
  const keep = new Map<string, Tensor>();
  const skipped: string[] = [];
  for (const [k, t] of w.stateDict) {
    const target = own.get(k);
    if (!target) continue;
    if (target.shape.length === t.shape.length && target.shape.every((d, i) => d === t.shape[i])) keep.set(k, t);
    else skipped.push(`${k} [${t.shape.join(', ')}] -> [${target.shape.join(', ')}]`);
  }
  const { missingKeys, unexpectedKeys } = model.loadStateDict(keep, { strict: false });
  const unused = [...w.stateDict.keys()].filter((k) => !own.has(k));
  log(`weights: ${path}: loaded ${keep.size} tensors`);
  if (skipped.length) log(`  skipped (shape differs, newly initialized): ${skipped.join('; ')}`);
  const missing = missingKeys.filter((k) => !skipped.some((s) => s.startsWith(`${k} `)));
  if (missing.length) log(`  missing from the file (newly initialized): ${missing.join(', ')}`);
  if (unused.length || unexpectedKeys.length) log(`  ignored (not in the model): ${unused.join(', ')}`);
  if (keep.size === 0) throw new UsageError(`${path}: no tensor fits MobileNetV2 alpha ${model.alpha} (wrong --alpha?)`);
}

function transformSpec(kind: 'resize' | 'augment', o: TrainOptions): TransformSpec {
  const spec: TransformSpec = { kind, size: o.imageSize, mean: NORMALIZE_MEAN, std: NORMALIZE_STD };
  if (kind === 'augment' && o.colorJitter) {
    const s = o.colorJitter;
    spec.colorJitter = { brightness: s, contrast: s, saturation: s, hue: Math.min(0.5, s / 4) };
  }
  return spec;
}

function writeJson(path: string, value: unknown): void {
  saveFileAtomic(path, new TextEncoder().encode(`${JSON.stringify(value, null, 2)}\n`));
}

export async function trainCommand(o: TrainOptions, io: CliIO): Promise<number> {
  const log = (s: string) => io.stderr.write(`${s}\n`);
  let pool: DecodePool | null = null;
  const cleanups: (() => Promise<void>)[] = [];
  let interrupted = false;
  const onSigint = () => {
    interrupted = true;
    log('interrupted: finishing the current batch and saving last.pth (Ctrl-C again to force quit)');
    process.removeListener('SIGINT', onSigint);
  };
  process.on('SIGINT', onSigint);
  try {
    return await train(o, io, log, () => interrupted || !!o.signal?.aborted, (p) => (pool = p), (c) => cleanups.push(c));
  } catch (e) {
    if (e instanceof UsageError || e instanceof TrainingDiverged) {
      log(`mnv2: error: ${e.message}`);
      return 1;
    }
    log(`mnv2: error: ${(e as Error).message}`);
    return 1;
  } finally {
    process.removeListener('SIGINT', onSigint);
    for (const c of cleanups) await c();
    await (pool as DecodePool | null)?.close();
  }
}

async function train(
  o: TrainOptions,
  io: CliIO,
  log: (s: string) => void,
  stopped: () => boolean,
  setPool: (p: DecodePool) => void,
  onCleanup: (c: () => Promise<void>) => void,
): Promise<number> {
  const opts: TrainOptions = { ...o, bn: o.bn ?? (o.cacheFeatures ? 'frozen' : 'train'), freezeFeatures: o.freezeFeatures || o.cacheFeatures };
  checkOptions(opts);
  const t0 = performance.now();
  const ds: ImageFolderSplit = loadImageFolder(opts.data);
  const classes = ds.classes;
  const numClasses = classes.length;
  if (numClasses < 2) throw new UsageError(`${opts.data}: found ${numClasses} class folder; classification needs at least 2`);
  log(`data: ${opts.data} (${ds.layout}): ${numClasses} classes [${classes.join(', ')}], ${ds.train.length} train / ${ds.val.length} val images`);
  if (ds.skipped.length) log(`  skipped ${ds.skipped.length} non-image file(s), e.g. ${ds.skipped[0]}`);
  if (ds.val.length === 0) log('  warning: the val split is empty; best.pth will be the last epoch');

  mkdirSync(opts.out, { recursive: true });
  const files = {
    best: join(opts.out, 'best.pth'),
    last: join(opts.out, 'last.pth'),
    classes: join(opts.out, 'class_indices.json'),
    metrics: join(opts.out, 'metrics.json'),
    curves: join(opts.out, 'curves.svg'),
    confusion: join(opts.out, 'confusion_matrix.svg'),
  };

  // Model: alpha from --alpha, the resumed checkpoint, or the pretrained weights.
  const resumePath = opts.resume === true ? files.last : typeof opts.resume === 'string' ? opts.resume : undefined;
  const resumed = resumePath ? decodeLast(readBytes(resumePath), resumePath) : undefined;
  if (resumed && resumed.state.classes.join('\n') !== classes.join('\n')) {
    throw new UsageError(`${resumePath}: trained on classes [${resumed.state.classes.join(', ')}], but ${opts.data} has [${classes.join(', ')}]`);
  }
  const weightsPath = opts.weights === 'none' ? undefined : (opts.weights ?? defaultWeightsPath());
  let alpha = opts.alpha ?? resumed?.state.alpha;
  if (alpha === undefined && weightsPath) alpha = inferMobileNetV2Config(loadWeightsFile(weightsPath).stateDict, { name: weightsPath }).alpha;
  alpha ??= 1.0;
  const model = new MobileNetV2({ numClasses, alpha, rng: new Rng(opts.seed) });
  if (resumed) {
    model.loadStateDict(resumed.model, { strict: true });
    log(`resume: ${resumePath}: ${resumed.state.epoch} epoch(s) done, best val acc ${resumed.state.bestAcc.toFixed(4)}`);
  } else if (weightsPath) {
    loadPretrained(model, weightsPath, log);
  } else {
    log('weights: none (random init)');
  }
  if (opts.freezeFeatures) model.features.requiresGrad_(false);
  const dropout = model.classifier.at(0) as Dropout;
  const optimizer = makeOptimizer(opts, model.parameters().filter((p) => p.requiresGrad));
  const scheduler = makeScheduler(opts, optimizer);
  if (resumed) {
    optimizer.fromTensors(resumed.optimizer, '');
    if (scheduler && resumed.state.scheduler) scheduler.loadStateDict(resumed.state.scheduler);
  }
  const startEpoch = resumed?.state.epoch ?? 0;
  let bestAcc = resumed?.state.bestAcc ?? -1;
  let bestEpoch = resumed?.state.bestEpoch ?? 0;
  let history: EpochMetrics[] = [];
  if (resumed && existsSync(files.metrics)) {
    try {
      const m = JSON.parse(readFileSync(files.metrics, 'utf8')) as { epochs?: EpochMetrics[] };
      history = (m.epochs ?? []).filter((e) => e.epoch <= startEpoch);
    } catch {
      log(`  warning: ${files.metrics} is unreadable; the metrics history restarts here`);
    }
  }
  saveFileAtomic(files.classes, new TextEncoder().encode(classIndicesJson(classes)));

  // Engines: WASM (when built) for training, the frozen backbone and eval passes, on up to
  // --threads workers; the JS reference engine otherwise.
  let kernels: WasmKernels | null = null;
  if (opts.backend === 'wasm') {
    const p = defaultWasmPath();
    if (p) kernels = loadWasmKernelsFromFile(p);
    else log('warning: build/mnv2.wasm not found (run `npm run build:wasm`); using the slower js backend');
  }
  if (opts.threads !== undefined && opts.backend === 'js') log('note: --threads applies to the wasm backend; the js backend runs on one thread');
  let threads = kernels ? Math.max(1, Math.min(opts.threads ?? defaultThreads(), opts.batch)) : 1;
  if (threads > 1 && !parallelWorkerScript()) {
    log('warning: parallel worker script not built (run `npm run build`); training on one thread');
    threads = 1;
  }
  let trainNet: TrainNet = model;
  let parallel: ParallelMobileNetV2Executor | null = null;
  if (kernels && !opts.cacheFeatures) {
    if (threads > 1) {
      const pe = await createParallelExecutor(model, { threads });
      onCleanup(() => pe.close());
      trainNet = parallel = pe;
    } else {
      // Its own kernel instance: the eval plans compiled every epoch must not share its arena's memory.
      trainNet = createWasmExecutor(loadWasmKernelsFromFile(defaultWasmPath()), model);
    }
    log(`training on wasm, ${threads} thread${threads > 1 ? 's' : ''}`);
  }
  // Adam's update on wasm too (bit-identical to the JS loop), on a kernel instance of its own;
  // with workers, a worker takes the backbone's updates while this thread does the head's.
  if (kernels && optimizer instanceof Adam) {
    optimizer.kernel = parallel ? parallel.adamKernel(optimizer) : createWasmAdamKernel(loadWasmKernelsFromFile(defaultWasmPath()));
  }
  // And the classifier's products (the head trains on cached features or after the backbone).
  const head = model.classifier.at(1);
  if (kernels && head instanceof Linear) head.kernel = createWasmLinearKernel(loadWasmKernelsFromFile(defaultWasmPath()));
  let pool: DecodePool | null = null;
  if (opts.workers === 0) {
    // decoding on the main thread, as asked
  } else if (workerScriptPath()) {
    setPool((pool = new DecodePool(opts.workers)));
  } else {
    log('warning: decode worker script not built (run `npm run build`); decoding on the main thread');
  }
  const progress: Progress = createProgress(io);
  const evalSpec = transformSpec('resize', opts);
  const trainSpec = transformSpec(opts.augment ? 'augment' : 'resize', opts);
  // Unreadable images are dropped by the loaders; each phase (feature extraction, or an
  // epoch) ends with one warning naming the ones it met.
  const skippedAll = new Map<string, string>();
  let phaseLoaders: DataLoader[] = [];
  const loaderOf = (samples: typeof ds.train, spec: TransformSpec, shuffle: boolean, batchSize: number) => {
    const l = new DataLoader(samples, { batchSize, transform: spec, shuffle, seed: opts.seed, pool });
    phaseLoaders.push(l);
    return l;
  };
  const reportSkipped = () => {
    const phase = new Map<string, string>();
    for (const l of phaseLoaders) for (const [p, why] of l.skipped) phase.set(p, why);
    phaseLoaders = [];
    for (const [p, why] of phase) skippedAll.set(p, why);
    const w = skippedImagesWarning(phase, (p) => relative(opts.data, p) || p);
    if (w) log(`warning: ${w}`);
  };

  const config = { numClasses, alpha };
  const evalBatch = Math.min(32, Math.max(8, opts.batch));
  let trainSet: FeatureSet | null = null;
  let valSet: FeatureSet | null = null;

  // --cache-features: the backbone (eval mode, frozen BN) runs once per image.
  if (opts.cacheFeatures) {
    model.eval();
    // Features are frozen and BN is in eval mode, so the workers' executors run the folded inference plan.
    const cacheThreads = kernels && parallelWorkerScript() ? Math.max(1, Math.min(opts.threads ?? defaultThreads(), evalBatch)) : 1;
    const pe = cacheThreads > 1 ? await createParallelExecutor(model, { threads: cacheThreads }) : null;
    if (pe) onCleanup(() => pe.close());
    const net = kernels && !pe ? compileMobileNetV2(kernels, model.stateDict(), config) : null;
    const backbone = pe
      ? (x: Tensor) => pe.forwardFeatures(x)
      : net
        ? (x: Tensor) => net.forwardPooled(x)
        : (x: Tensor) => noGrad(() => model.pool(model.forwardFeatures(x)));
    const what = pe ? `wasm backbone, ${cacheThreads} threads` : net ? 'wasm backbone' : 'js backbone';
    const extract = async (samples: typeof ds.train, label: string) => {
      progress.start(label, samples.length);
      const set = await extractFeatures(loaderOf(samples, evalSpec, false, evalBatch).epoch(0), samples.length, backbone, (d) => progress.update(d));
      progress.stop(`(${what}, ${set.dim} features per image)`);
      return set;
    };
    trainSet = await extract(ds.train, 'features train');
    if (ds.val.length) valSet = await extract(ds.val, 'features val');
    await pe?.close();
    reportSkipped();
  }

  let lastVal: EvalResult | null = null;
  let bestConfusion: number[][] | null = null;
  const saveLast = (epochsDone: number) =>
    saveFileAtomic(
      files.last,
      encodeLast(model.stateDict(), optimizer.toTensors(''), {
        epoch: epochsDone, bestAcc, bestEpoch, classes, alpha: alpha!, seed: opts.seed, optimizer: opts.optimizer,
        scheduler: scheduler ? scheduler.stateDict() : null,
      }),
    );
  const writeMetrics = () => {
    writeJson(files.metrics, {
      arch: 'mobilenet_v2', alpha, classes, image_size: opts.imageSize, normalize: { mean: NORMALIZE_MEAN, std: NORMALIZE_STD },
      options: { epochs: opts.epochs, batch: opts.batch, lr: opts.lr, optimizer: opts.optimizer, weight_decay: opts.weightDecay,
        label_smoothing: opts.labelSmoothing, scheduler: opts.scheduler, freeze_features: opts.freezeFeatures, bn: opts.bn,
        augment: opts.augment, cache_features: opts.cacheFeatures, seed: opts.seed, backend: opts.backend, threads, weights: weightsPath ?? null },
      train_images: ds.train.length, val_images: ds.val.length, skipped_images: skippedAll.size, best_acc: bestAcc >= 0 ? bestAcc : null, best_epoch: bestEpoch || null,
      epochs: history,
    });
    saveFileAtomic(files.curves, new TextEncoder().encode(trainingCurvesSvg(history)));
  };

  // Checkpoints of a 3.5M-parameter model take a moment to write, so fast (cached-feature)
  // epochs flush them at most every FLUSH_EVERY_S seconds, and always at the end or on Ctrl-C.
  let bestState: Map<string, Tensor> | null = null;
  let epochsDone = startEpoch;
  let lastFlush = performance.now();
  const flush = () => {
    if (bestState) {
      saveFileAtomic(files.best, encodeBest(bestState));
      bestState = null;
    }
    saveLast(epochsDone);
    writeMetrics();
    lastFlush = performance.now();
  };
  let wasInterrupted = stopped();
  for (let epoch = startEpoch + 1; epoch <= opts.epochs && !wasInterrupted; epoch++) {
    const te = performance.now();
    dropout.rng = new Rng(sampleSeed(opts.seed, epoch, -2));
    const lr = optimizer.paramGroups[0].lr;
    progress.start(`epoch ${epoch}/${opts.epochs}`, trainSet ? trainSet.count : ds.train.length);
    const hooks = { onBatch: (d: number, loss: number, acc: number) => progress.update(d, { loss, acc }), shouldStop: stopped };
    const step = { labelSmoothing: opts.labelSmoothing, epoch };
    let r;
    if (trainSet) {
      r = trainEpochOnFeatures(model, optimizer, trainSet, opts.batch, new Rng(sampleSeed(opts.seed, epoch, -1)), step, hooks);
    } else {
      model.train();
      if (opts.bn === 'frozen') for (const m of model.modules()) if (m instanceof BatchNorm2d) m.eval();
      r = await trainEpochOnImages(model, optimizer, loaderOf(ds.train, trainSpec, true, opts.batch).epoch(epoch), step, hooks, trainNet);
    }
    if (r.stopped) {
      progress.stop('interrupted');
      reportSkipped();
      wasInterrupted = true;
      break;
    }
    let val: EvalResult | null = null;
    if (valSet) val = evaluateFeatures(model, valSet);
    else if (ds.val.length) {
      model.eval();
      const evalThreads = Math.min(threads, evalBatch);
      if (kernels && evalThreads > 1) {
        const inf = await createParallelInference(model.stateDict(), config, { threads: evalThreads });
        try {
          val = await evaluateImages((x) => inf.forward(x), loaderOf(ds.val, evalSpec, false, evalBatch).epoch(0), ds.val.length, numClasses);
        } finally {
          await inf.close();
        }
      } else {
        const net = kernels ? compileMobileNetV2(kernels, model.stateDict(), config) : null;
        const fwd = net ? (x: Tensor) => net.forward(x) : (x: Tensor) => noGrad(() => model.forward(x));
        val = await evaluateImages(fwd, loaderOf(ds.val, evalSpec, false, evalBatch).epoch(0), ds.val.length, numClasses);
      }
    }
    scheduler?.step();
    const m: EpochMetrics = {
      epoch, train_loss: r.loss, train_acc: r.acc, val_loss: val?.loss ?? null, val_acc: val?.acc ?? null, lr,
      time_s: (performance.now() - te) / 1000,
    };
    history.push(m);
    lastVal = val;
    const score = val ? val.acc : -1;
    if (!val || score > bestAcc) {
      bestAcc = val ? score : bestAcc;
      bestEpoch = epoch;
      bestState = cloneState(model.stateDict());
      if (val) {
        bestConfusion = confusionMatrix(val.labels, val.preds, numClasses);
        saveFileAtomic(files.confusion, new TextEncoder().encode(confusionMatrixSvg(bestConfusion, classes, `val confusion matrix, epoch ${epoch} (rows: true, columns: predicted)`)));
      }
    }
    epochsDone = epoch;
    if (epoch < opts.epochs && performance.now() - lastFlush > FLUSH_EVERY_S * 1000) flush();
    progress.stop(`loss ${r.loss.toFixed(4)} acc ${r.acc.toFixed(4)}${val ? ` | val loss ${val.loss.toFixed(4)} acc ${val.acc.toFixed(4)}` : ''} | lr ${lr.toPrecision(3)}`);
    reportSkipped();
    wasInterrupted = stopped();
  }
  // After a Ctrl-C the weights may be mid-epoch; last.pth still counts only the finished epochs.
  if (history.length || wasInterrupted) flush();
  if (wasInterrupted) log(`interrupted: saved ${files.last} (${epochsDone} epoch(s) done; continue with --resume)`);
  if (history.length === 0 && !wasInterrupted) log(`nothing to do: ${startEpoch} of ${opts.epochs} epochs already done`);

  const summary: TrainSummary = {
    out: opts.out, classes, train: ds.train.length, val: ds.val.length, epochs: history,
    best_acc: bestAcc >= 0 ? bestAcc : null, best_epoch: bestEpoch || null, interrupted: wasInterrupted,
    skipped_images: skippedAll.size,
    files: Object.values(files).filter((f) => existsSync(f)),
  };
  if (opts.json) io.stdout.write(`${JSON.stringify(summary)}\n`);
  else {
    const report = bestConfusion ? evalReport(bestConfusion, classes) : null;
    const lines = [
      `trained ${history.length ? `epochs ${history[0].epoch}-${history[history.length - 1].epoch}` : 'no epochs'} in ${((performance.now() - t0) / 1000).toFixed(1)} s`,
      bestAcc >= 0 ? `best val accuracy ${bestAcc.toFixed(4)} (epoch ${bestEpoch}${report ? `, ${report.correct}/${report.total}` : ''})` : 'no val accuracy (empty val split)',
      lastVal ? `last val accuracy ${lastVal.acc.toFixed(4)}` : '',
      `wrote ${summary.files.join(', ')}`,
    ].filter(Boolean);
    io.stdout.write(`${lines.join('\n')}\n`);
  }
  return wasInterrupted ? 130 : 0;
}

const FLUSH_EVERY_S = 30;

function cloneState(sd: Map<string, Tensor>): Map<string, Tensor> {
  return new Map([...sd].map(([k, t]) => [k, t.clone()]));
}

function readBytes(path: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    throw new UsageError(`${path}: cannot read checkpoint (${code === 'ENOENT' ? 'no such file; nothing to resume' : (e as Error).message})`);
  }
}
