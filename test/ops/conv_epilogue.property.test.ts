import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/rng.js';
import { conv2d, type Conv2dOptions, type ConvEpilogue } from '../../src/ops/conv2d.js';
import { batchNorm2dEval, batchNorm2dEvalAffine } from '../../src/ops/batch_norm.js';
import { relu6_ } from '../../src/ops/activation.js';
import { matmul } from '../../src/ops/gemm.js';
import { noGrad } from '../../src/nn/grad_mode.js';
import { Conv2d } from '../../src/nn/layers/conv2d.js';
import { BatchNorm2d } from '../../src/nn/layers/batch_norm.js';
import { ReLU6 } from '../../src/nn/layers/activation.js';
import { Sequential } from '../../src/nn/layers/sequential.js';

/**
 * The eval forward fuses conv -> BatchNorm -> ReLU6 into the conv's store and
 * blocks wide pointwise GEMMs by columns. Both must leave every output bit as
 * the separate ops and the unblocked GEMM produce, for every conv path
 * (pointwise GEMM, direct 3x3 depthwise and stem, narrow and wide planes, the
 * generic loop, with bias).
 */

const bitsOf = (a: Float32Array): Int32Array => new Int32Array(a.buffer, a.byteOffset, a.length);

function expectSameBits(actual: Float32Array, expected: Float32Array): void {
  expect(actual.length).toBe(expected.length);
  const a = bitsOf(actual);
  const e = bitsOf(expected);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i]) expect(`${i}: ${actual[i]} (0x${(a[i] >>> 0).toString(16)})`).toBe(`${i}: ${expected[i]} (0x${(e[i] >>> 0).toString(16)})`);
  }
}

function randn(shape: number[], rng: Rng, scale = 1): Tensor {
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = scale * rng.normal();
  return t;
}

/** Running stats and affine params; gamma/beta may be exactly 0 so that BN emits signed zeros. */
function bnParams(c: number, rng: Rng) {
  const mean = randn([c], rng, 2);
  const variance = Tensor.zeros([c]);
  for (let i = 0; i < c; i++) variance.data[i] = Math.abs(rng.normal()) + 0.01;
  const gamma = randn([c], rng, 3);
  const beta = randn([c], rng, 3);
  for (let i = 0; i < c; i++) {
    const u = rng.uniform(0, 1);
    if (u < 0.1) gamma.data[i] = 0;
    else if (u < 0.2) beta.data[i] = 0;
    else if (u < 0.25) {
      mean.data[i] = 0;
      beta.data[i] = -0;
    }
  }
  return { mean, variance, gamma, beta };
}

/** Sprinkles values that exercise the clamp: NaN, infinities, signed zeros, 6 and its float32 neighbours. */
function sprinkleSpecials(x: Tensor, rng: Rng): void {
  const specials = [NaN, Infinity, -Infinity, 0, -0, 6, -6, Math.fround(6 + 2 ** -21), Math.fround(6 - 2 ** -21), 1e-45, -1e-45, 3e38, -3e38];
  const count = Math.min(x.data.length, 1 + Math.floor(rng.uniform(0, 1) * 6));
  for (let i = 0; i < count; i++) x.data[Math.floor(rng.uniform(0, 1) * x.data.length)] = specials[Math.floor(rng.uniform(0, 1) * specials.length)];
}

interface Case {
  n: number;
  cin: number;
  cout: number;
  k: 1 | 3;
  stride: number;
  padding: number;
  groups: number;
  h: number;
  w: number;
  bias: boolean;
  relu6: boolean;
  specials: boolean;
  seed: number;
}

const outSize = (size: number, k: number, stride: number, padding: number): number => Math.floor((size + 2 * padding - k) / stride) + 1;

/**
 * Geometries that reach each conv path: pointwise (up to 72x72 planes with
 * K >= 64 so that wide planes are split into column blocks), depthwise and
 * stem 3x3 (padding 1), and the generic loop (anything else).
 */
