// A/B of two kernel builds on MobileNetV2's batch-1 depthwise (forward, dgrad, wgrad) and GEMM shapes: GFLOP/s of each
// (interleaved, median of rounds, process CPU time) and whether their outputs are bit-identical.
// Usage (after `npm run build`): node bench/kernels_ab.mjs old.wasm [new.wasm=build/mnv2.wasm] [rounds=7]
import { WasmArena, packGemmWeights, packDepthwiseWeights, padBias, convOut } from '../dist/src/backend/wasm/index.js';
import { loadWasmKernelsFromFile } from '../dist/src/backend/wasm/node.js';
import { GEMM_SHAPES, DEPTHWISE_SHAPES } from './kernels.mjs';

const files = [process.argv[2], process.argv[3] ?? new URL('../build/mnv2.wasm', import.meta.url).pathname];
const rounds = Number(process.argv[4] ?? 7);
let seed = 7;
const rand = (n) => Float32Array.from({ length: n }, () => (seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) / 2 ** 31 - 1);

const cases = [];
for (const [H, C, s] of DEPTHWISE_SHAPES) {
  const OH = convOut(H, s);
  cases.push({ label: `dw ${H}x${H}x${C} s${s}`, flops: 2 * 9 * OH * OH * C, w: packDepthwiseWeights(rand(9 * C), C), b: padBias(rand(C), 4), x: rand(H * H * C), outN: OH * OH * C,
    run: (k, p) => k.depthwise3x3(1, H, H, C, p.x, p.w, p.b, p.o, s, OH, OH, 0, 6) });
}
for (const [H, C, s] of DEPTHWISE_SHAPES) {
  const OH = convOut(H, s);
  const Cp = Math.ceil(C / 4) * 4;
  cases.push({ label: `dw dgrad ${H}x${H}x${C} s${s}`, flops: 2 * 9 * OH * OH * C, w: packDepthwiseWeights(rand(9 * C), C), b: rand(OH * OH * C), x: rand(4), outN: H * H * C,
    run: (k, p) => k.depthwise3x3Dgrad(1, H, H, C, p.b, p.w, p.o, s, OH, OH) });
  cases.push({ label: `dw wgrad ${H}x${H}x${C} s${s}`, flops: 2 * 9 * OH * OH * C, w: rand(OH * OH * C), b: new Float32Array(9 * Cp), x: rand(H * H * C), outN: 9 * Cp,
    run: (k, p) => k.depthwise3x3Wgrad(1, H, H, C, p.x, p.w, p.o, p.b, s, OH, OH) });
}
{
  const H = 224, Cout = 32, OH = convOut(H, 2);
  cases.push({ label: 'stem wgrad 224x224x3 s2', flops: 2 * 27 * OH * OH * Cout, w: rand(OH * OH * Cout), b: new Float32Array(27 * Cout), x: rand(H * H * 3), outN: 27 * Cout,
    run: (k, p) => k.conv3x3c3Wgrad(1, H, H, p.x, p.w, p.o, p.b, Cout, 2, OH, OH) });
}
for (const [M, K, N] of GEMM_SHAPES) {
  cases.push({ label: `gemm M=${M} K=${K} N=${N}`, flops: 2 * M * K * N, w: packGemmWeights(rand(N * K), N, K), b: padBias(rand(N), 8), x: rand(M * K), outN: M * N,
    run: (k, p) => k.gemm(M, K, N, p.x, p.w, p.b, p.o, 0, 6, 0) });
}
const engines = files.map((f) => {
  const kernels = loadWasmKernelsFromFile(f);
  const arena = new WasmArena(kernels);
  const ptrs = cases.map((c) => ({ w: arena.persist(c.w), b: arena.persist(c.b), x: arena.persist(c.x), o: arena.allocPersistent(c.outN) }));
  return { kernels, ptrs };
});
const times = cases.map(() => engines.map(() => []));
for (let r = 0; r < rounds; r++) {
  cases.forEach((c, ci) => engines.forEach((e, ei) => {
    const p = e.ptrs[ci];
    const reps = Math.max(4, Math.round(1e8 / c.flops));
    c.run(e.kernels.exports, p);
    // CPU time of this process, not wall time: on a loaded machine waiting for a core is not the kernel's cost.
    const t0 = process.cpuUsage();
    for (let i = 0; i < reps; i++) c.run(e.kernels.exports, p);
    const d = process.cpuUsage(t0);
    times[ci][ei].push((d.user + d.system) / 1000 / reps);
  }));
}
const med = (xs) => [...xs].sort((a, b) => a - b)[xs.length >> 1];
cases.forEach((c, ci) => {
  const [a, b] = engines.map((e) => e.kernels.f32.subarray(e.ptrs[ci].o >> 2, (e.ptrs[ci].o >> 2) + c.outN));
  const same = a.every((v, i) => Object.is(v, b[i]));
  const g = times[ci].map((t) => (c.flops / med(t) / 1e6).toFixed(1));
  console.log(`${c.label.padEnd(28)} ${g[0].padStart(6)} -> ${g[1].padStart(6)} GFLOP/s  ${same ? 'bit-identical' : 'OUTPUTS DIFFER'}`);
});
