// Quick single-thread timings of the wasm backend at 224x224 for before/after comparisons:
// inference b1/b8 (folded plan), the frozen-features step on the executor (features frozen,
// BN eval, as bench/run.mjs's train_frozen cell; and with BN in train mode, the CLI's
// --freeze-features --bn train step) and the full training step (forward + backward + Adam).
// Usage: node bench/perf.mjs [root=.] [cells=b1,b8,frozen,frozenfeat,frozenbn,full] [reps=5] [build=simd128|relaxed]
// (`relaxed`: build/mnv2-relaxed.wasm, FMA, which npm run bench's wasm cells use where Node runs it).
// `root` is a directory with dist/ and build/ (e.g. a copy of an older build), so two builds
// can be run alternately under the same machine load.
import path from 'node:path';
import { pathToFileURL } from 'node:url';

const root = path.resolve(process.argv[2] ?? '.');
const cells = (process.argv[3] ?? 'b1,b8,frozen,frozenbn,full').split(',');
const reps = Number(process.argv[4] ?? 5);
const imp = (p) => import(pathToFileURL(path.join(root, 'dist/src', p)).href);
const { MobileNetV2 } = await imp('models/mobilenetv2.js');
const { crossEntropy } = await imp('ops/cross_entropy.js');
const { Adam } = await imp('optim/adam.js');
const { Rng } = await imp('tensor/rng.js');
const { Tensor } = await imp('tensor/tensor.js');
const { createWasmExecutor } = await imp('backend/wasm/executor.js');
const wasmIndex = await imp('backend/wasm/index.js');
const { compileMobileNetV2 } = wasmIndex;
const { loadWasmKernelsFromFile } = await imp('backend/wasm/node.js');
const build = process.argv[5] ?? 'simd128';
const wasmFile = path.join(root, build === 'relaxed' ? 'build/mnv2-relaxed.wasm' : 'build/mnv2.wasm');
const nodeWasm = await imp('backend/wasm/node.js');
if (build === 'relaxed' && !nodeWasm.enableRelaxedSimd?.()) throw new Error('perf.mjs: this Node cannot run the relaxed-SIMD build');

const classes = 1000;
const input = (b) => {
  const rng = new Rng(b);
  const x = Tensor.zeros([b, 3, 224, 224]);
  for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
  return x;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
const out = {};

// Median wall time and median process CPU time (on a loaded machine the CPU time is the steadier one).
function time(fn, n) {
  fn();
  const wall = [];
  const cpu = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    fn();
    const c = process.cpuUsage(c0);
    wall.push(performance.now() - t0);
    cpu.push((c.user + c.system) / 1000);
  }
  return [median(wall), median(cpu)];
}

const model0 = new MobileNetV2({ alpha: 1, numClasses: classes, rng: new Rng(1) });
for (const c of cells) {
  if (c === 'b1' || c === 'b8') {
    const b = c === 'b1' ? 1 : 8;
    const plan = compileMobileNetV2(loadWasmKernelsFromFile(wasmFile), model0.stateDict(), { numClasses: classes, alpha: 1 });
    const x = input(b);
    out[c] = time(() => plan.forward(x), b === 1 ? reps * 4 : reps);
    continue;
  }
  const model = new MobileNetV2({ alpha: 1, numClasses: classes, rng: new Rng(1) }).train();
  if (c !== 'full') model.features.requiresGrad_(false);
  if (c === 'frozen' || c === 'frozenfeat') model.features.eval();
  const exec = createWasmExecutor(loadWasmKernelsFromFile(wasmFile), model);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  // Adam's update on wasm where the build has it, as npm run bench's training cells run it.
  if (wasmIndex.createWasmAdamKernel) opt.kernel = wasmIndex.createWasmAdamKernel(loadWasmKernelsFromFile(wasmFile));
  // The head's products on wasm too, as mnv2 train and npm run bench do.
  if (wasmIndex.createWasmLinearKernel) model.classifier.at(1).kernel = wasmIndex.createWasmLinearKernel(loadWasmKernelsFromFile(wasmFile));
  const x = input(8);
  if (c === 'frozenfeat') {
    // The executor's share of the frozen step: features forward only (the head is JS modules).
    out[c] = time(() => exec.forwardFeatures(x), reps);
    continue;
  }
  const labels = Array.from({ length: 8 }, (_, i) => i % classes);
  out[c] = time(() => {
    opt.zeroGrad();
    exec.backward(crossEntropy(exec.forward(x), labels).grad);
    opt.step();
  }, reps);
}
const fmt = Object.entries(out).map(([k, [w, c]]) => `${k} ${w.toFixed(0)} (cpu ${c.toFixed(0)})`).join('  ');
console.log(`${path.basename(root)} (${build}): ${fmt} ms  (load ${(await import('node:os')).loadavg().map((l) => l.toFixed(2)).join(' ')})`);
