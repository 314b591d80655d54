// GFLOP/s of the raw wasm kernels at MobileNetV2's real (batch 1, 224x224) shapes:
// pointwise GEMM, depthwise 3x3, and the first 3x3 conv (3 -> 32, stride 2).
import { WasmArena, packGemmWeights, packDepthwiseWeights, packStemWeights, padBias, convOut } from '../dist/src/backend/wasm/index.js';
import { loadWasmKernelsFromFile, defaultWasmPath } from '../dist/src/backend/wasm/node.js';
import { measure } from './measure.mjs';

// M = pixels, K = Cin, N = Cout.
export const GEMM_SHAPES = [
  [112 * 112, 16, 96],
  [56 * 56, 24, 144],
  [56 * 56, 144, 24],
  [28 * 28, 192, 32],
  [14 * 14, 384, 64],
  [7 * 7, 960, 320],
  [7 * 7, 320, 1280],
];
// H (=W) of the input, C, stride.
export const DEPTHWISE_SHAPES = [
  [112, 32, 1],
  [112, 96, 2],
  [56, 144, 1],
  [28, 192, 1],
  [14, 384, 1],
  [14, 576, 2],
  [7, 960, 1],
];

function randomFill(f32, ptr, n, seed) {
  let s = seed >>> 0;
  for (let i = 0; i < n; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    f32[(ptr >> 2) + i] = s / 2 ** 31 - 1;
  }
}

function random(n, seed) {
  const a = new Float32Array(n);
  randomFill(a, 0, n, seed);
  return a;
}

/**
 * Each kernel is timed as a tinybench task; returns {gemm, depthwise, conv3x3c3}, each a map
 * from a shape label to GFLOP/s (2 flops per multiply-add, median time).
 */
export async function kernelGflops(opts, build = undefined) {
  // build: 'relaxed' | 'simd128'; default: the build users get (relaxed where this Node has it).
  const kernels = loadWasmKernelsFromFile(build ? defaultWasmPath(build) : undefined);
  const k = kernels.exports;
  const arena = new WasmArena(kernels);
  const tasks = [];

  for (const [M, K, N] of opts.quick ? GEMM_SHAPES.slice(0, 2) : GEMM_SHAPES) {
    const w = arena.persist(packGemmWeights(random(N * K, 1), N, K));
    const b = arena.persist(padBias(new Float32Array(N), 8));
    const a = arena.allocPersistent(M * K);
    const out = arena.allocPersistent(M * N);
    randomFill(kernels.f32, a, M * K, 2);
    tasks.push({ group: 'gemm', label: `M=${M} K=${K} N=${N}`, flops: 2 * M * K * N, fn: () => k.gemm(M, K, N, a, w, b, out, 0, 6, 0) });
  }
  for (const [H, C, s] of opts.quick ? DEPTHWISE_SHAPES.slice(0, 2) : DEPTHWISE_SHAPES) {
    const OH = convOut(H, s);
    const w = arena.persist(packDepthwiseWeights(random(C * 9, 3), C));
    const b = arena.persist(padBias(new Float32Array(C), 4));
    const inp = arena.allocPersistent(H * H * C);
    const out = arena.allocPersistent(OH * OH * C);
    randomFill(kernels.f32, inp, H * H * C, 4);
    tasks.push({
      group: 'depthwise',
      label: `${H}x${H}x${C} s${s}`,
      flops: 2 * 9 * OH * OH * C,
      fn: () => k.depthwise3x3(1, H, H, C, inp, w, b, out, s, OH, OH, 0, 6),
    });
  }
  {
    const H = 224, Cout = 32, OH = convOut(H, 2);
    const w = arena.persist(packStemWeights(random(Cout * 27, 5), Cout));
    const b = arena.persist(padBias(new Float32Array(Cout), 8));
    const inp = arena.allocPersistent(H * H * 3);
    const out = arena.allocPersistent(OH * OH * Cout);
    randomFill(kernels.f32, inp, H * H * 3, 6);
    tasks.push({
      group: 'conv3x3c3',
      label: `224x224x3 -> 112x112x32 s2`,
      flops: 2 * 27 * OH * OH * Cout,
      fn: () => k.conv3x3c3(1, H, H, inp, w, b, out, Cout, 2, OH, OH, 0, 6),
    });
  }

  const result = { gemm: {}, depthwise: {}, conv3x3c3: {} };
  for (const t of tasks) {
    const ms = await measure(`kernel ${t.group} ${t.label}`, t.fn, opts.quick ? { time: 50, iterations: 3 } : { time: 400, iterations: 10 });
    result[t.group][t.label] = t.flops / ms / 1e6;
  }
  return result;
}
