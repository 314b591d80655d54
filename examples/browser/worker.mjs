// A module worker that classifies photos: post it a Blob, get back the top-5.
import { readPth, loadWasmKernels, preferredKernelFile, compileMobileNetV2, resizeShorter, centerCrop, toNormalizedTensor, softmax }
  from '../../dist/browser/mnv2.min.js';
import { decodeImage } from './decode.js';

const fetchBytes = async (url) => new Uint8Array(await (await fetch(url)).arrayBuffer());
// Loaded once, on the first message; later messages wait for the same promise.
const ready = (async () => {
  const { stateDict } = readPth(await fetchBytes(new URL('../../fixtures/mobilenet_v2_imagenet.pth', import.meta.url)));
  const labels = await (await fetch(new URL('../../fixtures/imagenet_labels.json', import.meta.url))).json();
  const kernels = await loadWasmKernels(new URL(`../../dist/browser/${preferredKernelFile()}`, import.meta.url));
  return { labels, model: compileMobileNetV2(kernels, stateDict, { numClasses: 1000, alpha: 1 }) };
})();

self.onmessage = async ({ data: photo }) => {
  try {
    const { model, labels } = await ready;
    const img = await decodeImage(photo);
    const x = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
    const t0 = performance.now();
    const probs = softmax(model.forward(x.reshape([1, 3, 224, 224]))).data;
    const ms = performance.now() - t0;
    const top5 = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5);
    self.postMessage({ ms, top5: top5.map((i) => ({ label: labels[i], prob: probs[i] })) });
  } catch (e) {
    self.postMessage({ error: String(e?.message ?? e) });
  }
};
