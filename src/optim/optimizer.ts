import { Tensor, formatShape, sameShape } from '../tensor/tensor.js';
import type { Parameter } from '../nn/parameter.js';

/** A hyperparameter value as stored in a param group. */
export type HyperValue = number | boolean | readonly number[];

/** What every param group holds besides its optimizer's own hyperparameters. */
export interface BaseHyperparams {
  lr: number;
  /** Set by the first LR scheduler attached (PyTorch's `initial_lr`): the lr schedules start from. */
  initialLr?: number;
}

export type ParamGroup<H extends BaseHyperparams = BaseHyperparams> = H & BaseHyperparams & { params: Parameter[] };

/** A param group as passed to a constructor: any hyperparameter left out takes the optimizer's default. */
export type ParamGroupInit<H extends BaseHyperparams = BaseHyperparams> = Partial<H> & { params: Parameter[] };

/** Per-parameter state: tensors (`exp_avg`, `momentum_buffer`, ...) and numbers (`step`). */
export type ParamState = Record<string, Tensor | number>;

/**
 * As PyTorch's `optimizer.state_dict()`: `state` is keyed by the parameter's index
 * counted across all groups in order, and each group lists its parameters by index.
 */
export interface OptimizerStateDict {
  state: Record<string, ParamState>;
  paramGroups: Array<{ params: number[] } & Record<string, HyperValue>>;
}

/**
 * Base class of the optimizers, as `torch.optim.Optimizer`: updates `param.data.data`
 * in place and, as PyTorch does, skips every parameter whose `grad` is null. A frozen
 * parameter (`requiresGrad` false) is skipped too, even if something left a grad on it.
 */
export abstract class Optimizer<H extends BaseHyperparams = BaseHyperparams> {
  readonly paramGroups: ParamGroup<H>[] = [];
  /** Per-parameter state, created lazily on a parameter's first update. */
  readonly state = new Map<Parameter, ParamState>();
  /** State entries that are plain numbers rather than tensors (for `fromTensors`). */
  protected readonly scalarStateKeys: readonly string[] = ['step'];

  protected constructor(
    params: readonly Parameter[] | readonly ParamGroupInit<H>[],
    protected readonly defaults: H,
    protected readonly name: string,
  ) {
    if (!Array.isArray(params) || params.length === 0) throw new Error(`${name}: got an empty parameter list`);
    const groups = isGroupList(params) ? params : [{ params: params as Parameter[] } as ParamGroupInit<H>];
    for (const g of groups) this.addParamGroup(g);
  }

  /** Adds a group; hyperparameters it leaves out take this optimizer's defaults. */
  addParamGroup(init: ParamGroupInit<H>): void {
    if (!init || !Array.isArray(init.params) || init.params.length === 0) {
      throw new Error(`${this.name}: a param group needs a non-empty 'params' array`);
    }
    const seen = new Set(this.paramGroups.flatMap((g) => g.params));
    for (const p of init.params) {
      if (!p || !(p.data instanceof Tensor)) throw new Error(`${this.name}: params must be Parameters (with a Tensor 'data')`);
      if (p.data.dtype !== 'float32') throw new Error(`${this.name}: parameter of shape ${formatShape(p.shape)} is ${p.data.dtype}, not float32`);
      if (seen.has(p)) throw new Error(`${this.name}: a parameter appears in more than one param group (or twice in one)`);
      seen.add(p);
    }
    const group = { ...cloneHypers(this.defaults), ...cloneHypers(init), params: [...init.params] } as ParamGroup<H>;
    this.validateGroup(group);
    this.paramGroups.push(group);
  }

  /** Throws a clear error for a hyperparameter out of range. */
  protected validateGroup(group: ParamGroup<H>): void {
    if (!(Number.isFinite(group.lr) && group.lr >= 0)) throw new Error(`${this.name}: invalid learning rate ${group.lr}`);
  }

