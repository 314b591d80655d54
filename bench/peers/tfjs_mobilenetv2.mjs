// MobileNetV2 written with TensorFlow.js ops and loaded from OUR state dict, so the
// tfjs cells run the very same network and weights as ours (checked: max logit diff).
// Layouts: activations NHWC, conv filters HWIO, depthwise filters [kh, kw, C, 1].
import { mobileNetV2Layout } from '../../dist/src/backend/wasm/index.js';

const BN_EPS = 1e-5;
const BN_MOMENTUM = 0.1;

/** torch [Cout, Cin, kh, kw] -> tfjs HWIO [kh, kw, Cin, Cout]; depthwise [C, 1, kh, kw] -> [kh, kw, C, 1]. */
function toHwio(t, depthwise) {
  const [co, ci, kh, kw] = t.shape;
  const src = t.data;
  const out = new Float32Array(src.length);
  if (depthwise) {
    // HWIO of a depthwise filter with multiplier 1 is [kh, kw, C, 1].
    for (let c = 0; c < co; c++)
      for (let y = 0; y < kh; y++) for (let x = 0; x < kw; x++) out[(y * kw + x) * co + c] = src[(c * kh + y) * kw + x];
    return { data: out, shape: [kh, kw, co, 1] };
  }
  for (let o = 0; o < co; o++)
    for (let i = 0; i < ci; i++)
      for (let y = 0; y < kh; y++)
        for (let x = 0; x < kw; x++) out[((y * kw + x) * ci + i) * co + o] = src[((o * ci + i) * kh + y) * kw + x];
  return { data: out, shape: [kh, kw, ci, co] };
}

/** The conv + BN units of the network in execution order, with their torch key prefixes. */
function units(alpha) {
  const layout = mobileNetV2Layout(alpha);
  const stem = { conv: 'features.0.0', bn: 'features.0.1', kind: 'conv', stride: 2, relu6: true };
  const blocks = layout.blocks.map((b) => {
    const p = `features.${b.index}.conv`;
    const list = [];
    if (b.expandRatio !== 1) list.push({ conv: `${p}.0.0`, bn: `${p}.0.1`, kind: 'conv', stride: 1, relu6: true });
    const d = b.expandRatio !== 1 ? 1 : 0;
    list.push({ conv: `${p}.${d}.0`, bn: `${p}.${d}.1`, kind: 'dw', stride: b.stride, relu6: true });
    list.push({ conv: `${p}.${d + 1}`, bn: `${p}.${d + 2}`, kind: 'conv', stride: 1, relu6: false });
    return { units: list, shortcut: b.useShortcut };
  });
  const last = { conv: `features.${layout.numFeatures - 1}.0`, bn: `features.${layout.numFeatures - 1}.1`, kind: 'conv', stride: 1, relu6: true };
  return { stem, blocks, last };
}

function get(sd, key) {
  const t = sd.get(key);
  if (!t) throw new Error(`tfjs MobileNetV2: state dict has no '${key}'`);
  return t;
}

/**
 * Inference network with BN folded into the convs (as onnxruntime and our wasm engine do),
 * using tf.fused ops so each backend gets its best conv+bias+relu6 path.
 */
export function buildTfjsInference(tf, sd, alpha = 1) {
  const { stem, blocks, last } = units(alpha);
  const fold = (u) => {
    const w = get(sd, `${u.conv}.weight`);
    const g = get(sd, `${u.bn}.weight`).data, b = get(sd, `${u.bn}.bias`).data;
    const m = get(sd, `${u.bn}.running_mean`).data, v = get(sd, `${u.bn}.running_var`).data;
    const co = w.shape[0];
    const per = w.data.length / co;
    const wf = new Float32Array(w.data.length);
    const bias = new Float32Array(co);
    for (let o = 0; o < co; o++) {
      const s = g[o] / Math.sqrt(v[o] + BN_EPS);
      for (let i = 0; i < per; i++) wf[o * per + i] = w.data[o * per + i] * s;
      bias[o] = b[o] - m[o] * s;
    }
    const f = toHwio({ data: wf, shape: w.shape }, u.kind === 'dw');
    return { ...u, filter: tf.tensor(f.data, f.shape), bias: tf.tensor1d(bias) };
  };
  const net = {
    stem: fold(stem),
    blocks: blocks.map((b) => ({ shortcut: b.shortcut, units: b.units.map(fold) })),
    last: fold(last),
  };
  const fcW = get(sd, 'classifier.1.weight');
  const fc = tf.transpose(tf.tensor(fcW.data, fcW.shape));
  const fcB = tf.tensor1d(get(sd, 'classifier.1.bias').data);
  const apply = (u, x) => {
    const pad = u.filter.shape[0] === 3 ? 1 : 0;
    const args = { x, filter: u.filter, strides: u.stride, pad, bias: u.bias, activation: u.relu6 ? 'relu6' : 'linear' };
    return u.kind === 'dw' ? tf.fused.depthwiseConv2d(args) : tf.fused.conv2d(args);
  };
  /** NHWC input -> logits [N, numClasses]. */
  const forward = (x) =>
    tf.tidy(() => {
      let h = apply(net.stem, x);
      for (const b of net.blocks) {
        let y = h;
        for (const u of b.units) y = apply(u, y);
        h = b.shortcut ? tf.add(h, y) : y;
      }
      h = apply(net.last, h);
      return tf.add(tf.matMul(tf.mean(h, [1, 2]), fc), fcB);
    });
  const features = (x) =>
    tf.tidy(() => {
      let h = apply(net.stem, x);
      for (const b of net.blocks) {
        let y = h;
        for (const u of b.units) y = apply(u, y);
        h = b.shortcut ? tf.add(h, y) : y;
      }
      return tf.mean(apply(net.last, h), [1, 2]);
    });
  return { forward, features, fc, fcB };
}

