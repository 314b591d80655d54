// `npm run bench [-- flags]`: our engine (reference JS, WASM, WASM multithreaded) against
// onnxruntime (node, web/wasm) and TensorFlow.js (wasm, cpu) on MobileNetV2 at 224x224,
// all in this one process, on the same weights (fixtures/mobilenet_v2_imagenet.*).
//
// Flags:
//   --quick        smoke run: inference at batch 1 only, one iteration per cell, few kernels
//   --json         also write the results as JSON (bench/results.json unless --out)
//   --out <file>   where --json writes
//   --slow-peers   also time tfjs_cpu full-network training (minutes per step at batch 8)
import { readFileSync, writeFileSync } from 'node:fs';
import { execSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { readPth, Tensor } from '../dist/src/index.js';
import * as ours from './peers/ours.mjs';
import { ortNodeInference, ortWebInference } from './peers/ort.mjs';
import { tfjsInference, tfjsTrainStep, tfjsFrozenStep, toNhwc } from './peers/tfjs.mjs';
import { kernelGflops } from './kernels.mjs';
import { measure, median } from './measure.mjs';
import { renderTable } from './table.mjs';

const OURS = ['js', 'wasm', 'wasm_simd128', 'wasm_mt', 'wasm_folded'];
const INFER_CELLS = ['js', 'wasm', 'wasm_simd128', 'wasm_mt', 'ort_node', 'ort_web', 'tfjs_wasm', 'tfjs_cpu'];

function parseArgs(argv) {
  const opts = { quick: false, json: false, out: null, slowPeers: false };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--quick') opts.quick = true;
    else if (a === '--json') opts.json = true;
    else if (a === '--slow-peers') opts.slowPeers = true;
    else if (a === '--out') {
      opts.out = argv[++i];
      if (!opts.out) throw new Error('bench: --out needs a file name');
    } else throw new Error(`bench: unknown flag '${a}' (known: --quick --json --out <file> --slow-peers)`);
  }
  opts.out ??= fileURLToPath(new URL('./results.json', import.meta.url));
  return opts;
}

/** Deterministic inputs in [-2, 2), roughly the range of normalized ImageNet pixels. */
function input(batch, seed = 1) {
  let s = seed >>> 0;
  const data = new Float32Array(batch * 3 * 224 * 224);
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1103515245) + 12345) >>> 0;
    data[i] = (s / 2 ** 31 - 1) * 2;
  }
  return new Tensor(data, [batch, 3, 224, 224]);
}

