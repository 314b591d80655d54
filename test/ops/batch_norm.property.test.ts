import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/rng.js';
import { batchNorm2dEvalBackward, batchNorm2dTrainBackward, batchStats, normalizeChannels, type BatchStats } from '../../src/ops/batch_norm.js';

/**
 * BatchNorm2d backward against central finite differences of L = <BN(x), r>.
 * The finite differences run on an independent float64 BN forward, so neither
 * float32 rounding in the step nor our own forward decides the expected value.
 */

interface BnCase {
  n: number;
  c: number;
  h: number;
  w: number;
  seed: number;
}

const bnCase: fc.Arbitrary<BnCase> = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  c: fc.integer({ min: 1, max: 12 }),
  h: fc.integer({ min: 1, max: 9 }),
  w: fc.integer({ min: 1, max: 9 }),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
});

const EPS = 1e-5;
const STEP = 1e-4;
/** Elements of x probed per case; gamma and beta are probed in full. */
const PROBES = 16;

function setup(bc: BnCase) {
  const rng = new Rng(bc.seed);
  const size = bc.n * bc.c * bc.h * bc.w;
  const fill = (len: number, f: () => number) => Float32Array.from({ length: len }, f);
  // A per-channel offset and scale, as real activations have.
  const offset = fill(bc.c, () => rng.normal() * 3);
  const spread = fill(bc.c, () => 0.5 + rng.random() * 2);
  const hw = bc.h * bc.w;
  const x = new Tensor(
    fill(size, () => 0).map((_, i) => offset[Math.floor(i / hw) % bc.c] + spread[Math.floor(i / hw) % bc.c] * rng.normal()),
    [bc.n, bc.c, bc.h, bc.w],
  );
  const gamma = fill(bc.c, () => rng.normal());
  const beta = fill(bc.c, () => rng.normal());
  const r = new Tensor(fill(size, () => rng.normal()), x.shape);
  const probes = Array.from({ length: Math.min(PROBES, size) }, () => rng.int(0, size - 1));
  return { x, gamma, beta, r, probes };
}

/** L = <BN_train(x), r> in float64, with biased batch variance. */
function lossTrain64(x: Float64Array, gamma: Float64Array, beta: Float64Array, r: Float32Array, [n, c, h, w]: readonly number[]): number {
  const hw = h * w;
  const m = n * hw;
  let loss = 0;
  for (let ch = 0; ch < c; ch++) {
    let mean = 0;
    for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) mean += x[(b * c + ch) * hw + k];
    mean /= m;
    let v = 0;
    for (let b = 0; b < n; b++) for (let k = 0; k < hw; k++) v += (x[(b * c + ch) * hw + k] - mean) ** 2;
    v /= m;
    const is = 1 / Math.sqrt(v + EPS);
    for (let b = 0; b < n; b++)
      for (let k = 0; k < hw; k++) {
        const i = (b * c + ch) * hw + k;
        loss += ((x[i] - mean) * is * gamma[ch] + beta[ch]) * r[i];
      }
  }
  return loss;
}

/** Central difference of f along coordinate i of v (v is restored). */
function central(v: Float64Array, i: number, f: () => number): number {
  const v0 = v[i];
  v[i] = v0 + STEP;
  const up = f();
  v[i] = v0 - STEP;
  const down = f();
  v[i] = v0;
  return (up - down) / (2 * STEP);
}

function expectClose(ours: number, fd: number, scale: number, label: string, slack = 0): void {
  expect(Math.abs(ours - fd), `${label}: ours ${ours}, finite difference ${fd}`).toBeLessThanOrEqual(1e-3 * scale + slack + 1e-6);
}

/** Ulps of the float32 mean, generously: batchStats rounds the float64 mean once. */
const meanErr = (mean: number): number => Math.abs(mean) * 2 ** -22;

/**
 * Per-element float32 error allowance for train-mode dx. dx is a difference of
 * terms of size |gamma| invStd (|dy| + mean|dy| + |xhat| mean|dy xhat|), which
 * cancel when a channel's variance is near eps (two nearly equal values); and
 * the float32 mean shifts every xhat by meanErr * invStd.
 */
