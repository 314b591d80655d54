// Module worker for the demo: loads the runtime, the kernels and the ImageNet
// weights once, then classifies photos. Inference here keeps the page responsive.
import {
  readPth, loadWasmKernels, compileMobileNetV2, MobileNetV2, noGrad,
  createImage, resizeShorter, centerCrop, toNormalizedTensor, softmax,
} from '../../dist/browser/mnv2.min.js';

const ROOT = new URL('../../', import.meta.url);
const WEIGHTS = new URL('fixtures/mobilenet_v2_imagenet.pth', ROOT);
const LABELS = new URL('fixtures/imagenet_labels.json', ROOT);
const KERNELS = new URL('dist/browser/mnv2.wasm', ROOT);
// The bundled weights were trained on inputs scaled to [-1, 1], not ImageNet mean/std.
const MEAN = [0.5, 0.5, 0.5];
const STD = [0.5, 0.5, 0.5];

let model; // { backend: 'wasm' | 'js', forward(x) }
let labels;

self.onmessage = async ({ data }) => {
  try {
    if (data.type === 'init') self.postMessage({ type: 'ready', ...(await init(data.backend)) });
    else if (data.type === 'predict') self.postMessage({ type: 'result', ...(await predict(data.file)) });
  } catch (e) {
    self.postMessage({ type: 'error', message: e instanceof Error ? e.message : String(e) });
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
      model = { backend: 'wasm', forward: (x) => wasm.forward(x) };
    } catch (e) {
      // No WebAssembly SIMD (or the kernels failed to load): the plain JS engine gives the same answers, slower.
      fallback = e instanceof Error ? e.message : String(e);
    }
  }
  if (!model) {
    const net = new MobileNetV2({ numClasses: 1000, alpha: 1 }).eval();
    net.loadStateDict(stateDict);
    model = { backend: 'js', forward: (x) => noGrad(() => net.forward(x)) };
  }
  const loadMs = performance.now() - t0;
  // The first pass sizes the activation arena; run it here so the user's timing is a steady-state one.
  const w0 = performance.now();
  model.forward(toNormalizedTensor(createImage(224, 224), MEAN, STD).reshape([1, 3, 224, 224]));
  return { backend: model.backend, fallback, loadMs, warmupMs: performance.now() - w0, weightBytes: weights.length };
}

/** Browser decoding: the photo's own pixels (no color management, no premultiplied alpha) as HWC RGB bytes. */
async function decode(blob) {
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return createImage(width, height, rgb);
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
