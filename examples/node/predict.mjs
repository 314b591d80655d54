// Classify a photo with the bundled ImageNet weights on the WASM backend.
//   node examples/node/predict.mjs [photo.jpg]
import { readFileSync } from 'node:fs';
import {
  readPth, loadWasmKernels, compileMobileNetV2,
  resizeShorter, centerCrop, toNormalizedTensor, softmax,
} from 'mnv2';
import { decodeImageFile, defaultWasmPath } from 'mnv2/node';

const fixtures = new URL('../../fixtures/', import.meta.url);
const photo = process.argv[2] ?? new URL('images/imagenet-samples/parrot.jpg', fixtures).pathname;

// Weights are read from bytes, so the same call works on a fetch() response in a browser.
const { stateDict } = readPth(readFileSync(new URL('mobilenet_v2_imagenet.pth', fixtures)));
const labels = JSON.parse(readFileSync(new URL('imagenet_labels.json', fixtures), 'utf8'));
const kernels = await loadWasmKernels(readFileSync(defaultWasmPath()));
const model = compileMobileNetV2(kernels, stateDict, { numClasses: 1000, alpha: 1 });

// torchvision Resize(256) + CenterCrop(224) + ToTensor + Normalize(0.5, 0.5): the bundled weights' preprocessing.
const img = await decodeImageFile(photo);
const x = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);

const t0 = performance.now();
const logits = model.forward(x.reshape([1, 3, 224, 224]));
const ms = performance.now() - t0;

const probs = softmax(logits).data;
const top5 = [...probs.keys()].sort((a, b) => probs[b] - probs[a]).slice(0, 5);
console.log(`${photo} (${img.width}x${img.height}), forward ${ms.toFixed(1)} ms on WASM`);
for (const i of top5) console.log(`${(probs[i] * 100).toFixed(2).padStart(6)}%  ${labels[i]}`);
