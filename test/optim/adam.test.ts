import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Adam, AdamW, type AdamOptions } from '../../src/optim/index.js';
import { gradAt, maxRelErr, param, setGrad } from './helpers.js';

/**
 * torch.optim.Adam / AdamW's documented algorithm, in float64:
 *   AdamW: θ <- θ(1 - γλ);  Adam: g <- g + λθ
 *   m <- β1 m + (1-β1) g;  v <- β2 v + (1-β2) g²
 *   (amsgrad: v <- max over steps of v, as PyTorch's implementation keeps it)
 *   θ <- θ - γ/(1-β1^t) · m / (sqrt(v)/sqrt(1-β2^t) + ε)
 */
function referenceAdam(theta0: number[], grads: number[][], o: AdamOptions): number[] {
  const theta = [...theta0];
  const m = theta.map(() => 0);
  const v = theta.map(() => 0);
  const vMax = theta.map(() => 0);
  const [b1, b2] = o.betas;
  grads.forEach((gs, t0) => {
    const t = t0 + 1;
    for (let i = 0; i < theta.length; i++) {
      let g = o.maximize ? -gs[i] : gs[i];
      if (o.decoupledWeightDecay) theta[i] *= 1 - o.lr * o.weightDecay;
      else g += o.weightDecay * theta[i];
      m[i] = b1 * m[i] + (1 - b1) * g;
      v[i] = b2 * v[i] + (1 - b2) * g * g;
      vMax[i] = Math.max(vMax[i], v[i]);
      const second = o.amsgrad ? vMax[i] : v[i];
      theta[i] -= ((o.lr / (1 - b1 ** t)) * m[i]) / (Math.sqrt(second) / Math.sqrt(1 - b2 ** t) + o.eps);
    }
  });
  return theta;
}

const base: AdamOptions = {
  lr: 1e-3,
  betas: [0.9, 0.999],
  eps: 1e-8,
  weightDecay: 0,
  amsgrad: false,
  maximize: false,
  decoupledWeightDecay: false,
};

const cases: Array<[string, AdamOptions]> = [
  ['defaults', base],
  ['large lr, L2 weight decay, large eps (so its placement matters)', { ...base, lr: 0.1, weightDecay: 0.1, eps: 0.05 }],
  ['beta1 >= 0.5 lerp branch (beta1 = 0.3)', { ...base, lr: 0.05, betas: [0.3, 0.9] }],
  ['amsgrad', { ...base, lr: 0.05, amsgrad: true, betas: [0.8, 0.95] }],
  ['maximize', { ...base, lr: 0.02, maximize: true, weightDecay: 0.01 }],
  ['AdamW decoupled weight decay', { ...base, lr: 0.05, weightDecay: 0.5, decoupledWeightDecay: true }],
];

describe('Adam / AdamW follow torch.optim', () => {
  for (const [name, o] of cases) {
    it(`${name}: 6 steps agree with the float64 update rule`, () => {
      const theta0 = Array.from({ length: 23 }, (_, i) => Math.fround(Math.cos(0.7 * i) * 1.5));
      // Varying magnitudes make the second moment (and amsgrad's max) matter.
      const grads = Array.from({ length: 6 }, (_, t) => theta0.map((_, i) => gradAt(i, t, t % 3 === 1 ? 0.2 : 1)));
      const p = param(theta0);
      const opt = o.decoupledWeightDecay ? new AdamW([p], { ...o }) : new Adam([p], o);
      for (const g of grads) {
        setGrad(p, g);
        opt.step();
      }
      const ref = referenceAdam(theta0, grads, o);
      expect(maxRelErr(p.data.data, ref)).toBeLessThan(2e-6);
      expect(maxRelErr(theta0, ref)).toBeGreaterThan(100 * 2e-6);
      expect(opt.state.get(p)!.step).toBe(6);
    });
  }

  it('AdamW defaults to weightDecay 0.01 and decays before the update', () => {
    const p = param([2]);
    const opt = new AdamW([p], { lr: 0.1 });
    expect(opt.paramGroups[0].weightDecay).toBe(0.01);
    setGrad(p, [0]);
    opt.step();
    // zero gradient: only the decay acts, θ = 2 (1 - 0.1*0.01)
    expect(p.data.data[0]).toBe(Math.fround(Math.fround(2) * Math.fround(1 - 0.001)));
  });

  it('property: the first step moves each element by about lr against the sign of its grad', () => {
    fc.assert(
      fc.property(
        fc.array(
          fc.record({
            theta: fc.float({ min: -10, max: 10, noNaN: true }),
            g: fc.oneof(fc.constant(0), fc.float({ min: Math.fround(1e-3), max: 1e3, noNaN: true }), fc.float({ min: -1e3, max: Math.fround(-1e-3), noNaN: true })),
          }),
          { minLength: 1, maxLength: 40 },
        ),
        fc.double({ min: 1e-4, max: 1e-1, noNaN: true }),
        (elems, lr) => {
          const theta0 = elems.map((e) => Math.fround(e.theta));
          const p = param(theta0);
          setGrad(p, elems.map((e) => e.g));
          new Adam([p], { lr }).step();
          elems.forEach((e, i) => {
            const delta = p.data.data[i] - theta0[i];
            if (e.g === 0) expect(delta).toBe(0);
            else {
              const ulp = Math.abs(theta0[i]) * 2 ** -23 + 1e-30;
              expect(Math.abs(delta + lr * Math.sign(e.g))).toBeLessThanOrEqual(lr * 2e-5 + 2 * ulp);
            }
          });
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects bad hyperparameters', () => {
    const p = param([1]);
    expect(() => new Adam([p], { betas: [1, 0.999] })).toThrow(/Adam: invalid betas/);
    expect(() => new AdamW([p], { eps: -1 })).toThrow(/AdamW: invalid eps/);
    expect(() => new Adam([p], { weightDecay: -0.1 })).toThrow(/invalid weightDecay/);
  });
});
