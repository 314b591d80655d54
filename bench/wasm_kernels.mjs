// Speed of the wasm backend, single thread: MobileNetV2 forward time and pointwise GEMM GFLOP/s.
// Run after `npm run build`:  node bench/wasm_kernels.mjs [alpha=1.0] [size=224] [batch=1]
import { readFileSync } from 'node:fs';
import { loadWasmKernelsFromFile } from '../dist/src/backend/wasm/node.js';
import { compileMobileNetV2, WasmArena, packGemmWeights } from '../dist/src/backend/wasm/index.js';
import { Tensor } from '../dist/src/tensor/tensor.js';

const alpha = process.argv[2] ?? '1.0';
const size = Number(process.argv[3] ?? 224);
const batch = Number(process.argv[4] ?? 1);

// Deterministic pseudo-random numbers in [-1, 1), so runs are comparable.
let seed = 12345;
const rand = () => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 31) - 1;

function randomStateDict(alphaKey) {
  const arch = JSON.parse(readFileSync(new URL('../fixtures/arch.json', import.meta.url), 'utf8'))[alphaKey];
  if (!arch) throw new Error(`fixtures/arch.json: no architecture for alpha ${alphaKey}`);
  const sd = new Map();
  for (const [key, shape, dtype] of arch.state_dict) {
    if (dtype === 'int64') {
      sd.set(key, Tensor.scalarInt64(0n));
      continue;
    }
    const n = shape.reduce((a, b) => a * b, 1);
    const fanIn = shape.length > 1 ? n / shape[0] : 1;
    const data = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      if (key.endsWith('running_var')) data[i] = 0.5 + Math.abs(rand());
      else if (key.endsWith('.weight') && shape.length === 1) data[i] = 1 + 0.1 * rand();
      else data[i] = rand() / Math.sqrt(fanIn);
    }
    sd.set(key, new Tensor(data, shape));
  }
  return sd;
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1];
}

const kernels = loadWasmKernelsFromFile();
const sd = randomStateDict(alpha);
const numClasses = sd.get('classifier.1.weight').shape[0];
const model = compileMobileNetV2(kernels, sd, { numClasses, alpha: Number(alpha) });
const input = new Tensor(Float32Array.from({ length: batch * 3 * size * size }, rand), [batch, 3, size, size]);
for (let i = 0; i < 5; i++) model.forward(input);
const times = [];
for (let i = 0; i < 30; i++) {
  const t0 = performance.now();
  model.forward(input);
  times.push(performance.now() - t0);
}
console.log(`MobileNetV2 alpha ${alpha}, batch ${batch}, ${size}x${size}: median ${median(times).toFixed(2)} ms, min ${Math.min(...times).toFixed(2)} ms per forward`);

// GEMM at real MobileNetV2 pointwise shapes (M = pixels, K = Cin, N = Cout).
const arena = new WasmArena(kernels);
const shapes = [
  [112 * 112, 16, 96],
  [56 * 56, 24, 144],
  [56 * 56, 144, 24],
  [28 * 28, 192, 32],
  [14 * 14, 384, 64],
  [7 * 7, 960, 320],
  [7 * 7, 320, 1280],
];
for (const [M, K, N] of shapes) {
  arena.resetScratch();
  const w = arena.persist(packGemmWeights(Float32Array.from({ length: N * K }, rand), N, K));
  const b = arena.persist(new Float32Array(Math.ceil(N / 8) * 8));
  const a = arena.allocScratch(M * K);
  const out = arena.allocScratch(M * N);
  kernels.f32.set(Float32Array.from({ length: M * K }, rand), a >> 2);
  const reps = Math.max(3, Math.round(2e9 / (2 * M * K * N) / 10));
  for (let i = 0; i < 3; i++) kernels.exports.gemm(M, K, N, a, w, b, out, 0, 6, 0);
  const t = [];
  for (let r = 0; r < 7; r++) {
    const t0 = performance.now();
    for (let i = 0; i < reps; i++) kernels.exports.gemm(M, K, N, a, w, b, out, 0, 6, 0);
    t.push((performance.now() - t0) / reps);
  }
  const ms = median(t);
  console.log(`gemm M=${M} K=${K} N=${N}: ${ms.toFixed(3)} ms, ${((2 * M * K * N) / ms / 1e6).toFixed(2)} GFLOP/s`);
}