const caseArb: fc.Arbitrary<Case> = fc
  .record({
    kind: fc.constantFrom('pointwise', 'pointwise-wide', 'depthwise', 'depthwise-wide', 'stem', 'generic'),
    n: fc.integer({ min: 1, max: 2 }),
    h: fc.integer({ min: 1, max: 9 }),
    w: fc.integer({ min: 1, max: 9 }),
    stride: fc.constantFrom(1, 2),
    c: fc.integer({ min: 1, max: 9 }),
    cout: fc.integer({ min: 1, max: 11 }),
    bias: fc.boolean(),
    relu6: fc.boolean(),
    specials: fc.boolean(),
    seed: fc.integer({ min: 0, max: 0x7fffffff }),
  })
  .map((r): Case => {
    const base = { n: r.n, bias: r.bias, relu6: r.relu6, specials: r.specials, seed: r.seed };
    switch (r.kind) {
      case 'pointwise':
        return { ...base, cin: r.c, cout: r.cout, k: 1, stride: 1, padding: 0, groups: 1, h: r.h, w: r.w };
      case 'pointwise-wide':
        // K * h * w > 65536 with K >= 64: column blocks of the GEMM, with tail columns.
        return { ...base, n: 1, cin: 64 + r.c, cout: r.cout, k: 1, stride: 1, padding: 0, groups: 1, h: 32 + 4 * r.h, w: 28 + 5 * r.w };
      case 'depthwise':
        return { ...base, cin: r.c, cout: r.c, k: 3, stride: r.stride, padding: 1, groups: r.c, h: r.h, w: r.w };
      case 'depthwise-wide':
        // Planes 32+ wide are padded row by row with set(subarray).
        return { ...base, cin: r.c, cout: r.c, k: 3, stride: r.stride, padding: 1, groups: r.c, h: r.h, w: 28 + 2 * r.w };
      case 'stem':
        return { ...base, cin: 1 + (r.c % 4), cout: r.cout, k: 3, stride: r.stride, padding: 1, groups: 1, h: r.h, w: r.w };
      default:
        return { ...base, cin: r.c, cout: r.cout, k: 3, stride: r.stride, padding: 0, groups: 1, h: r.h + 2, w: r.w + 2 };
    }
  })
  .filter((c) => outSize(c.h, c.k, c.stride, c.padding) > 0 && outSize(c.w, c.k, c.stride, c.padding) > 0);

function setup(c: Case) {
  const rng = new Rng(c.seed);
  const x = randn([c.n, c.cin, c.h, c.w], rng);
  if (c.specials) sprinkleSpecials(x, rng);
  const weight = randn([c.cout, c.cin / c.groups, c.k, c.k], rng, 0.5);
  const bias = c.bias ? randn([c.cout], rng) : null;
  const bn = bnParams(c.cout, rng);
  const opts: Conv2dOptions = { stride: c.stride, padding: c.padding, groups: c.groups };
  return { x, weight, bias, bn, opts };
}

describe('conv2d epilogue (eval BatchNorm + ReLU6 fused into the store)', () => {
  it('is bit-identical to conv2d -> batchNorm2dEval (-> relu6_) on every conv path', () => {
    fc.assert(
      fc.property(caseArb, (c) => {
        const { x, weight, bias, bn, opts } = setup(c);
        const eps = 1e-5;
        let expected = batchNorm2dEval(conv2d(x, weight, bias, opts), bn.mean, bn.variance, bn.gamma, bn.beta, eps);
        if (c.relu6) expected = relu6_(expected);
        const post: ConvEpilogue = { ...batchNorm2dEvalAffine(bn.mean, bn.variance, bn.gamma, bn.beta, eps), relu6: c.relu6 };
        const actual = conv2d(x, weight, bias, opts, post);
        expect(actual.shape).toEqual(expected.shape);
        expectSameBits(actual.data, expected.data);
      }),
      { numRuns: 150 },
    );
  });

  it('keeps a -0 from BN through the clamp, as relu6_ does (0 < -0 is false)', () => {
    // A depthwise window of -1 weights over zeros sums nine -0 products to -0; BN with mean 0 and beta -0 keeps it.
    const x = Tensor.zeros([1, 1, 3, 3]);
    const w = Tensor.full([1, 1, 3, 3], -1);
    const stats = { mean: Tensor.zeros([1]), variance: Tensor.full([1], 1), gamma: Tensor.full([1], 1), beta: Tensor.full([1], -0) };
    const expected = relu6_(batchNorm2dEval(conv2d(x, w, null, { padding: 1, groups: 1 }), stats.mean, stats.variance, stats.gamma, stats.beta, 1e-5));
    expect(Object.is(expected.data[0], -0)).toBe(true);
    const post = { ...batchNorm2dEvalAffine(stats.mean, stats.variance, stats.gamma, stats.beta, 1e-5), relu6: true };
    expectSameBits(conv2d(x, w, null, { padding: 1, groups: 1 }, post).data, expected.data);
  });

  it('rejects an epilogue whose channel count differs from the conv output', () => {
    const rng = new Rng(1);
    const x = randn([1, 4, 5, 5], rng);
    const w = randn([6, 4, 1, 1], rng);
    const bn = bnParams(5, rng);
    const post = { ...batchNorm2dEvalAffine(bn.mean, bn.variance, bn.gamma, bn.beta, 1e-5), relu6: true };
    expect(() => conv2d(x, w, null, {}, post)).toThrow(/epilogue has 5 channels/);
  });
});