function roundingSlack(x: Tensor, stats: BatchStats, gamma: Float32Array, r: Tensor): Float64Array {
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const M = stats.count;
  const out = new Float64Array(x.data.length);
  for (let ch = 0; ch < c; ch++) {
    const is = stats.invStd[ch];
    const idx = (b: number, k: number) => (b * c + ch) * hw + k;
    let sumAbsDy = 0;
    let sumAbsDyXhat = 0;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < hw; k++) {
        const i = idx(b, k);
        sumAbsDy += Math.abs(r.data[i]);
        sumAbsDyXhat += Math.abs(r.data[i] * (x.data[i] - stats.mean[ch]) * is);
      }
    const g = Math.abs(gamma[ch]) * is;
    for (let b = 0; b < n; b++)
      for (let k = 0; k < hw; k++) {
        const i = idx(b, k);
        const xhat = Math.abs((x.data[i] - stats.mean[ch]) * is);
        const terms = g * (Math.abs(r.data[i]) + sumAbsDy / M + (xhat * sumAbsDyXhat) / M);
        const fromMean = (g * meanErr(stats.mean[ch]) * is * (sumAbsDyXhat + xhat * sumAbsDy)) / M;
        out[i] = 1e-4 * terms + 2 * fromMean;
      }
  }
  return out;
}

const maxAbs = (a: ArrayLike<number>): number => Array.from(a).reduce((m, v) => Math.max(m, Math.abs(v)), 0);