/**
 * Training network: unfused convs, BN on batch statistics with running-stat updates,
 * Dropout(0.2) before the classifier, every conv/BN/linear weight a tf.Variable.
 */
export function buildTfjsTrainable(tf, sd, alpha = 1) {
  const { stem, blocks, last } = units(alpha);
  const make = (u) => {
    const w = get(sd, `${u.conv}.weight`);
    const f = toHwio(w, u.kind === 'dw');
    const v = (k) => get(sd, `${u.bn}.${k}`).data;
    return {
      ...u,
      filter: tf.variable(tf.tensor(f.data, f.shape)),
      gamma: tf.variable(tf.tensor1d(v('weight'))),
      beta: tf.variable(tf.tensor1d(v('bias'))),
      mean: tf.variable(tf.tensor1d(v('running_mean')), false),
      var: tf.variable(tf.tensor1d(v('running_var')), false),
    };
  };
  const net = {
    stem: make(stem),
    blocks: blocks.map((b) => ({ shortcut: b.shortcut, units: b.units.map(make) })),
    last: make(last),
  };
  const fcW = get(sd, 'classifier.1.weight');
  const fc = tf.variable(tf.transpose(tf.tensor(fcW.data, fcW.shape)));
  const fcB = tf.variable(tf.tensor1d(get(sd, 'classifier.1.bias').data));
  const statUpdates = [];
  const apply = (u, x) => {
    const pad = u.filter.shape[0] === 3 ? 1 : 0;
    const c = u.kind === 'dw' ? tf.depthwiseConv2d(x, u.filter, u.stride, pad) : tf.conv2d(x, u.filter, u.stride, pad);
    const { mean, variance } = tf.moments(c, [0, 1, 2]);
    // Kept past minimize()'s tidy for the running-stat update below.
    statUpdates.push([u, tf.keep(mean), tf.keep(variance), c.size / c.shape[3]]);
    const y = tf.batchNorm(c, mean, variance, u.beta, u.gamma, BN_EPS);
    return u.relu6 ? tf.clipByValue(y, 0, 6) : y;
  };
  const forward = (x) => {
    let h = apply(net.stem, x);
    for (const b of net.blocks) {
      let y = h;
      for (const u of b.units) y = apply(u, y);
      h = b.shortcut ? tf.add(h, y) : y;
    }
    h = tf.mean(apply(net.last, h), [1, 2]);
    return tf.add(tf.matMul(tf.dropout(h, 0.2), fc), fcB);
  };
  const optimizer = tf.train.adam(1e-3);
  /** One full-network step (forward, backward, Adam) on NHWC x and one-hot labels. */
  const step = (x, oneHot) => {
    statUpdates.length = 0;
    const loss = optimizer.minimize(() => tf.losses.softmaxCrossEntropy(oneHot, forward(x)), true);
    // Running statistics as PyTorch updates them (unbiased variance), outside the tape.
    tf.tidy(() => {
      for (const [u, m, v, n] of statUpdates) {
        u.mean.assign(tf.add(tf.mul(u.mean, 1 - BN_MOMENTUM), tf.mul(m, BN_MOMENTUM)));
        u.var.assign(tf.add(tf.mul(u.var, 1 - BN_MOMENTUM), tf.mul(v, (BN_MOMENTUM * n) / (n - 1))));
      }
    });
    for (const [, m, v] of statUpdates) tf.dispose([m, v]);
    const value = loss.dataSync()[0];
    loss.dispose();
    return value;
  };
  return { step };
}

/**
 * Frozen-features transfer step as far as tfjs-backend-wasm allows (it has no conv/depthwise
 * backprop kernels): the backbone runs forward only (BN folded, eval statistics), and the
 * classifier trains with Adam on the pooled features.
 */
export function buildTfjsFrozen(tf, sd, alpha = 1) {
  const inf = buildTfjsInference(tf, sd, alpha);
  const fc = tf.variable(inf.fc.clone());
  const fcB = tf.variable(inf.fcB.clone());
  const optimizer = tf.train.adam(1e-3);
  const step = (x, oneHot) => {
    const pooled = inf.features(x);
    const loss = optimizer.minimize(
      () => tf.losses.softmaxCrossEntropy(oneHot, tf.add(tf.matMul(tf.dropout(pooled, 0.2), fc), fcB)),
      true,
      [fc, fcB],
    );
    const value = loss.dataSync()[0];
    loss.dispose();
    pooled.dispose();
    return value;
  };
  return { step };
}
