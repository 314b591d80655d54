import { describe, expect, it } from 'vitest';
import { Adam, AdamW, SGD, type Optimizer, type OptimizerStateDict } from '../../src/optim/index.js';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { Parameter } from '../../src/nn/parameter.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { gradAt, param, setGrad } from './helpers.js';

/** Three parameters: a [2,3] weight, a [3] bias and a [1] scalar. */
function model(): Parameter[] {
  return [
    param([0.5, -1, 2, 0.25, -0.75, 1.5], [2, 3]),
    param([0.1, -0.2, 0.3]),
    param([4]),
  ];
}

function feed(ps: Parameter[], t: number, skip: number[] = []): void {
  ps.forEach((p, k) => {
    if (skip.includes(k)) p.grad = null;
    else setGrad(p, Array.from({ length: p.data.size }, (_, i) => gradAt(i + 10 * k, t)));
  });
}

/** A deep copy that keeps tensors as Tensors (structuredClone would turn them into plain objects). */
function cloneStateDict(sd: OptimizerStateDict): OptimizerStateDict {
  const state: OptimizerStateDict['state'] = {};
  for (const [k, s] of Object.entries(sd.state)) {
    state[k] = Object.fromEntries(Object.entries(s).map(([n, v]) => [n, v instanceof Tensor ? v.clone() : v]));
  }
  return { state, paramGroups: sd.paramGroups.map((g) => ({ ...g, params: [...g.params] })) };
}

function values(ps: Parameter[]): number[][] {
  return ps.map((p) => Array.from(p.data.data));
}

type Make = (ps: Parameter[]) => Optimizer;
const makers: Array<[string, Make]> = [
  ['SGD+momentum', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, weightDecay: 4e-5 })],
  ['SGD nesterov', (ps) => new SGD(ps, { lr: 0.05, momentum: 0.9, nesterov: true })],
  ['Adam amsgrad', (ps) => new Adam(ps, { lr: 1e-2, amsgrad: true, weightDecay: 1e-3 })],
  ['AdamW', (ps) => new AdamW(ps, { lr: 1e-3 })],
];

