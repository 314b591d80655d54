import { describe, expect, it } from 'vitest';
import {
  CosineAnnealingLR,
  LinearWarmup,
  SGD,
  SequentialLR,
  StepLR,
  warmupCosine,
  type LRScheduler,
} from '../../src/optim/index.js';
import { param } from './helpers.js';

/** An optimizer with two groups whose base lrs are 0.1 and 0.02. */
function optimizer(): SGD {
  return new SGD([{ params: [param([1])] }, { params: [param([2])], lr: 0.02 }], { lr: 0.1 });
}
const BASE = [0.1, 0.02];

/** lr of every group for epochs 0..n, as seen by the optimizer after construction and each step. */
function run(opt: SGD, s: LRScheduler, n: number): number[][] {
  const out = [opt.paramGroups.map((g) => g.lr)];
  expect(s.getLastLr()).toEqual(out[0]);
  for (let e = 1; e <= n; e++) {
    s.step();
    out.push(opt.paramGroups.map((g) => g.lr));
    expect(s.getLastLr()).toEqual(out[e]);
  }
  return out;
}

function expectClose(ours: number[][], ref: number[][]): void {
  expect(ours.length).toBe(ref.length);
  ours.forEach((row, e) => row.forEach((v, g) => expect(Math.abs(v - ref[e][g])).toBeLessThanOrEqual(1e-12 * Math.max(1e-3, ref[e][g]))));
}

/**
 * PyTorch's schedulers update the lr recursively from its previous value (get_lr);
 * these replicate those recursions in float64, independent of our closed forms.
 */
function torchRecursive(n: number, first: (base: number) => number, next: (lr: number, e: number, base: number) => number): number[][] {
  const out = [BASE.map(first)];
  for (let e = 1; e <= n; e++) out.push(out[e - 1].map((lr, g) => next(lr, e, BASE[g])));
  return out;
}

