// --feature-cache FILE: the pooled features of both splits as safetensors, so reruns of the
// linear probe skip the backbone. The header records what the features came from; a cache
// made from other images, weights or preprocessing is refused rather than silently reused.
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, relative } from 'node:path';
import { lib } from './common.mjs';

/** Identifies the dataset split: relative paths and labels of every sample, in order. */
export function splitDigest(ds) {
  const h = createHash('sha256');
  for (const [name, samples] of [['train', ds.train], ['val', ds.val]]) {
    h.update(`${name}\n`);
    for (const s of samples) h.update(`${relative(ds.root, s.path)}\t${s.label}\n`);
  }
  return h.digest('hex');
}

function weightsId(path) {
  const st = statSync(path);
  return `${path} (${st.size} bytes)`;
}

/** Returns { train, val, meta } or null when FILE does not exist yet. */
export async function loadFeatureCache(file, expect) {
  if (!existsSync(file)) return null;
  const { readSafetensors } = await lib('io/safetensors.js');
  let st;
  try {
    st = readSafetensors(new Uint8Array(readFileSync(file)), file);
  } catch (e) {
    throw new Error(`${file}: not a readable feature cache (${e.message}); delete it to re-extract`);
  }
  const meta = st.metadata ?? {};
  const want = { split_sha256: expect.digest, weights: weightsId(expect.weights), preprocess: expect.preprocess };
  for (const [k, v] of Object.entries(want)) {
    if (meta[k] !== v) throw new Error(`${file}: feature cache was made with ${k} = ${JSON.stringify(meta[k])}, this run needs ${JSON.stringify(v)}; delete it or pass another --feature-cache`);
  }
  const get = (k) => {
    const t = st.tensors.get(k);
    if (!t) throw new Error(`${file}: feature cache has no tensor '${k}'`);
    return t;
  };
  const set = (name) => {
    const f = get(`${name}.features`);
    const l = get(`${name}.labels`);
    const [count, dim] = f.shape;
    return { features: f.data, labels: Int32Array.from(l.int64, Number), count, dim };
  };
  return { train: set('train'), val: set('val'), meta };
}

export async function saveFeatureCache(file, sets, info) {
  const { writeSafetensors } = await lib('io/safetensors.js');
  const { Tensor } = await lib('tensor/tensor.js');
  const { saveFileAtomic } = await lib('io/node.js');
  const tensors = new Map();
  for (const [name, s] of Object.entries(sets)) {
    tensors.set(`${name}.features`, new Tensor(s.features, [s.count, s.dim]));
    const labels = BigInt64Array.from(s.labels, BigInt);
    tensors.set(`${name}.labels`, new Tensor(labels, [s.count]));
  }
  const meta = {
    split_sha256: info.digest, weights: weightsId(info.weights), preprocess: info.preprocess,
    data: info.data, extract_s: String(info.extractS), extract_img_per_s: String(info.imgPerS),
  };
  mkdirSync(dirname(file), { recursive: true });
  saveFileAtomic(file, writeSafetensors(tensors, meta));
}