describe('Optimizer base', () => {
  it('zeroGrad sets grads to null by default, or to zeros', () => {
    const ps = model();
    const opt = new SGD(ps, { lr: 0.1 });
    feed(ps, 0);
    const kept = ps[0].grad!;
    opt.zeroGrad(false);
    expect(ps[0].grad).toBe(kept);
    expect(Array.from(kept.data).every((v) => v === 0)).toBe(true);
    opt.zeroGrad();
    expect(ps.every((p) => p.grad === null)).toBe(true);
  });

  for (const [name, make] of makers) {
    it(`${name}: skips params with a null grad and frozen params, and keeps no state for them`, () => {
      const ps = model();
      ps[2].requiresGrad = false;
      const opt = make(ps);
      const before = values(ps);
      for (let t = 0; t < 3; t++) {
        feed(ps, t, [1]);
        opt.step();
      }
      const after = values(ps);
      expect(after[0]).not.toEqual(before[0]);
      expect(after[1]).toEqual(before[1]);
      expect(after[2]).toEqual(before[2]);
      expect(Object.keys(opt.stateDict().state)).toEqual(['0']);
    });

    it(`${name}: stateDict/loadStateDict and toTensors/fromTensors through safetensors resume bit-exactly`, () => {
      const ps = model();
      const opt = make(ps);
      for (let t = 0; t < 2; t++) {
        feed(ps, t, t === 0 ? [2] : []);
        opt.step();
      }
      // Snapshot both ways before stepping on.
      const bytes = writeSafetensors(opt.toTensors('optimizer.'));
      const sd = cloneStateDict(opt.stateDict());
      const snapshot = values(ps);
      for (let t = 2; t < 5; t++) {
        feed(ps, t);
        opt.step();
      }
      const expected = values(ps);

      for (const restore of ['stateDict', 'safetensors'] as const) {
        const qs = snapshot.map((v, k) => new Parameter(new Tensor(Float32Array.from(v), ps[k].shape)));
        const opt2 = make(qs);
        if (restore === 'stateDict') opt2.loadStateDict(sd);
        else opt2.fromTensors(readSafetensors(bytes).tensors, 'optimizer.');
        expect(opt2.paramGroups.map(({ params: _p, ...h }) => h)).toEqual(opt.paramGroups.map(({ params: _p, ...h }) => h));
        for (let t = 2; t < 5; t++) {
          feed(qs, t);
          opt2.step();
        }
        expect(values(qs)).toEqual(expected);
      }
    });
  }

  it('flat keys follow PyTorch state_dict names, with step as a 1-element tensor', () => {
    const ps = model();
    const opt = new Adam([{ params: [ps[0]] }, { params: [ps[1], ps[2]], lr: 0.5 }], { lr: 1e-3 });
    feed(ps, 0, [1]);
    opt.step();
    const m = opt.toTensors();
    expect([...m.keys()].filter((k) => k.includes('.state.')).sort()).toEqual([
      'optimizer.state.0.exp_avg',
      'optimizer.state.0.exp_avg_sq',
      'optimizer.state.0.step',
      'optimizer.state.2.exp_avg',
      'optimizer.state.2.exp_avg_sq',
      'optimizer.state.2.step',
    ]);
    expect(m.get('optimizer.state.2.step')!.shape).toEqual([1]);
    expect(m.get('optimizer.state.2.step')!.data[0]).toBe(1);
    expect(m.get('optimizer.param_groups.1.params')!.toArray()).toEqual([1, 2]);
    expect(m.get('optimizer.param_groups.1.lr')!.data[0]).toBe(0.5);
    expect(m.get('optimizer.param_groups.0.betas')!.toArray()).toEqual([0.9, 0.999].map(Math.fround));
    expect(m.get('optimizer.param_groups.0.amsgrad')!.toArray()).toEqual([0]);
    // PyTorch numbering is global across groups.
    expect(opt.stateDict().paramGroups.map((g) => g.params)).toEqual([[0], [1, 2]]);
  });

  it('per-group hyperparameters: each group uses its own lr', () => {
    const a = param([1]);
    const b = param([1]);
    const opt = new SGD([{ params: [a] }, { params: [b], lr: 0.5 }], { lr: 0.1 });
    setGrad(a, [1]);
    setGrad(b, [1]);
    opt.step();
    expect(a.data.data[0]).toBe(Math.fround(0.9));
    expect(b.data.data[0]).toBe(0.5);
  });

  it('fromTensors keeps an unchanged float64 hyperparameter and restores a changed one', () => {
    const ps = model();
    const opt = new Adam(ps, { lr: 1e-3 });
    opt.paramGroups[0].lr = 0.123;
    const map = opt.toTensors('opt/');
    const opt2 = new Adam(model(), { lr: 1e-3 });
    opt2.fromTensors(map, 'opt/');
    expect(opt2.paramGroups[0].lr).toBe(Math.fround(0.123));
    expect(opt2.paramGroups[0].eps).toBe(1e-8);
    expect(opt2.paramGroups[0].betas).toEqual([0.9, 0.999]);
  });

  it('loadStateDict rejects state that does not fit, naming the problem, and changes nothing', () => {
    const ps = model();
    const opt = new Adam(ps);
    feed(ps, 0);
    opt.step();
    const sd = opt.stateDict();

    const other = new Adam([param([1, 2, 3, 4, 5, 6], [3, 2]), param([0, 0, 0]), param([1])]);
    expect(() => other.loadStateDict(sd)).toThrow(/Adam.loadStateDict: state 0.exp_avg has shape \[2, 3\] but parameter 0 has shape \[3, 2\]/);
    expect(other.state.size).toBe(0);

    expect(() => new Adam(model().slice(0, 2)).loadStateDict(sd)).toThrow(/param group 0 has 3 params in the saved state, 2 here/);
    const two = model();
    expect(() => new Adam([{ params: [two[0]] }, { params: [two[1], two[2]] }]).loadStateDict(sd)).toThrow(/1 param groups, this optimizer has 2/);
    const bad = cloneStateDict(sd);
    bad.state['7'] = bad.state['0'];
    expect(() => new Adam(model()).loadStateDict(bad)).toThrow(/state for parameter '7', but there are only 3 parameters/);
    const badLr = cloneStateDict(sd);
    badLr.paramGroups[0].lr = -1;
    const fresh = new Adam(model());
    expect(() => fresh.loadStateDict(badLr)).toThrow(/invalid learning rate -1/);
    expect(fresh.paramGroups[0].lr).toBe(1e-3);
    expect(() => new Adam(model()).fromTensors(new Map(), 'optimizer.')).toThrow(/no entries with prefix 'optimizer.'/);
  });

  it('rejects a grad whose size does not match its parameter', () => {
    const p = param([1, 2, 3]);
    p.grad = Tensor.from([1, 2]);
    expect(() => new SGD([p], { lr: 0.1 }).step()).toThrow(/SGD: grad of shape \[2\] does not match parameter of shape \[3\]/);
  });
});
