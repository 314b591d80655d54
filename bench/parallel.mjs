// Multi-core wasm (src/backend/wasm/parallel) vs one thread, MobileNetV2 1.0 at 224:
// training step (forward + loss + backward + Adam) with the full network and with the
// frozen-features recipe (features frozen, BN in train mode), and eval-mode inference.
// Medians of `repeats` timed runs after one warm-up, wall time and the process's CPU time (all
// threads). The machine may be shared: the load average is printed with each row; when
// cpu ~= wall for N threads the process got about one core, and no speedup is possible. Run after `npm run build`:
//   node bench/parallel.mjs [threads=2] [batch=8] [size=224] [repeats=5] [alpha=1.0] [classes=1000]
// 1000 classes by default, as npm run bench's train cells: the head (Dropout + Linear(1280, 1000))
// runs on the main thread, the serial part of a multi-thread step, and so does Adam, but for the
// features parameters' updates, which the executor's adamKernel gives to a worker.
import { loadavg } from 'node:os';
import { MobileNetV2 } from '../dist/src/models/mobilenetv2.js';
import { crossEntropy } from '../dist/src/ops/cross_entropy.js';
import { Adam } from '../dist/src/optim/adam.js';
import { Rng } from '../dist/src/tensor/rng.js';
import { Tensor } from '../dist/src/tensor/tensor.js';
import { createWasmExecutor } from '../dist/src/backend/wasm/executor.js';
import { compileMobileNetV2 } from '../dist/src/backend/wasm/mobilenetv2.js';
import { loadWasmKernelsFromFile } from '../dist/src/backend/wasm/node.js';
import { createParallelExecutor, createParallelInference } from '../dist/src/backend/wasm/parallel/node.js';
import * as wasmIndex from '../dist/src/backend/wasm/index.js';

const threads = Number(process.argv[2] ?? 2);
const batch = Number(process.argv[3] ?? 8);
const size = Number(process.argv[4] ?? 224);
const repeats = Number(process.argv[5] ?? 5);
const alpha = Number(process.argv[6] ?? 1.0);
const classes = Number(process.argv[7] ?? 1000);

const rng = new Rng(0);
const x = Tensor.zeros([batch, 3, size, size]);
for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
const labels = Array.from({ length: batch }, (_, i) => i % classes);
const load = () => loadavg().map((v) => v.toFixed(2)).join(' ');
const median = (a) => [...a].sort((p, q) => p - q)[Math.floor(a.length / 2)];

async function time(fn) {
  await fn();
  const t = [];
  const cpu = [];
  for (let r = 0; r < repeats; r++) {
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    await fn();
    t.push(performance.now() - t0);
    const c = process.cpuUsage(c0);
    cpu.push((c.user + c.system) / 1000);
  }
  return { wall: median(t), cpu: median(cpu) };
}

async function trainStep(freeze, nThreads) {
  const model = new MobileNetV2({ alpha, numClasses: classes, rng: new Rng(1) }).train();
  if (freeze) model.features.requiresGrad_(false);
  const exec = nThreads > 1 ? await createParallelExecutor(model, { threads: nThreads }) : createWasmExecutor(loadWasmKernelsFromFile(), model);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-4 });
  // Adam's update on wasm where the build has it, as npm run bench's training cells; with
  // threads, the executor's kernel, which updates the features parameters on a worker.
  if (nThreads > 1 && exec.adamKernel) opt.kernel = exec.adamKernel(opt);
  else if (wasmIndex.createWasmAdamKernel) opt.kernel = wasmIndex.createWasmAdamKernel(loadWasmKernelsFromFile());
  // The head's products on wasm too, as mnv2 train and npm run bench do.
  if (wasmIndex.createWasmLinearKernel) model.classifier.at(1).kernel = wasmIndex.createWasmLinearKernel(loadWasmKernelsFromFile());
  try {
    return await time(async () => {
      opt.zeroGrad();
      const logits = await exec.forward(x);
      await exec.backward(crossEntropy(logits, labels).grad);
      opt.step();
    });
  } finally {
    await exec.close?.();
  }
}

async function inference(nThreads) {
  const model = new MobileNetV2({ alpha, numClasses: classes, rng: new Rng(1) }).eval();
  const sd = model.stateDict();
  const config = { numClasses: classes, alpha };
  if (nThreads > 1) {
    const inf = await createParallelInference(sd, config, { threads: nThreads });
    try {
      return await time(() => inf.forward(x));
    } finally {
      await inf.close();
    }
  }
  const net = compileMobileNetV2(loadWasmKernelsFromFile(), sd, config);
  return time(() => net.forward(x));
}

console.log(`MobileNetV2 ${alpha} batch ${batch} at ${size}x${size}, median of ${repeats}; load average before: ${load()}`);
const rows = [];
for (const [name, fn] of [
  [`train_b${batch}_${size} full step`, (t) => trainStep(false, t)],
  [`train_b${batch}_${size} frozen step`, (t) => trainStep(true, t)],
  [`inference b${batch}_${size}`, (t) => inference(t)],
]) {
  const one = await fn(1);
  const many = await fn(threads);
  rows.push({ name, one, many });
  const f = (r) => `${r.wall.toFixed(0).padStart(6)} ms (cpu ${r.cpu.toFixed(0).padStart(6)} ms)`;
  console.log(`${name.padEnd(28)} 1 thread ${f(one)}   ${threads} threads ${f(many)}   speedup ${(one.wall / many.wall).toFixed(2)}x   (load ${load()})`);
}
console.log(`load average after: ${load()}`);
