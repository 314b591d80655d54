import { describe, expect, it } from 'vitest';
import { SGD, type SGDOptions } from '../../src/optim/index.js';
import { gradAt, maxRelErr, param, setGrad } from './helpers.js';

/**
 * torch.optim.SGD's documented algorithm, in float64:
 *   g <- g + wd*θ;  if μ≠0: b <- (t>1 ? μb + (1-τ)g : g);  g <- nesterov ? g + μb : b;  θ <- θ - γg
 * (maximize negates g first).
 */
function referenceSGD(theta0: number[], grads: number[][], o: SGDOptions): number[] {
  const theta = [...theta0];
  const buf = theta.map(() => 0);
  grads.forEach((gs, t) => {
    for (let i = 0; i < theta.length; i++) {
      let g = o.maximize ? -gs[i] : gs[i];
      g += o.weightDecay * theta[i];
      if (o.momentum !== 0) {
        buf[i] = t === 0 ? g : o.momentum * buf[i] + (1 - o.dampening) * g;
        g = o.nesterov ? g + o.momentum * buf[i] : buf[i];
      }
      theta[i] -= o.lr * g;
    }
  });
  return theta;
}

const cases: Array<[string, SGDOptions]> = [
  ['plain', { lr: 0.1, momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false }],
  ['momentum + weight decay (the fixture recipe)', { lr: 0.05, momentum: 0.9, dampening: 0, weightDecay: 4e-5, nesterov: false, maximize: false }],
  ['dampening', { lr: 0.2, momentum: 0.8, dampening: 0.5, weightDecay: 0, nesterov: false, maximize: false }],
  ['nesterov', { lr: 0.1, momentum: 0.9, dampening: 0, weightDecay: 0.01, nesterov: true, maximize: false }],
  ['maximize', { lr: 0.1, momentum: 0.5, dampening: 0.1, weightDecay: 0.05, nesterov: false, maximize: true }],
];

describe('SGD follows torch.optim.SGD', () => {
  for (const [name, o] of cases) {
    it(`${name}: 5 steps agree with the float64 update rule`, () => {
      const theta0 = Array.from({ length: 17 }, (_, i) => Math.fround(Math.cos(i) * 2));
      const grads = Array.from({ length: 5 }, (_, t) => theta0.map((_, i) => gradAt(i, t)));
      const p = param(theta0);
      const opt = new SGD([p], o);
      for (const g of grads) {
        setGrad(p, g);
        opt.step();
      }
      const ref = referenceSGD(theta0, grads, o);
      expect(maxRelErr(p.data.data, ref)).toBeLessThan(2e-6);
      // Sanity: the run moved the parameters by much more than the tolerance.
      expect(maxRelErr(theta0, ref)).toBeGreaterThan(1e-2);
    });
  }

  it('the first momentum step uses the raw gradient (no dampening), as PyTorch does', () => {
    const p = param([1]);
    const opt = new SGD([p], { lr: 1, momentum: 0.9, dampening: 0.5 });
    setGrad(p, [0.25]);
    opt.step();
    expect(p.data.data[0]).toBe(0.75);
    setGrad(p, [0.25]);
    opt.step();
    // buf = 0.9*0.25 + 0.5*0.25 = 0.35
    expect(p.data.data[0]).toBeCloseTo(0.4, 7);
    expect((opt.state.get(p)!.momentum_buffer as { data: Float32Array }).data[0]).toBeCloseTo(0.35, 7);
  });

  it('keeps no state without momentum, as PyTorch', () => {
    const p = param([1, 2]);
    const opt = new SGD([p], { lr: 0.1 });
    setGrad(p, [1, 1]);
    opt.step();
    expect(opt.stateDict().state).toEqual({});
  });

  it('rejects bad hyperparameters', () => {
    const p = param([1]);
    expect(() => new SGD([p], { lr: -1 })).toThrow(/SGD: invalid learning rate -1/);
    expect(() => new SGD([p], { lr: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.1, nesterov: true })).toThrow(/nesterov/);
    expect(() => new SGD([], { lr: 0.1 })).toThrow(/empty parameter list/);
    expect(() => new SGD([p, p], { lr: 0.1 })).toThrow(/more than one param group/);
  });
});
