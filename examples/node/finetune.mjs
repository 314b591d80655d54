// Transfer learning: a new 5-class head on the frozen ImageNet backbone, trained
// with Adam on bundled flower photos, saved as .pth and .safetensors, reloaded
// and used on two held-out photos.
//   node examples/node/finetune.mjs [outDir]
import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  readPth, readWeights, writePth, writeSafetensors, loadWasmKernels, compileMobileNetV2,
  Linear, Adam, Rng, Tensor, crossEntropy, softmax, noGrad,
  resizeShorter, centerCrop, toNormalizedTensor,
} from 'mnv2';
import { decodeImageFile, defaultWasmPath } from 'mnv2/node';

const fixtures = new URL('../../fixtures/', import.meta.url).pathname;
const outDir = process.argv[2] ?? mkdtempSync(join(tmpdir(), 'mnv2-finetune-'));
const CLASSES = ['daisy', 'dandelion', 'rose', 'sunflower', 'tulip'];
const PER_CLASS = 10;
const STEPS = 60;

const preprocess = (img) => toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);

// 1. The pretrained network on WASM, used as a frozen feature extractor (1280-d pooled features).
const pretrained = readPth(readFileSync(join(fixtures, 'mobilenet_v2_imagenet.pth'))).stateDict;
const kernels = await loadWasmKernels(readFileSync(defaultWasmPath()));
const backbone = compileMobileNetV2(kernels, pretrained, { numClasses: 1000, alpha: 1 });

// 2. A few bundled photos per class (the first training files of the standard split).
const features = [];
const labels = [];
for (const [label, name] of CLASSES.entries()) {
  const files = readdirSync(join(fixtures, 'flowers-mini', name)).filter((f) => f.endsWith('.jpg')).sort();
  for (const file of files.filter((_, i) => i % 5 !== 4).slice(0, PER_CLASS)) {
    const x = preprocess(await decodeImageFile(join(fixtures, 'flowers-mini', name, file)));
    features.push(backbone.forwardPooled(x.reshape([1, 3, 224, 224])).data);
    labels.push(label);
  }
}
const X = new Tensor(Float32Array.from(features.flatMap((f) => [...f])), [labels.length, 1280]);

// 3. The head: Linear(1280, 5), full-batch Adam steps on the features.
const head = new Linear(1280, CLASSES.length, { rng: new Rng(0) });
const opt = new Adam(head.parameters(), { lr: 1e-3 });
const losses = [];
for (let step = 0; step < STEPS; step++) {
  opt.zeroGrad();
  const { loss, grad } = crossEntropy(head.forward(X), labels);
  head.backward(grad, false);
  opt.step();
  losses.push(loss);
  if (step % 10 === 0 || step === STEPS - 1) console.log(`step ${String(step).padStart(2)}  loss ${loss.toFixed(4)}`);
}

// 4. Save the whole fine-tuned network: the pretrained backbone plus the new classifier.1.
const stateDict = new Map([...pretrained].filter(([k]) => !k.startsWith('classifier.')));
stateDict.set('classifier.1.weight', head.weight.data);
stateDict.set('classifier.1.bias', head.bias.data);
const pthPath = join(outDir, 'flowers.pth');
writeFileSync(pthPath, writePth({ stateDict }));
writeFileSync(join(outDir, 'flowers.safetensors'), writeSafetensors(stateDict, { classes: CLASSES.join(',') }));
console.log(`saved ${pthPath} and flowers.safetensors`);

// 5. Reload from the file (as torch.load would) and classify photos it never saw.
const reloaded = readWeights(readFileSync(pthPath), { name: pthPath }).stateDict;
const model = compileMobileNetV2(kernels, reloaded, { numClasses: CLASSES.length, alpha: 1 });
for (const file of readdirSync(join(fixtures, 'flowers-holdout')).sort()) {
  const x = preprocess(await decodeImageFile(join(fixtures, 'flowers-holdout', file)));
  const probs = softmax(noGrad(() => model.forward(x.reshape([1, 3, 224, 224])))).data;
  const best = probs.indexOf(Math.max(...probs));
  console.log(`${file}: ${CLASSES[best]} (${(probs[best] * 100).toFixed(1)}%)`);
}