describe('LR schedulers', () => {
  it('StepLR matches base * gamma^floor(e/stepSize) and the PyTorch recursion', () => {
    const opt = optimizer();
    const lrs = run(opt, new StepLR(opt, { stepSize: 3, gamma: 0.5 }), 10);
    expectClose(lrs, Array.from({ length: 11 }, (_, e) => BASE.map((b) => b * 0.5 ** Math.floor(e / 3))));
    expectClose(lrs, torchRecursive(10, (b) => b, (lr, e) => (e % 3 === 0 ? lr * 0.5 : lr)));
  });

  it('CosineAnnealingLR matches the closed form, and PyTorch\'s recursion over three half-periods', () => {
    const opt = optimizer();
    const T = 8;
    const etaMin = 0.001;
    const lrs = run(opt, new CosineAnnealingLR(opt, { tMax: T, etaMin }), 3 * T);
    expectClose(lrs, Array.from({ length: 3 * T + 1 }, (_, e) => BASE.map((b) => etaMin + ((b - etaMin) * (1 + Math.cos((Math.PI * e) / T))) / 2)));
    const recursive = torchRecursive(
      3 * T,
      (b) => b,
      (lr, e, b) =>
        (e - 1 - T) % (2 * T) === 0
          ? lr + ((b - etaMin) * (1 - Math.cos(Math.PI / T))) / 2
          : ((1 + Math.cos((Math.PI * e) / T)) / (1 + Math.cos((Math.PI * (e - 1)) / T))) * (lr - etaMin) + etaMin,
    );
    expectClose(lrs, recursive);
    // The minimum at tMax, back to the base lr at 2*tMax.
    lrs[T].forEach((v) => expect(v).toBeCloseTo(etaMin, 15));
    lrs[2 * T].forEach((v, g) => expect(v).toBeCloseTo(BASE[g], 15));
  });

  it('LinearWarmup matches LinearLR: base*(s + (1-s)*min(e,N)/N) and PyTorch\'s recursion', () => {
    const opt = optimizer();
    const lrs = run(opt, new LinearWarmup(opt, { startFactor: 0.1, totalIters: 4 }), 8);
    expectClose(lrs, Array.from({ length: 9 }, (_, e) => BASE.map((b) => b * (0.1 + (0.9 * Math.min(e, 4)) / 4))));
    expectClose(
      lrs,
      torchRecursive(8, (b) => b * 0.1, (lr, e) => (e > 4 ? lr : lr * (1 + 0.9 / (4 * 0.1 + (e - 1) * 0.9)))),
    );
  });

  it('SequentialLR / warmupCosine: warmup, then cosine restarted at the milestone from the initial lr', () => {
    const opt = optimizer();
    const s = warmupCosine(opt, { warmupIters: 3, totalIters: 10, startFactor: 0.25 });
    expect(opt.paramGroups.map((g) => g.initialLr)).toEqual(BASE);
    const lrs = run(opt, s, 12);
    const ref = Array.from({ length: 13 }, (_, e) =>
      BASE.map((b) => (e < 3 ? b * (0.25 + (0.75 * e) / 3) : (b * (1 + Math.cos((Math.PI * (e - 3)) / 7))) / 2)),
    );
    expectClose(lrs, ref);
    expect(lrs[3]).toEqual(BASE);
  });

  it('a second scheduler starts from the initial lr, not the lr the first one set', () => {
    const opt = optimizer();
    const warm = new LinearWarmup(opt, { startFactor: 0.5, totalIters: 2 });
    expect(opt.paramGroups[0].lr).toBe(0.05);
    const cos = new CosineAnnealingLR(opt, { tMax: 4 });
    expect(cos.baseLrs).toEqual(BASE);
    const seq = new SequentialLR(opt, [warm, cos], [2]);
    expect(seq.getLastLr()).toEqual([0.05, 0.01]);
  });

  it('stateDict/loadStateDict restore the schedule on a fresh optimizer', () => {
    const opt = optimizer();
    const s = warmupCosine(opt, { warmupIters: 2, totalIters: 9 });
    for (let e = 0; e < 5; e++) s.step();
    const sd = s.stateDict();
    expect(sd).toEqual({ lastEpoch: 5, baseLrs: BASE });
    const opt2 = optimizer();
    const s2 = warmupCosine(opt2, { warmupIters: 2, totalIters: 9 });
    s2.loadStateDict(sd);
    expect(opt2.paramGroups.map((g) => g.lr)).toEqual(opt.paramGroups.map((g) => g.lr));
    s.step();
    s2.step();
    expect(s2.getLastLr()).toEqual(s.getLastLr());
    expect(() => s2.loadStateDict({ lastEpoch: -1, baseLrs: BASE })).toThrow(/SequentialLR.loadStateDict: invalid lastEpoch -1/);
    expect(() => s2.loadStateDict({ lastEpoch: 1, baseLrs: [0.1] })).toThrow(/expected 2 finite baseLrs/);
  });

  it('rejects bad options', () => {
    const opt = optimizer();
    expect(() => new StepLR(opt, { stepSize: 0 })).toThrow(/StepLR: stepSize must be a positive integer/);
    expect(() => new CosineAnnealingLR(opt, { tMax: 2.5 })).toThrow(/CosineAnnealingLR: tMax/);
    expect(() => new LinearWarmup(opt, { startFactor: 0 })).toThrow(/LinearWarmup: startFactor/);
    const a = new StepLR(opt, { stepSize: 2 });
    expect(() => new SequentialLR(opt, [a, new StepLR(opt, { stepSize: 2 })], [])).toThrow(/2 schedulers need 1 milestones/);
    expect(() => new SequentialLR(optimizer(), [a], [])).toThrow(/same optimizer/);
    expect(() => warmupCosine(opt, { warmupIters: 5, totalIters: 5 })).toThrow(/warmupCosine: need integers/);
  });
});