function maxAbsDiff(a, b) {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function gitCommit() {
  try {
    const root = fileURLToPath(new URL('..', import.meta.url));
    const sha = execSync('git rev-parse HEAD', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const dirty = execSync('git status --porcelain', { cwd: root, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim() !== '';
    return dirty ? `${sha}+dirty` : sha;
  } catch {
    return 'unknown';
  }
}

function pkgVersion(name) {
  try {
    const url = new URL(`../node_modules/${name}/package.json`, import.meta.url);
    return JSON.parse(readFileSync(url, 'utf8')).version;
  } catch {
    return 'not installed';
  }
}

async function main() {
  const opts = parseArgs(process.argv.slice(2));
  const feats = ours.features();
  const sd = readPth(new Uint8Array(readFileSync(new URL('../fixtures/mobilenet_v2_imagenet.pth', import.meta.url))), {
    name: 'mobilenet_v2_imagenet.pth',
  }).stateDict;

  const results = {
    infer_b1_224: {},
    infer_b8_224: {},
    train_b8_224: {},
    train_frozen_b8_224: {},
    train_vs_infer_b8: {},
    kernels: {},
    kernels_simd128: {},
    ratios: {},
    agreement: {},
    notes: {},
    meta: {
      cpu: os.cpus()[0]?.model ?? 'unknown',
      cores: os.cpus().length,
      node: process.version,
      date: new Date().toISOString(),
      commit: gitCommit(),
      loadavg_start: os.loadavg(),
      quick: opts.quick,
      unit: 'ms per batch (median); kernels in GFLOP/s; ratios are ours / peer (below 1: ours faster)',
      // `wasm`/`wasm_mt` run the build users get by default (relaxed SIMD with FMA where this Node
      // has it); `wasm_simd128` is the plain SIMD128 build, for engines without relaxed SIMD.
      wasm_kernels: { wasm: ours.singleKernels().relaxedSimd ? 'relaxed-simd' : 'simd128', wasm_simd128: 'simd128' },
      threads: { ort_node: 1, ort_web: 1, tfjs_wasm: 1, tfjs_cpu: 1, js: 1, wasm: 1, wasm_simd128: 1, wasm_mt: os.availableParallelism?.() ?? os.cpus().length },
      versions: Object.fromEntries(
        ['onnxruntime-node', 'onnxruntime-web', '@tensorflow/tfjs', '@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', '@tensorflow/tfjs-backend-wasm', 'tinybench'].map(
          (n) => [n, pkgVersion(n)],
        ),
      ),
      features: feats,
    },
  };
  const note = (section, cell, text) => {
    results[section][cell] = null;
    (results.notes[section] ??= {})[cell] = text;
    console.log(`  ${section} ${cell}: ${text}`);
  };

  // Timing policy per cell: slow cells (seconds per call) get a fixed small iteration count.
  // The others get 3 warm-up calls, then at least 10 timed calls and 5 s: a 2-thread training
  // step right after minutes of one-core cells runs 5-10% slower for its first few seconds here
  // (up to ~490 ms), then settles at its steady rate (~457 ms median over 30 steps), as in a
  // long training run.
  const budget = (msPerCall) => {
    if (opts.quick) return { time: 0, iterations: 1, warmup: 0 };
    if (msPerCall > 10000) return { time: 0, iterations: 1, warmup: 0 };
    if (msPerCall > 1500) return { time: 0, iterations: 3, warmup: 1 };
    return { time: 5000, iterations: 10, warmup: 3 };
  };
  const batches = opts.quick ? [1] : [1, 8];
  const inputs = Object.fromEntries(batches.map((b) => [b, input(b)]));
  const labels8 = Array.from({ length: 8 }, (_, i) => (i * 125) % 1000);

  /**
   * Times `run` on each batch size. At batch 1 the first call is the cost probe and the
   * agreement check; batch 8's cost is guessed from batch 1's, so a slow peer's 40 s call
   * is not spent twice.
   */
  async function inferCell(cell, run, { prepare = (x) => x } = {}) {
    let b1ms = null;
    let isAsync = false;
    for (const b of batches) {
      const section = `infer_b${b}_224`;
      try {
        const x = prepare(inputs[b]);
        let cost = b1ms === null ? null : b1ms * b;
        if (cost === null) {
          const t0 = performance.now();
          const pending = run(x);
          isAsync = pending instanceof Promise;
          const y = await pending;
          cost = performance.now() - t0;
          if (b === 1) {
            if (reference) results.agreement[cell] = maxAbsDiff(y, reference);
            else awaitingReference.set(cell, y);
          }
        }
        const ms = await measure(`${section} ${cell}`, () => run(x), { ...budget(cost), async: isAsync });
        if (b === 1) b1ms = ms;
        results[section][cell] = ms;
        console.log(`  ${section} ${cell}: ${ms.toFixed(2)} ms`);
      } catch (e) {
        note(section, cell, `error: ${e.message}`);
      }
    }
  }

  async function trainCell(section, cell, step, prepare = (x) => x, labels = labels8) {
    if (opts.quick) return note(section, cell, 'skipped (--quick)');
    try {
      const x = prepare(input(8, 2));
      const t0 = performance.now();
      const pending = step(x, labels);
      const loss = await pending;
      if (!Number.isFinite(loss)) throw new Error(`loss is ${loss}`);
      let probe = performance.now() - t0;
      // A first step includes one-time work (compilation, memory growth, workers' start-up) and
      // took 1.7-2.1 s for every ~0.5-1 s executor cell, which then got the slow cells' 3 timed
      // calls; a second step, where one is affordable, prices the cell instead.
      if (probe < 10000) {
        const t1 = performance.now();
        await step(x, labels);
        probe = performance.now() - t1;
      }
      const async = pending instanceof Promise;
      const ms = await measure(`${section} ${cell}`, () => step(x, labels), { ...budget(probe), async });
      results[section][cell] = ms;
      console.log(`  ${section} ${cell}: ${ms.toFixed(2)} ms (first loss ${loss.toFixed(4)})`);
    } catch (e) {
      note(section, cell, `error: ${e.message}`);
    }
  }

  console.log(`mnv2 bench${opts.quick ? ' (--quick)' : ''}: ${results.meta.cpu}, ${results.meta.cores} cores, node ${process.version}, load ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  // The pure-JS engines first, before anything detaches an ArrayBuffer: once one has been
  // detached (every wasm memory.grow detaches its old buffer, as do transfers to workers), V8's
  // optimized typed-array code is slower for the rest of the process — measured here, our JS
  // engine by ~1.5x and tfjs-backend-cpu by ~1.15x. Both are timed in the same, pristine state;
  // their logits are checked against the wasm reference once it exists.
  let reference = null;
  const awaitingReference = new Map();
  {
    const jsRun = ours.jsInference(sd);
    await inferCell('js', (x) => jsRun(x).data);
  }
  {
    const { tf, run } = await tfjsInference('cpu', sd);
    const tensors = new Map();
    await inferCell('tfjs_cpu', run, { prepare: (x) => tensors.get(x) ?? tensors.set(x, toNhwc(tf, x)).get(x) });
    for (const t of tensors.values()) t.dispose();
  }

  // Our WASM engine's batch-1 logits are the reference every other cell is checked against.
  const wasmRun = ours.wasmInference(ours.singleKernels(), sd);
  reference = wasmRun(inputs[1]).data;
  for (const [cell, y] of awaitingReference) results.agreement[cell] = maxAbsDiff(y, reference);
  await inferCell('wasm', (x) => wasmRun(x).data);
  {
    const simd128Run = ours.wasmInference(ours.singleKernels('simd128'), sd);
    await inferCell('wasm_simd128', (x) => simd128Run(x).data);
  }
  const threads = os.availableParallelism?.() ?? os.cpus().length;
  if (feats.wasmMt) {
    const mt = await ours.wasmMtInference(sd, threads);
    await inferCell('wasm_mt', mt.run);
    await mt.close();
  } else for (const b of batches) note(`infer_b${b}_224`, 'wasm_mt', ours.NOT_BUILT);
  await inferCell('ort_node', await ortNodeInference());
  await inferCell('ort_web', await ortWebInference());
  {
    const { tf, run } = await tfjsInference('wasm', sd);
    const tensors = new Map();
    await inferCell('tfjs_wasm', run, { prepare: (x) => tensors.get(x) ?? tensors.set(x, toNhwc(tf, x)).get(x) });
    for (const t of tensors.values()) t.dispose();
  }

  // Training: full network (forward, backward, Adam) and frozen-features transfer at batch 8.
  await trainCell('train_b8_224', 'js', ours.jsTrainStep(sd));
  /** Our executor-based cells: `threads` 0 is the single-thread executor. */
  async function executorCell(section, cell, ok, opts2) {
    if (!ok) return note(section, cell, ours.NOT_BUILT);
    if (opts.quick) return note(section, cell, 'skipped (--quick)');
    let t;
    try {
      t = await ours.wasmTrainStep(sd, opts2);
    } catch (e) {
      return note(section, cell, `error: ${e.message}`);
    }
    await trainCell(section, cell, t.step);
    await t.close();
  }
  await executorCell('train_b8_224', 'wasm', feats.wasmTrain, {});
  await executorCell('train_b8_224', 'wasm_simd128', feats.wasmTrain, { build: 'simd128' });
  await executorCell('train_b8_224', 'wasm_mt', feats.wasmMtTrain, { threads });
  if (opts.slowPeers) {
    const { tf, step } = await tfjsTrainStep('cpu', sd);
    const oneHot = tf.oneHot(labels8, 1000);
    await trainCell('train_b8_224', 'tfjs_cpu', (x) => step(x, oneHot), (x) => toNhwc(tf, x));
  } else note('train_b8_224', 'tfjs_cpu', 'skipped (needs --slow-peers: minutes per step)');

  // The "training step <= 4x our own inference" at batch 8, from alternating rounds of
  // the two on one build. The separate cells above run minutes apart, and this shared VM has
  // slow windows of a minute or more (a training cell 3-5% slower than in the runs before and
  // after it was seen): alternating puts such a window on both sides of the ratio. Each block
  // starts with an untimed call, so each side runs warm, as in its own cell.
  async function trainVsInferCell(cell, build) {
    if (!feats.wasmTrain) return;
    if (opts.quick) return;
    const rounds = 8;
    let t;
    try {
      t = await ours.wasmTrainStep(sd, build ? { build } : {});
      const infer = ours.wasmInference(ours.freshKernels(build), sd);
      const x8 = inputs[8];
      const xt = input(8, 2);
      const inferMs = [];
      const trainMs = [];
      await t.step(xt, labels8);
      for (let r = 0; r < rounds; r++) {
        infer(x8);
        for (let i = 0; i < 2; i++) {
          const t0 = performance.now();
          infer(x8);
          inferMs.push(performance.now() - t0);
        }
        await t.step(xt, labels8);
        const t0 = performance.now();
        await t.step(xt, labels8);
        trainMs.push(performance.now() - t0);
      }
      const trainMed = median(trainMs);
      const inferMed = median(inferMs);
      results.train_vs_infer_b8[cell] = { train_ms: trainMed, infer_ms: inferMed, ratio: trainMed / inferMed, rounds };
      console.log(`  train_vs_infer_b8 ${cell}: ${(trainMed / inferMed).toFixed(2)} (train ${trainMed.toFixed(1)} ms / inference ${inferMed.toFixed(1)} ms, ${rounds} alternating rounds)`);
    } catch (e) {
      results.train_vs_infer_b8[cell] = null;
      (results.notes.train_vs_infer_b8 ??= {})[cell] = `error: ${e.message}`;
      console.log(`  train_vs_infer_b8 ${cell}: error: ${e.message}`);
    } finally {
      await t?.close();
    }
  }
  await trainVsInferCell('wasm');
  await trainVsInferCell('wasm_simd128', 'simd128');

  await executorCell('train_frozen_b8_224', 'wasm', feats.wasmTrain, { frozen: true });
  await executorCell('train_frozen_b8_224', 'wasm_simd128', feats.wasmTrain, { frozen: true, build: 'simd128' });
  await executorCell('train_frozen_b8_224', 'wasm_mt', feats.wasmMtTrain, { frozen: true, threads });
  // The same recipe on the folded inference plan (no executor): what the frozen step costs
  // when the backbone runs the inference kernels only.
  await trainCell('train_frozen_b8_224', 'wasm_folded', ours.wasmFrozenStepFolded(sd));
  {
    const { tf, step } = await tfjsFrozenStep('wasm', sd);
    const oneHot = tf.oneHot(labels8, 1000);
    await trainCell('train_frozen_b8_224', 'tfjs_wasm', (x) => step(x, oneHot), (x) => toNhwc(tf, x));
  }

  results.kernels = await kernelGflops({ quick: opts.quick });
  results.kernels_simd128 = await kernelGflops({ quick: opts.quick }, 'simd128');

  for (const section of ['infer_b1_224', 'infer_b8_224', 'train_b8_224', 'train_frozen_b8_224']) {
    const row = results[section];
    const ratios = {};
    for (const o of OURS) {
      for (const [peer, ms] of Object.entries(row)) {
        if (OURS.includes(peer) || !Number.isFinite(row[o]) || !Number.isFinite(ms)) continue;
        ratios[`${o}/${peer}`] = row[o] / ms;
      }
    }
    results.ratios[section] = ratios;
  }
  results.meta.loadavg_end = os.loadavg();

  console.log();
  console.log(renderTable(results, INFER_CELLS));
  if (opts.json) {
    writeFileSync(opts.out, JSON.stringify(results, null, 2) + '\n');
    console.log(`wrote ${opts.out}`);
  }
}

main().then(
  // onnxruntime-web and tfjs-wasm keep worker/timer handles alive; the results are complete here.
  () => process.exit(0),
  (e) => {
    console.error(e);
    process.exit(1);
  },
);
