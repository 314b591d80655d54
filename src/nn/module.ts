import { Tensor, formatShape, sameShape } from '../tensor/tensor.js';
import { Parameter } from './parameter.js';

export type StateDict = Map<string, Tensor>;

export interface LoadStateDictResult {
  missingKeys: string[];
  unexpectedKeys: string[];
}

/**
 * The base of every layer, after torch.nn.Module: parameters, buffers and child
 * modules registered in order give PyTorch's dotted state_dict keys
 * (`features.3.conv.1.0.weight`).
 *
 * Backprop is module-level: `forward` keeps what its backward needs (only while
 * grad mode is on) and `backward(gradOut, needInputGrad)` accumulates parameter
 * gradients and returns dL/dinput, or null when no one below needs it.
 */
export abstract class Module {
  training = true;
  private readonly params = new Map<string, Parameter>();
  private readonly buffers = new Map<string, Tensor>();
  private readonly children = new Map<string, Module>();

  abstract forward(x: Tensor): Tensor;

  backward(_gradOut: Tensor, _needInputGrad = true): Tensor | null {
    throw new Error(`${this.constructor.name}: backward is not implemented`);
  }

  protected registerParameter(name: string, p: Parameter): Parameter {
    this.params.set(name, p);
    return p;
  }

  protected registerBuffer(name: string, t: Tensor): Tensor {
    this.buffers.set(name, t);
    return t;
  }

  protected registerModule<M extends Module>(name: string, m: M): M {
    this.children.set(name, m);
    return m;
  }

  /** Replaces a registered buffer, keeping its key and position. */
  protected setBuffer(name: string, t: Tensor): void {
    if (!this.buffers.has(name)) throw new Error(`${this.constructor.name}: no buffer '${name}'`);
    this.buffers.set(name, t);
  }

  getBuffer(name: string): Tensor {
    const t = this.buffers.get(name);
    if (!t) throw new Error(`${this.constructor.name}: no buffer '${name}'`);
    return t;
  }

  namedChildren(): [string, Module][] {
    return [...this.children.entries()];
  }

  child(name: string): Module {
    const m = this.children.get(name);
    if (!m) throw new Error(`${this.constructor.name}: no child module '${name}'`);
    return m;
  }

  *namedModules(prefix = ''): Generator<[string, Module]> {
    yield [prefix, this];
    for (const [name, m] of this.children) yield* m.namedModules(prefix ? `${prefix}.${name}` : name);
  }

  *modules(): Generator<Module> {
    for (const [, m] of this.namedModules()) yield m;
  }

  /** Looks up a descendant by dotted path, e.g. `features.3.conv`. */
  getSubmodule(path: string): Module {
    let m: Module = this;
    if (path === '') return m;
    for (const part of path.split('.')) m = m.child(part);
    return m;
  }

  *namedParameters(prefix = ''): Generator<[string, Parameter]> {
    for (const [name, p] of this.params) yield [prefix ? `${prefix}.${name}` : name, p];
    for (const [name, m] of this.children) yield* m.namedParameters(prefix ? `${prefix}.${name}` : name);
  }

  parameters(): Parameter[] {
    return [...this.namedParameters()].map(([, p]) => p);
  }

  *namedBuffers(prefix = ''): Generator<[string, Tensor]> {
    for (const [name, b] of this.buffers) yield [prefix ? `${prefix}.${name}` : name, b];
    for (const [name, m] of this.children) yield* m.namedBuffers(prefix ? `${prefix}.${name}` : name);
  }

  /** Own parameters only, in registration order. */
  protected ownParameters(): IterableIterator<[string, Parameter]> {
    return this.params.entries();
  }

  /** PyTorch order: a module's parameters, then its buffers, then each child in turn. */
  stateDict(prefix = ''): StateDict {
    const out: StateDict = new Map();
    this.collectState(prefix, out);
    return out;
  }

  private collectState(prefix: string, out: StateDict): void {
    const key = (name: string): string => (prefix ? `${prefix}.${name}` : name);
    for (const [name, p] of this.params) out.set(key(name), p.data);
    for (const [name, b] of this.buffers) out.set(key(name), b);
    for (const [name, m] of this.children) m.collectState(key(name), out);
  }

  /**
   * Copies tensors into this module in place, as torch's load_state_dict: shape
   * mismatches are always errors; missing and unexpected keys are errors only
   * when `strict`, and are returned either way.
   */
  loadStateDict(sd: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadStateDictResult {
    const strict = opts.strict ?? true;
    const source = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !source.has(k));
    const unexpectedKeys = [...source.keys()].filter((k) => !own.has(k));
    const errors: string[] = [];
    for (const [k, target] of own) {
      const src = source.get(k);
      if (src && !sameShape(src.shape, target.shape)) {
        errors.push(
          `size mismatch for ${k}: copying a param with shape ${formatShape(src.shape)} from checkpoint, the shape in current model is ${formatShape(target.shape)}.`,
        );
      }
    }
    if (strict && unexpectedKeys.length) errors.unshift(`Unexpected key(s) in state_dict: ${unexpectedKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (strict && missingKeys.length) errors.unshift(`Missing key(s) in state_dict: ${missingKeys.map((k) => `"${k}"`).join(', ')}.`);
    if (errors.length) {
      throw new Error(`Error(s) in loading state_dict for ${this.constructor.name}:\n\t${errors.join('\n\t')}`);
    }
    for (const [k, target] of own) {
      const src = source.get(k);
      if (src) target.copy_(src);
    }
    return { missingKeys, unexpectedKeys };
  }

  train(mode = true): this {
    for (const m of this.modules()) m.training = mode;
    return this;
  }

  eval(): this {
    return this.train(false);
  }

  /** Freezes or unfreezes every parameter below this module. */
  requiresGrad_(flag = true): this {
    for (const p of this.parameters()) p.requiresGrad = flag;
    return this;
  }

  /** True when some parameter in this subtree will receive a gradient. */
  hasTrainableParameters(): boolean {
    for (const [, p] of this.namedParameters()) if (p.requiresGrad) return true;
    return false;
  }

  zeroGrad(): void {
    for (const p of this.parameters()) p.grad = null;
  }

  /** Drops activations kept for backward. */
  clearCache(): void {
    for (const m of this.modules()) if (m !== this) m.clearOwnCache();
    this.clearOwnCache();
  }

  protected clearOwnCache(): void {}

  numParameters(): number {
    return this.parameters().reduce((n, p) => n + p.data.size, 0);
  }
}
