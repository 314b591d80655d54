// The linear-probe recipe, as gen_fixtures.py's `flowers` section runs it in PyTorch:
// pooled features of the frozen ImageNet MobileNetV2 (eval mode, Resize((224, 224)),
// Normalize(0.5)), then a fresh nn.Linear(1280, 5) (PyTorch's default init, no dropout:
// the probe calls head(features) directly) trained for 300 full-batch Adam(lr 1e-3) steps
// on plain cross-entropy; the score is the val accuracy after the last step.
import { IMAGE_SIZE, MEAN, STD, lib, now, progressLogger } from './common.mjs';
import { loadFeatureCache, saveFeatureCache, splitDigest } from './feature_cache.mjs';

const PREPROCESS = `Resize((${IMAGE_SIZE}, ${IMAGE_SIZE})), Normalize(${MEAN.join(',')}; ${STD.join(',')}), eval-mode backbone, pooled`;

/** Pooled features of `samples` on the single-thread wasm plan (as `mnv2 train --cache-features`). */
async function extract(samples, label, backbone, pool, batchSize) {
  const { DataLoader } = await lib('data/loader.js');
  const { extractFeatures } = await lib('train/features.js');
  const loader = new DataLoader(samples, { batchSize, transform: { kind: 'resize', size: IMAGE_SIZE, mean: MEAN, std: STD }, shuffle: false, pool });
  return extractFeatures(loader.epoch(0), samples.length, backbone, progressLogger(`features ${label}`, samples.length));
}

export async function extractAll(ds, opts) {
  const { MobileNetV2 } = await lib('models/mobilenetv2.js');
  const { loadWeightsFile } = await lib('io/node.js');
  const { compileMobileNetV2 } = await lib('backend/wasm/mobilenetv2.js');
  const { defaultWasmPath, loadWasmKernelsFromFile } = await lib('backend/wasm/node.js');
  const { DecodePool, workerScriptPath } = await lib('data/loader.js');
  const wasm = defaultWasmPath();
  if (!wasm) throw new Error('build/mnv2.wasm not found: run `npm run build`');
  const model = new MobileNetV2({ numClasses: 1000, alpha: 1.0 });
  model.loadStateDict(loadWeightsFile(opts.weights).stateDict, { strict: true });
  model.eval();
  const net = compileMobileNetV2(loadWasmKernelsFromFile(wasm), model.stateDict(), { numClasses: 1000, alpha: 1.0 });
  if (!workerScriptPath()) throw new Error('decode worker script not built: run `npm run build`');
  const pool = new DecodePool(opts.workers);
  try {
    const t0 = now();
    const backbone = (x) => net.forwardPooled(x);
    const train = await extract(ds.train, 'train', backbone, pool, opts.evalBatch);
    const val = await extract(ds.val, 'val', backbone, pool, opts.evalBatch);
    const extractS = now() - t0;
    return { train, val, extractS, imgPerS: (train.count + val.count) / extractS };
  } finally {
    await pool.close();
  }
}

/** Trains the head and returns { acc, trainAcc, loss }; `epochs` full-batch steps. */
export async function trainProbe(train, val, { epochs, lr, seed }) {
  const { Linear } = await lib('nn/layers/linear.js');
  const { Adam } = await lib('optim/adam.js');
  const { Tensor } = await lib('tensor/tensor.js');
  const { Rng } = await lib('tensor/rng.js');
  const { crossEntropy } = await lib('ops/cross_entropy.js');
  const { argmaxRows } = await lib('train/metrics.js');
  const { noGrad } = await lib('nn/grad_mode.js');
  const numClasses = 1 + Math.max(...train.labels);
  const head = new Linear(train.dim, numClasses, { rng: new Rng(seed) });
  const opt = new Adam(head.parameters(), { lr });
  const x = new Tensor(train.features, [train.count, train.dim]);
  let loss = NaN;
  for (let ep = 0; ep < epochs; ep++) {
    const logits = head.forward(x);
    const r = crossEntropy(logits, train.labels);
    loss = r.loss;
    if (!Number.isFinite(loss)) throw new Error(`linear probe diverged at epoch ${ep + 1}: loss ${loss}`);
    opt.zeroGrad();
    head.backward(r.grad, false);
    opt.step();
  }
  const accOf = (set) => {
    const logits = noGrad(() => head.forward(new Tensor(set.features, [set.count, set.dim])));
    const pred = argmaxRows(logits.data, numClasses);
    let c = 0;
    for (let i = 0; i < set.count; i++) if (pred[i] === set.labels[i]) c++;
    return c / set.count;
  };
  return { acc: accOf(val), trainAcc: accOf(train), loss };
}

export async function linearProbe(ds, opts) {
  const t0 = now();
  const expect = { digest: splitDigest(ds), weights: opts.weights, preprocess: PREPROCESS };
  let sets = opts.featureCache ? await loadFeatureCache(opts.featureCache, expect) : null;
  let features;
  if (sets) {
    features = { cached: true, file: opts.featureCache, extract_s: Number(sets.meta.extract_s), img_per_s: Number(sets.meta.extract_img_per_s) };
    process.stderr.write(`linear-probe: features from ${opts.featureCache} (extracted earlier at ${features.img_per_s.toFixed(1)} img/s)\n`);
  } else {
    const r = await extractAll(ds, opts);
    sets = r;
    features = { cached: false, file: opts.featureCache ?? null, extract_s: r.extractS, img_per_s: r.imgPerS };
    if (opts.featureCache) {
      await saveFeatureCache(opts.featureCache, { train: r.train, val: r.val }, { ...expect, data: ds.root, extractS: r.extractS, imgPerS: r.imgPerS });
      process.stderr.write(`linear-probe: features saved to ${opts.featureCache}\n`);
    }
  }
  const th = now();
  const r = await trainProbe(sets.train, sets.val, { epochs: opts.probeEpochs, lr: 1e-3, seed: opts.seed });
  const headS = now() - th;
  return {
    recipe: 'linear-probe', val_acc: r.acc, wall_s: now() - t0, head_s: headS, train_acc: r.trainAcc, final_loss: r.loss,
    features, train: sets.train.count, val: sets.val.count, epochs: opts.probeEpochs, reference_acc: 0.894, threshold: 0.89,
  };
}
