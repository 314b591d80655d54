// npm run bench:accuracy -- --data DIR [--recipe linear-probe|seed-recipe|all] [--feature-cache FILE] [--json]
//
// Val accuracy of the two flower recipes whose PyTorch figures are in shared/README.md, on
// the standard split of DIR (per class, byte-sorted names, index % 5 == 4 -> val). Prints one
// line per recipe: name, val accuracy, wall time. Not part of CI: the full set takes from
// minutes (linear probe) to an hour or more (seed recipe) on 2 cores. See bench/README.md.
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { availableParallelism, cpus, loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { ROOT, lib } from './accuracy/common.mjs';
import { linearProbe } from './accuracy/linear_probe.mjs';
import { seedRecipe } from './accuracy/seed_recipe.mjs';

const USAGE = `usage: npm run bench:accuracy -- --data DIR [options]
  --data DIR             image folder, one sub-folder per class (e.g. ../shared/data/flowers)
  --recipe NAME          linear-probe, seed-recipe or all (default all)
  --feature-cache FILE   linear-probe: load pooled features from FILE (safetensors), or extract and save them there
  --json                 also write the results to bench/accuracy.json (merged with the recipes already there)
  --json-out FILE        ... to FILE instead
  --out DIR              seed-recipe: mnv2 train's output folder (default $TMPDIR/mnv2-accuracy/seed-recipe)
  --weights FILE         pretrained weights (default fixtures/mobilenet_v2_imagenet.pth)
  --threads N            seed-recipe: wasm worker threads (default: cores, at most 16)
  --workers N            decode worker threads (default: cores)
  --seed N               init / shuffle / augmentation seed (default 0)
  --probe-epochs N       linear-probe full-batch steps (default 300; other values skip the threshold check)
  --epochs N             seed-recipe epochs (default 5; other values skip the threshold check)`;

function fail(msg) {
  process.stderr.write(`bench:accuracy: error: ${msg}\n`);
  process.exit(2);
}

function intArg(v, name, min) {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) fail(`${name} must be an integer >= ${min}, got '${v}'`);
  return n;
}

let args;
try {
  args = parseArgs({
    options: {
      data: { type: 'string' }, recipe: { type: 'string', default: 'all' }, 'feature-cache': { type: 'string' },
      json: { type: 'boolean', default: false }, 'json-out': { type: 'string' }, out: { type: 'string' }, weights: { type: 'string' },
      threads: { type: 'string' }, workers: { type: 'string' }, seed: { type: 'string' }, 'probe-epochs': { type: 'string' },
      epochs: { type: 'string' }, help: { type: 'boolean', short: 'h', default: false },
    },
  }).values;
} catch (e) {
  fail(`${e.message}\n${USAGE}`);
}
if (args.help) {
  process.stdout.write(`${USAGE}\n`);
  process.exit(0);
}
if (!args.data) fail(`--data DIR is required\n${USAGE}`);
const data = resolve(args.data);
if (!existsSync(data)) fail(`--data ${args.data}: no such folder (${data})`);
if (!statSync(data).isDirectory()) fail(`--data ${args.data}: not a folder`);
const RECIPES = ['linear-probe', 'seed-recipe'];
const recipes = args.recipe === 'all' ? RECIPES : [args.recipe];
if (!RECIPES.includes(recipes[0])) fail(`--recipe must be linear-probe, seed-recipe or all, got '${args.recipe}'`);
const { defaultWeightsPath } = await lib('cli/paths.js');
const weights = resolve(args.weights ?? defaultWeightsPath());
if (!existsSync(weights)) fail(`--weights ${weights}: no such file`);

const opts = {
  weights,
  featureCache: args['feature-cache'] ? resolve(args['feature-cache']) : undefined,
  out: resolve(args.out ?? join(tmpdir(), 'mnv2-accuracy', 'seed-recipe')),
  threads: intArg(args.threads, '--threads', 1),
  workers: intArg(args.workers, '--workers', 1) ?? availableParallelism(),
  seed: intArg(args.seed, '--seed', 0) ?? 0,
  probeEpochs: intArg(args['probe-epochs'], '--probe-epochs', 1) ?? 300,
  seedEpochs: intArg(args.epochs, '--epochs', 1) ?? 5,
  evalBatch: 16,
};

const { loadImageFolder } = await lib('data/folder.js');
let ds;
try {
  ds = loadImageFolder(data);
} catch (e) {
  fail(e.message);
}
if (ds.classes.length < 2 || ds.train.length === 0 || ds.val.length === 0) {
  fail(`${data}: need >= 2 class folders and non-empty train and val splits, found ${ds.classes.length} classes, ${ds.train.length} train / ${ds.val.length} val images`);
}
process.stderr.write(`data: ${data} (${ds.layout}): ${ds.classes.length} classes, ${ds.train.length} train / ${ds.val.length} val images\n`);

function commit() {
  try {
    return execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: ROOT, encoding: 'utf8' }).trim();
  } catch {
    return null;
  }
}

const meta = {
  date: new Date().toISOString(), data, commit: commit(), node: process.version, cpu: cpus()[0]?.model ?? 'unknown',
  cores: availableParallelism(), loadavg_start: loadavg().map((l) => +l.toFixed(2)),
};
const fmt = (r) => {
  // The thresholds are for the full flowers set (4,065 / 1,015) with the reference step counts.
  const fullLength = r.train === 4065 && r.val === 1015 && (r.recipe === 'linear-probe' ? r.epochs === 300 : r.val_acc_by_epoch.length === 5);
  const verdict = fullLength ? `; torch ${r.reference_acc}, needs >= ${r.threshold}: ${r.val_acc >= r.threshold ? 'pass' : 'FAIL'}` : '';
  const detail = r.recipe === 'linear-probe'
    ? `features: ${r.features.img_per_s.toFixed(1)} img/s${r.features.cached ? ' (cached)' : ''}, head ${r.head_s.toFixed(1)} s`
    : `epochs: ${r.val_acc_by_epoch.map((a) => a.toFixed(4)).join(' ')}`;
  return { line: `${r.recipe.padEnd(13)} ${r.val_acc.toFixed(4)}  ${r.wall_s.toFixed(1)} s  (${detail}${verdict})`, ok: !fullLength || r.val_acc >= r.threshold };
};

const results = {};
let allOk = true;
for (const name of recipes) {
  process.stderr.write(`${name}: starting\n`);
  const r = name === 'linear-probe' ? await linearProbe(ds, opts) : await seedRecipe(ds, opts);
  r.loadavg_end = loadavg().map((l) => +l.toFixed(2));
  results[name] = r;
  const { line, ok } = fmt(r);
  allOk &&= ok;
  process.stdout.write(`${line}\n`);
}

if (args.json || args['json-out']) {
  const file = resolve(args['json-out'] ?? join(ROOT, 'bench', 'accuracy.json'));
  // Recipes usually run as separate (long) processes: keep the other recipe's last result.
  let prev = {};
  if (existsSync(file)) {
    try {
      prev = JSON.parse(readFileSync(file, 'utf8')).recipes ?? {};
    } catch {
      prev = {};
    }
  }
  const recipesOut = { ...prev };
  for (const [k, v] of Object.entries(results)) recipesOut[k] = { ...v, meta };
  writeFileSync(file, `${JSON.stringify({ recipes: recipesOut }, null, 2)}\n`);
  process.stderr.write(`wrote ${file}\n`);
}
process.exit(allOk ? 0 : 1);
