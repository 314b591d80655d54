// Module worker for the demo: loads the runtime, the kernels and the ImageNet
// weights once, then classifies photos and fine-tunes a flower head. All model
// work runs here so the page stays responsive.
import {
  readPth, loadWasmKernels, preferredKernelFile, compileMobileNetV2, MobileNetV2, noGrad, Tensor, Rng,
  createImage, resize, resizeShorter, centerCrop, toNormalizedTensor, softmax,
  Linear, Adam, crossEntropy,
} from '../../dist/browser/mnv2.min.js';
// The photo's own pixels (no color management, no premultiplied alpha) as HWC RGB bytes.
import { decodeImage as decode } from '../browser/decode.js';

const ROOT = new URL('../../', import.meta.url);
const WEIGHTS = new URL('fixtures/mobilenet_v2_imagenet.pth', ROOT);
const LABELS = new URL('fixtures/imagenet_labels.json', ROOT);
// The relaxed-SIMD build (fused multiply-add) where the browser compiles it, else plain SIMD128.
const KERNELS = new URL(`dist/browser/${preferredKernelFile()}`, ROOT);
// The bundled weights were trained on inputs scaled to [-1, 1], not ImageNet mean/std.
const MEAN = [0.5, 0.5, 0.5];
const STD = [0.5, 0.5, 0.5];
const FLOWERS = new URL('flowers.json', import.meta.url);
const FINETUNE = { steps: 100, lr: 1e-3, reportEvery: 5, seed: 0 };

let model; // { backend: 'wasm' | 'js', forward(x), pooled(x) }
let labels;
let flowerHead; // { classes, head: Linear } once fine-tuned

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') self.postMessage({ type: 'ready', ...(await init(data.backend)) });
    else if (data.type === 'predict') self.postMessage({ type: 'result', ...(await predict(data.file)) });
    else if (data.type === 'finetune') self.postMessage({ type: 'ft-done', ...(await finetune()) });
    else if (data.type === 'ft-predict') self.postMessage({ type: 'ft-result', ...(await predictFlower(data.file)) });
  } catch (e) {
    const type = data.type === 'finetune' || data.type === 'ft-predict' ? 'ft-error' : 'error';
    self.postMessage({ type, message: e instanceof Error ? e.message : String(e) });
  }
};

