// Time of one training step on the reference (plain TypeScript) engine, single thread:
// full network (forward + backward + Adam) and the seed's frozen-features recipe
// (features frozen, BN in train mode, only the head learns).
// Run after `npm run build`:  node bench/train_step.mjs [alpha=1.0] [size=224] [batch=8] [repeats=2]
import { MobileNetV2 } from '../dist/src/models/mobilenetv2.js';
import { crossEntropy } from '../dist/src/ops/cross_entropy.js';
import { Adam } from '../dist/src/optim/adam.js';
import { Rng } from '../dist/src/tensor/rng.js';
import { Tensor } from '../dist/src/tensor/tensor.js';

const alpha = Number(process.argv[2] ?? 1.0);
const size = Number(process.argv[3] ?? 224);
const batch = Number(process.argv[4] ?? 8);
const repeats = Number(process.argv[5] ?? 2);
const classes = 5;

const rng = new Rng(0);
const x = Tensor.zeros([batch, 3, size, size]);
for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
const labels = Array.from({ length: batch }, (_, i) => i % classes);

function bench(label, freezeFeatures) {
  const model = new MobileNetV2({ alpha, numClasses: classes, rng: new Rng(1) }).train();
  if (freezeFeatures) model.features.requiresGrad_(false);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const t0 = performance.now();
    opt.zeroGrad();
    const logits = model.forward(x);
    const t1 = performance.now();
    const { grad } = crossEntropy(logits, labels);
    model.backward(grad);
    const t2 = performance.now();
    opt.step();
    const t3 = performance.now();
    times.push({ forward: t1 - t0, backward: t2 - t1, step: t3 - t2, total: t3 - t0 });
  }
  const best = times.reduce((a, b) => (b.total < a.total ? b : a));
  const f = (v) => v.toFixed(0).padStart(7);
  console.log(
    `${label.padEnd(16)} total ${f(best.total)} ms   forward ${f(best.forward)}   backward ${f(best.backward)}   adam ${f(best.step)}   (best of ${repeats})`,
  );
}

console.log(`MobileNetV2 alpha ${alpha}, batch ${batch}, ${size}x${size}, reference engine, node ${process.version}`);
bench('full network', false);
bench('frozen features', true);