  /** One update of every parameter that has a gradient. */
  step(): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null || !p.requiresGrad) continue;
        if (p.grad.size !== p.data.size) {
          throw new Error(`${this.name}: grad of shape ${formatShape(p.grad.shape)} does not match parameter of shape ${formatShape(p.shape)}`);
        }
        this.update(p, p.grad.data, group);
      }
    }
  }

  /** Updates `p.data.data` in place from its gradient `grad`. */
  protected abstract update(p: Parameter, grad: Float32Array, group: ParamGroup<H>): void;

  /** The state of `p`, created empty on first use. */
  protected stateOf(p: Parameter): ParamState {
    let s = this.state.get(p);
    if (!s) {
      s = {};
      this.state.set(p, s);
    }
    return s;
  }

  /** As PyTorch: by default drops the gradients (null); with `setToNone=false` fills them with zeros. */
  zeroGrad(setToNone = true): void {
    for (const group of this.paramGroups) {
      for (const p of group.params) {
        if (p.grad === null) continue;
        if (setToNone) p.grad = null;
        else p.grad.data.fill(0);
      }
    }
  }

  /** All parameters in index order (the order `stateDict` numbers them). */
  get params(): Parameter[] {
    return this.paramGroups.flatMap((g) => g.params);
  }

  /**
   * A snapshot in PyTorch's layout. Like PyTorch's, its state tensors share storage with
   * the optimizer (serialize it, or clone, before stepping again).
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Parameter, number>();
    this.params.forEach((p, i) => index.set(p, i));
    const state: Record<string, ParamState> = {};
    for (const [p, s] of this.state) {
      if (Object.keys(s).length > 0) state[String(index.get(p)!)] = { ...s };
    }
    const paramGroups = this.paramGroups.map((g) => {
      const { params, ...hypers } = g;
      return { ...cloneHypers(hypers as Record<string, HyperValue>), params: params.map((p) => index.get(p)!) };
    });
    return { state, paramGroups };
  }

  /** Restores a `stateDict()` (copying its tensors) after checking it fits these parameters. */
  loadStateDict(sd: OptimizerStateDict): void {
    const where = `${this.name}.loadStateDict`;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.paramGroups) || typeof sd.state !== 'object') {
      throw new Error(`${where}: expected { state, paramGroups }`);
    }
    if (sd.paramGroups.length !== this.paramGroups.length) {
      throw new Error(`${where}: saved state has ${sd.paramGroups.length} param groups, this optimizer has ${this.paramGroups.length}`);
    }
    const params = this.params;
    let next = 0;
    sd.paramGroups.forEach((saved, gi) => {
      const n = this.paramGroups[gi].params.length;
      if (!Array.isArray(saved.params) || saved.params.length !== n) {
        throw new Error(`${where}: param group ${gi} has ${saved.params?.length ?? 'no'} params in the saved state, ${n} here`);
      }
      saved.params.forEach((idx, k) => {
        if (idx !== next + k) throw new Error(`${where}: param group ${gi} lists param ${idx} at position ${k}, expected ${next + k}`);
      });
      next += n;
    });
    const newState = new Map<Parameter, ParamState>();
    for (const [key, s] of Object.entries(sd.state)) {
      const i = Number(key);
      if (!Number.isInteger(i) || i < 0 || i >= params.length) {
        throw new Error(`${where}: state for parameter '${key}', but there are only ${params.length} parameters`);
      }
      const p = params[i];
      const copy: ParamState = {};
      for (const [name, v] of Object.entries(s)) {
        if (v instanceof Tensor) {
          if (!sameShape(v.shape, p.shape)) {
            throw new Error(`${where}: state ${i}.${name} has shape ${formatShape(v.shape)} but parameter ${i} has shape ${formatShape(p.shape)}`);
          }
          copy[name] = v.dtype === 'float32' ? v.clone() : Tensor.zeros(p.shape).copy_(v);
        } else if (typeof v === 'number' && Number.isFinite(v)) {
          copy[name] = v;
        } else {
          throw new Error(`${where}: state ${i}.${name} is neither a tensor nor a finite number`);
        }
      }
      newState.set(p, copy);
    }
    // Check every group before changing anything, so a bad dict leaves the optimizer as it was.
    const merged = this.paramGroups.map((g, gi) => {
      const { params: _ignored, ...hypers } = sd.paramGroups[gi];
      for (const [k, v] of Object.entries(hypers)) {
        const cur = (g as unknown as Record<string, unknown>)[k];
        if (cur !== undefined && typeof cur !== typeof v) {
          throw new Error(`${where}: param group ${gi} '${k}' is ${JSON.stringify(v)}, expected a ${Array.isArray(cur) ? 'list' : typeof cur}`);
        }
      }
      const m = { ...g, ...cloneHypers(hypers as Record<string, HyperValue>), params: g.params } as ParamGroup<H>;
      this.validateGroup(m);
      return m;
    });
    merged.forEach((m, gi) => Object.assign(this.paramGroups[gi], m));
    this.state.clear();
    for (const [p, s] of newState) this.state.set(p, s);
  }

  /**
   * The state as flat named tensors, for checkpoints (safetensors / .pth):
   * - `<prefix>state.<i>.<name>`: state tensors (`exp_avg`, `momentum_buffer`, ...), and
   *   number entries (`step`) as 1-element float32 tensors;
   * - `<prefix>param_groups.<g>.params`: the group's parameter indices;
   * - `<prefix>param_groups.<g>.<hyper>`: each hyperparameter under its option name
   *   (`lr`, `weightDecay`, ...), as a 1-element float32 tensor (booleans 0/1; `betas` has 2).
   * Tensors share storage with the optimizer.
   */
  toTensors(prefix = 'optimizer.'): Map<string, Tensor> {
    const sd = this.stateDict();
    const out = new Map<string, Tensor>();
    for (const [i, s] of Object.entries(sd.state)) {
      for (const [name, v] of Object.entries(s)) {
        out.set(`${prefix}state.${i}.${name}`, v instanceof Tensor ? v : Tensor.from([v], [1]));
      }
    }
    sd.paramGroups.forEach((g, gi) => {
      for (const [k, v] of Object.entries(g)) {
        const values = typeof v === 'boolean' ? [v ? 1 : 0] : typeof v === 'number' ? [v] : [...v];
        out.set(`${prefix}param_groups.${gi}.${k}`, Tensor.from(values, [values.length]));
      }
    });
    return out;
  }

  /**
   * Restores what `toTensors` wrote. Hyperparameters were stored as float32; one whose
   * stored value equals this optimizer's current value rounded to float32 keeps the
   * current (float64) value, so resuming with the same constructor options is exact.
   */
  fromTensors(map: Map<string, Tensor>, prefix = 'optimizer.'): void {
    const where = `${this.name}.fromTensors`;
    const state: Record<string, ParamState> = {};
    const groups: Array<Record<string, HyperValue>> = this.paramGroups.map(() => ({}));
    let found = false;
    for (const [key, t] of map) {
      if (!key.startsWith(prefix)) continue;
      found = true;
      const parts = key.slice(prefix.length).split('.');
      if (parts.length !== 3 || (parts[0] !== 'state' && parts[0] !== 'param_groups') || !/^\d+$/.test(parts[1])) {
        throw new Error(`${where}: unexpected key '${key}'`);
      }
      const [kind, idx, name] = parts;
      const values = t.toArray();
      if (kind === 'state') {
        const s = (state[idx] ??= {});
        if (this.scalarStateKeys.includes(name)) {
          if (values.length !== 1) throw new Error(`${where}: '${key}' should hold 1 value, has ${values.length}`);
          s[name] = values[0];
        } else {
          s[name] = t;
        }
      } else {
        const gi = Number(idx);
        if (gi >= groups.length) throw new Error(`${where}: '${key}' but this optimizer has ${groups.length} param groups`);
        const cur = (this.paramGroups[gi] as unknown as Record<string, unknown>)[name];
        const keep = (c: unknown, v: number) => (typeof c === 'number' && Math.fround(c) === v ? c : v);
        if (name === 'params') groups[gi][name] = values;
        else if (Array.isArray(cur)) groups[gi][name] = values.map((v, k) => keep(cur[k], v));
        else if (typeof cur === 'boolean') groups[gi][name] = values[0] !== 0;
        else if (values.length !== 1) throw new Error(`${where}: '${key}' should hold 1 value, has ${values.length}`);
        else groups[gi][name] = keep(cur, values[0]);
      }
    }
    if (!found) throw new Error(`${where}: no entries with prefix '${prefix}'`);
    groups.forEach((g, gi) => {
      if (!g.params) throw new Error(`${where}: missing '${prefix}param_groups.${gi}.params'`);
    });
    this.loadStateDict({ state, paramGroups: groups as OptimizerStateDict['paramGroups'] });
  }
}

function isGroupList<H extends BaseHyperparams>(xs: readonly unknown[]): xs is readonly ParamGroupInit<H>[] {
  const first = xs[0] as { params?: unknown };
  return typeof first === 'object' && first !== null && Array.isArray(first.params);
}

function cloneHypers<T extends object>(h: T): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(h)) {
    if (k === 'params' || v === undefined) continue;
    out[k] = Array.isArray(v) ? [...v] : v;
  }
  return out as T;
}

/** Reads a float32 state tensor, allocating it zero-filled on first use. */
export function stateTensor(state: ParamState, key: string, p: Parameter): Tensor {
  let t = state[key];
  if (!(t instanceof Tensor)) {
    t = Tensor.zeros(p.shape);
    state[key] = t;
  }
  return t;
}