async function fetchBytes(url) {
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: HTTP ${res.status}`);
  return new Uint8Array(await res.arrayBuffer());
}

async function init(want) {
  const t0 = performance.now();
  const [weights, labelList] = await Promise.all([
    fetchBytes(WEIGHTS),
    fetch(LABELS).then((r) => r.json()),
  ]);
  labels = labelList;
  const { stateDict } = readPth(weights, { name: 'mobilenet_v2_imagenet.pth' });
  let fallback;
  if (want !== 'js') {
    try {
      const wasm = compileMobileNetV2(await loadWasmKernels(KERNELS), stateDict, { numClasses: 1000, alpha: 1 });
      model = { backend: 'wasm', forward: (x) => wasm.forward(x), pooled: (x) => wasm.forwardPooled(x) };
    } catch (e) {
      // No WebAssembly SIMD (or the kernels failed to load): the plain JS engine gives the same answers, slower.
      fallback = e instanceof Error ? e.message : String(e);
    }
  }
  if (!model) {
    const net = new MobileNetV2({ numClasses: 1000, alpha: 1 }).eval();
    net.loadStateDict(stateDict);
    model = {
      backend: 'js',
      forward: (x) => noGrad(() => net.forward(x)),
      pooled: (x) => noGrad(() => net.pool(net.forwardFeatures(x))),
    };
  }
  const loadMs = performance.now() - t0;
  // The first pass sizes the activation arena; run it here so the user's timing is a steady-state one.
  const w0 = performance.now();
  model.forward(toNormalizedTensor(createImage(224, 224), MEAN, STD).reshape([1, 3, 224, 224]));
  return { backend: model.backend, fallback, loadMs, warmupMs: performance.now() - w0, weightBytes: weights.length };
}

async function predict(file) {
  if (!model) throw new Error('the model is not loaded yet');
  const t0 = performance.now();
  const img = await decode(file);
  // torchvision Resize(256) + CenterCrop(224), PIL-exact.
  const x = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), MEAN, STD).reshape([1, 3, 224, 224]);
  const t1 = performance.now();
  const probs = softmax(model.forward(x)).data;
  const inferenceMs = performance.now() - t1;
  const top5 = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5)
    .map((index) => ({ index, label: labels[index], prob: probs[index] }));
  return { backend: model.backend, width: img.width, height: img.height, preprocessMs: t1 - t0, inferenceMs, top5 };
}

/** The fine-tuning input: the whole photo squashed to 224x224 (no crop, the flowers fill most frames), scaled to [-1, 1]. */
async function flowerInput(blob) {
  const img = await decode(blob);
  return toNormalizedTensor(resize(img, [224, 224]), MEAN, STD).reshape([1, 3, 224, 224]);
}

/**
 * Transfer learning on the bundled photos: the frozen ImageNet backbone turns
 * each photo into 1280 pooled features once, then a fresh Linear(1280, C) head
 * trains full-batch on those cached features, which takes milliseconds per step.
 */
async function finetune() {
  if (!model) throw new Error('the model is not loaded yet');
  const manifest = await fetch(FLOWERS).then((r) => {
    if (!r.ok) throw new Error(`${FLOWERS}: HTTP ${r.status}`);
    return r.json();
  });
  const { classes } = manifest;
  const items = classes.flatMap((c, label) => manifest.files[c].map((f) => ({ url: new URL(`${manifest.root}/${c}/${f}`, ROOT), label })));
  const dim = 1280; // MobileNetV2's last_channel at width 1.0
  const features = new Float32Array(items.length * dim);
  const t0 = performance.now();
  let decodeMs = 0;
  for (const [i, item] of items.entries()) {
    const d0 = performance.now();
    const res = await fetch(item.url);
    if (!res.ok) throw new Error(`${item.url}: HTTP ${res.status}`);
    const x = await flowerInput(await res.blob());
    decodeMs += performance.now() - d0;
    // One photo at a time: the activation arena stays at its batch-1 size.
    features.set(model.pooled(x).data, i * dim);
    self.postMessage({ type: 'ft-progress', done: i + 1, total: items.length });
  }
  const featuresMs = performance.now() - t0;
  const X = new Tensor(features, [items.length, dim]);
  const y = items.map((it) => it.label);

  const head = new Linear(dim, classes.length, { rng: new Rng(FINETUNE.seed) });
  const opt = new Adam(head.parameters(), { lr: FINETUNE.lr });
  const t1 = performance.now();
  let batch = [];
  let loss = NaN;
  for (let step = 1; step <= FINETUNE.steps; step++) {
    const out = crossEntropy(head.forward(X), y);
    loss = out.loss;
    opt.zeroGrad();
    head.backward(out.grad, false);
    opt.step();
    batch.push({ step, loss });
    if (step === 1 || step % FINETUNE.reportEvery === 0 || step === FINETUNE.steps) {
      self.postMessage({ type: 'ft-loss', points: batch });
      batch = [];
      // Let the page draw each stretch of the curve as it comes in.
      await new Promise((r) => setTimeout(r, 0));
    }
  }
  const trainMs = performance.now() - t1;
  let correct = 0;
  const logits = noGrad(() => head.forward(X)).data;
  for (let i = 0; i < items.length; i++) {
    const row = logits.subarray(i * classes.length, (i + 1) * classes.length);
    if (row.indexOf(Math.max(...row)) === y[i]) correct++;
  }
  flowerHead = { classes, head };
  return {
    backend: model.backend, classes, photos: items.length, steps: FINETUNE.steps, lr: FINETUNE.lr,
    featuresMs, decodeMs, trainMs, finalLoss: loss, trainAccuracy: correct / items.length,
  };
}

async function predictFlower(file) {
  if (!flowerHead) throw new Error('fine-tune the flower head first');
  const t0 = performance.now();
  const x = await flowerInput(file);
  const logits = noGrad(() => flowerHead.head.forward(model.pooled(x)));
  const probs = softmax(logits).data;
  const ranked = [...probs.keys()].sort((a, b) => probs[b] - probs[a])
    .map((index) => ({ index, label: flowerHead.classes[index], prob: probs[index] }));
  return { ranked, ms: performance.now() - t0 };
}