describe('matmul with a row stride (column blocks of a wider B and C)', () => {
  it('gives the same bits as the contiguous product, tails and leftover rows included', () => {
    fc.assert(
      fc.property(
        fc.record({
          M: fc.integer({ min: 1, max: 11 }),
          K: fc.integer({ min: 1, max: 9 }),
          ld: fc.integer({ min: 1, max: 20 }),
          seed: fc.integer({ min: 0, max: 0x7fffffff }),
        }),
        fc.nat(),
        fc.nat(),
        ({ M, K, ld, seed }, p, q) => {
          const j0 = p % ld;
          const n = 1 + (q % (ld - j0));
          const rng = new Rng(seed);
          const A = randn([M, K], rng).data;
          const B = randn([K, ld], rng).data;
          const full = new Float32Array(M * ld);
          matmul(M, ld, K, A, 0, B, 0, full, 0);
          const blocked = new Float32Array(M * ld).fill(NaN);
          matmul(M, n, K, A, 0, B, j0, blocked, j0, false, ld);
          for (let i = 0; i < M; i++) {
            for (let j = 0; j < ld; j++) {
              const v = blocked[i * ld + j];
              if (j >= j0 && j < j0 + n) expect(Object.is(v, full[i * ld + j])).toBe(true);
              else expect(Number.isNaN(v)).toBe(true);
            }
          }
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('matmul on an A past the float64 scratch (copied in row blocks)', () => {
  it('is still one k-order float64 sum per output, rounded once, plain and accumulating', () => {
    const M = 9;
    const K = 70000; // M * K > 2^19: blocks of 4 rows, then the leftover row
    const N = 4;
    const rng = new Rng(11);
    const A = randn([M, K], rng).data;
    const B = randn([K, N], rng).data;
    const C = new Float32Array(M * N);
    const acc = new Float64Array(M * N).fill(0.25);
    matmul(M, N, K, A, 0, B, 0, C, 0);
    matmul(M, N, K, A, 0, B, 0, acc, 0, true);
    for (let i = 0; i < M; i++) {
      for (let j = 0; j < N; j++) {
        let sum = 0;
        for (let k = 0; k < K; k++) sum += A[i * K + k] * B[k * N + j];
        expect(Object.is(C[i * N + j], Math.fround(sum))).toBe(true);
        expect(Object.is(acc[i * N + j], 0.25 + sum)).toBe(true);
      }
    }
  });
});

describe('Sequential eval forward without grad: Conv2d -> BatchNorm2d (-> ReLU6) fused', () => {
  function block(relu: boolean, k: number, groups: number, c: number, rng: Rng): Sequential {
    const layers = [new Conv2d(c, c, k, { padding: (k - 1) >> 1, groups, bias: false, rng }), new BatchNorm2d(c)];
    const seq = relu ? new Sequential(...layers, new ReLU6({ inplace: true })) : new Sequential(...layers);
    const bn = layers[1] as BatchNorm2d;
    const p = bnParams(c, rng);
    bn.runningMean.copy_(p.mean);
    bn.runningVar.copy_(p.variance);
    bn.weight.data.copy_(p.gamma);
    bn.bias.data.copy_(p.beta);
    return seq;
  }

  it('gives the same bits as the layer-by-layer forward with grad on', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 0x7fffffff }), fc.boolean(), fc.constantFrom(1, 3), fc.integer({ min: 1, max: 6 }), (seed, relu, k, c) => {
        const rng = new Rng(seed);
        const seq = new Sequential(block(relu, k, k === 3 ? c : 1, c, rng), block(!relu, 1, 1, c, rng));
        seq.eval();
        const x = randn([1, c, 6, 5], rng);
        sprinkleSpecials(x, rng);
        const reference = seq.forward(x);
        seq.clearCache();
        const fused = noGrad(() => seq.forward(x));
        expectSameBits(fused.data, reference.data);
      }),
      { numRuns: 60 },
    );
  });

  it('leaves train mode and replaced forwards alone', () => {
    const rng = new Rng(3);
    const seq = block(true, 1, 1, 3, rng);
    const x = randn([2, 3, 4, 4], rng);
    // Train mode: BN uses batch statistics and updates its running ones.
    const before = seq.at(1).getBuffer('running_mean').data.slice();
    noGrad(() => seq.forward(x));
    expect(seq.at(1).getBuffer('running_mean').data).not.toEqual(before);
    // A BN whose forward was replaced is called, not fused.
    seq.eval();
    let calls = 0;
    const bn = seq.at(1) as BatchNorm2d;
    const own = bn.forward.bind(bn);
    bn.forward = (t: Tensor) => {
      calls++;
      return own(t);
    };
    noGrad(() => seq.forward(x));
    expect(calls).toBe(1);
  });
});
