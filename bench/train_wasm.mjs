// One training step of MobileNetV2 on the WASM executor (single thread) vs the reference engine:
// full network (forward + backward + Adam) and the seed's frozen-features recipe (features
// frozen, BN in train mode, only the head learns). The reference engine is timed once.
// Run after `npm run build`:
//   node bench/train_wasm.mjs [alpha=1.0] [size=224] [batch=8] [repeats=3] [js=1]
import { MobileNetV2 } from '../dist/src/models/mobilenetv2.js';
import { crossEntropy } from '../dist/src/ops/cross_entropy.js';
import { Adam } from '../dist/src/optim/adam.js';
import { Rng } from '../dist/src/tensor/rng.js';
import { Tensor } from '../dist/src/tensor/tensor.js';
import { createWasmExecutor } from '../dist/src/backend/wasm/executor.js';
import { loadWasmKernelsFromFile } from '../dist/src/backend/wasm/node.js';

const alpha = Number(process.argv[2] ?? 1.0);
const size = Number(process.argv[3] ?? 224);
const batch = Number(process.argv[4] ?? 8);
const repeats = Number(process.argv[5] ?? 3);
const withJs = (process.argv[6] ?? '1') !== '0';
const classes = 5;

const rng = new Rng(0);
const x = Tensor.zeros([batch, 3, size, size]);
for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
const labels = Array.from({ length: batch }, (_, i) => i % classes);
const kernels = loadWasmKernelsFromFile();

function bench(label, freezeFeatures, engine, reps) {
  const model = new MobileNetV2({ alpha, numClasses: classes, rng: new Rng(1) }).train();
  if (freezeFeatures) model.features.requiresGrad_(false);
  const exec = engine === 'wasm' ? createWasmExecutor(kernels, model) : null;
  const forward = exec ? (t) => exec.forward(t) : (t) => model.forward(t);
  const backward = exec ? (g) => exec.backward(g) : (g) => model.backward(g);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  const times = [];
  for (let r = 0; r < reps; r++) {
    const t0 = performance.now();
    opt.zeroGrad();
    const logits = forward(x);
    const t1 = performance.now();
    const { grad } = crossEntropy(logits, labels);
    backward(grad);
    const t2 = performance.now();
    opt.step();
    const t3 = performance.now();
    times.push({ forward: t1 - t0, backward: t2 - t1, step: t3 - t2, total: t3 - t0 });
  }
  // The first WASM step grows memory and tiers up the code, so report the best.
  const best = times.reduce((a, b) => (b.total < a.total ? b : a));
  const f = (v) => v.toFixed(0).padStart(7);
  console.log(
    `${(engine + ' ' + label).padEnd(22)} total ${f(best.total)} ms   forward ${f(best.forward)}   backward ${f(best.backward)}   adam ${f(best.step)}   (best of ${reps})`,
  );
  if (exec) console.log(`${''.padEnd(22)} wasm memory ${(kernels.memory.buffer.byteLength / 2 ** 20).toFixed(0)} MiB`);
}

console.log(`MobileNetV2 alpha ${alpha}, batch ${batch}, ${size}x${size}, node ${process.version}, 1 thread`);
bench('full network', false, 'wasm', repeats);
bench('frozen features', true, 'wasm', repeats);
if (withJs) {
  bench('full network', false, 'js', 1);
  bench('frozen features', true, 'js', 1);
}