describe('BatchNorm2d backward vs float64 finite differences (random shapes)', () => {
  it('train mode: dx, dgamma, dbeta of <BN(x), r> with batch statistics', () => {
    fc.assert(
      fc.property(bnCase, (bc) => {
        const { x, gamma, beta, r, probes } = setup(bc);
        const stats = batchStats(x, EPS);
        const { gradInput, gradWeight, gradBias } = batchNorm2dTrainBackward(r, x, stats, gamma, true);
        expect(gradInput!.shape).toEqual(x.shape);

        const x64 = Float64Array.from(x.data);
        const g64 = Float64Array.from(gamma);
        const b64 = Float64Array.from(beta);
        const L = () => lossTrain64(x64, g64, b64, r.data, x.shape);

        const fdX = probes.map((i) => central(x64, i, L));
        const fdG = Array.from(g64, (_, ch) => central(g64, ch, L));
        const fdB = Array.from(b64, (_, ch) => central(b64, ch, L));
        const sx = maxAbs(fdX);
        const slack = roundingSlack(x, stats, gamma, r);
        probes.forEach((i, j) => expectClose(gradInput!.data[i], fdX[j], sx, `dx[${i}]`, slack[i]));
        const sg = maxAbs(fdG);
        fdG.forEach((fd, ch) => expectClose(gradWeight[ch], fd, sg, `dgamma[${ch}]`));
        const sb = maxAbs(fdB);
        fdB.forEach((fd, ch) => expectClose(gradBias[ch], fd, sb, `dbeta[${ch}]`));
      }),
      { numRuns: 100 },
    );
  });

  it('train mode: dx sums to zero per channel, and <dx, xhat> is what eps leaves of the variance term', () => {
    fc.assert(
      fc.property(bnCase, (bc) => {
        const { x, gamma, r } = setup(bc);
        const stats = batchStats(x, EPS);
        const dx = batchNorm2dTrainBackward(r, x, stats, gamma, true).gradInput!.data;
        const hw = bc.h * bc.w;
        for (let ch = 0; ch < bc.c; ch++) {
          const is = stats.invStd[ch];
          let s = 0;
          let sx = 0;
          let dyXhat = 0;
          let mag = 0;
          let sumAbsDyXhat = 0;
          let maxXhat = 0;
          for (let b = 0; b < bc.n; b++)
            for (let k = 0; k < hw; k++) {
              const i = (b * bc.c + ch) * hw + k;
              const xhat = (x.data[i] - stats.mean[ch]) * is;
              s += dx[i];
              sx += dx[i] * xhat;
              dyXhat += r.data[i] * xhat;
              sumAbsDyXhat += Math.abs(r.data[i] * xhat);
              maxXhat = Math.max(maxXhat, Math.abs(xhat));
              mag += Math.abs(gamma[ch] * is * r.data[i]) * (1 + xhat * xhat);
            }
          // Exactly 0 if eps were 0: sum(xhat^2) = M var / (var + eps), not M.
          const expectedSx = gamma[ch] * is * dyXhat * EPS * is * is;
          // The float32 mean leaves sum(xhat) = M * meanErr * invStd instead of 0.
          const fromMean = 2 * Math.abs(gamma[ch]) * is * is * meanErr(stats.mean[ch]) * sumAbsDyXhat * (1 + maxXhat);
          expect(Math.abs(s), `channel ${ch}: sum dx`).toBeLessThanOrEqual(1e-5 * mag + fromMean + 1e-12);
          expect(Math.abs(sx - expectedSx), `channel ${ch}: <dx, xhat>`).toBeLessThanOrEqual(1e-5 * mag + fromMean + 1e-12);
        }
      }),
      { numRuns: 100 },
    );
  });

  it('needInputGrad=false skips dx but gives the same parameter gradients', () => {
    fc.assert(
      fc.property(bnCase, (bc) => {
        const { x, gamma, r } = setup(bc);
        const stats = batchStats(x, EPS);
        const full = batchNorm2dTrainBackward(r, x, stats, gamma, true);
        const params = batchNorm2dTrainBackward(r, x, stats, gamma, false);
        expect(params.gradInput).toBeNull();
        expect(Array.from(params.gradWeight)).toEqual(Array.from(full.gradWeight));
        expect(Array.from(params.gradBias)).toEqual(Array.from(full.gradBias));
      }),
      { numRuns: 30 },
    );
  });

  it('eval mode: the backward is the per-channel affine map that the running stats define', () => {
    fc.assert(
      fc.property(bnCase, (bc) => {
        const { x, gamma, beta, r, probes } = setup(bc);
        const rng = new Rng(bc.seed ^ 0x5bd1e995);
        const rm = Float32Array.from({ length: bc.c }, () => rng.normal());
        const rv = Float32Array.from({ length: bc.c }, () => 0.1 + rng.random() * 3);
        const { gradInput, gradWeight, gradBias } = batchNorm2dEvalBackward(r, x, rm, rv, gamma, EPS, true);
        const hw = bc.h * bc.w;
        const x64 = Float64Array.from(x.data);
        const g64 = Float64Array.from(gamma);
        const b64 = Float64Array.from(beta);
        const L = () => {
          let loss = 0;
          for (let i = 0; i < x64.length; i++) {
            const ch = Math.floor(i / hw) % bc.c;
            loss += ((x64[i] - rm[ch]) / Math.sqrt(rv[ch] + EPS) * g64[ch] + b64[ch]) * r.data[i];
          }
          return loss;
        };
        const fdX = probes.map((i) => central(x64, i, L));
        const sx = maxAbs(fdX);
        probes.forEach((i, j) => expectClose(gradInput!.data[i], fdX[j], sx, `eval dx[${i}]`));
        const fdG = Array.from(g64, (_, ch) => central(g64, ch, L));
        fdG.forEach((fd, ch) => expectClose(gradWeight[ch], fd, maxAbs(fdG), `eval dgamma[${ch}]`));
        const fdB = Array.from(b64, (_, ch) => central(b64, ch, L));
        fdB.forEach((fd, ch) => expectClose(gradBias[ch], fd, maxAbs(fdB), `eval dbeta[${ch}]`));
      }),
      { numRuns: 50 },
    );
  });

  it('the float32 forward (batchStats + normalizeChannels) agrees with the float64 one the differences use', () => {
    fc.assert(
      fc.property(bnCase, (bc) => {
        const { x, gamma, beta, r } = setup(bc);
        const stats = batchStats(x, EPS);
        const y = normalizeChannels(x, stats.mean, stats.invStd, gamma, beta);
        const ours = y.data.reduce((s, v, i) => s + v * r.data[i], 0);
        const ref = lossTrain64(Float64Array.from(x.data), Float64Array.from(gamma), Float64Array.from(beta), r.data, x.shape);
        const mag = y.data.reduce((s, v, i) => s + Math.abs(v * r.data[i]), 0);
        expect(Math.abs(ours - ref)).toBeLessThanOrEqual(1e-4 * mag + 1e-6);
      }),
      { numRuns: 50 },
    );
  });
});
