import type { Parameter } from '../nn/parameter.js';
import { Tensor } from '../tensor/tensor.js';
import { Optimizer, type ParamGroup, type ParamGroupInit } from './optimizer.js';
import { fma32, f32 } from './float32.js';

export interface SGDOptions {
  lr: number;
  momentum: number;
  dampening: number;
  weightDecay: number;
  nesterov: boolean;
  maximize: boolean;
}

/**
 * `torch.optim.SGD` (its single-tensor loop), with the same float32 rounding:
 * g = grad (+ weightDecay * param); with momentum, buf = g on the first step and
 * buf = momentum*buf + (1-dampening)*g after; g = nesterov ? g + momentum*buf : buf;
 * param -= lr * g. State: `momentum_buffer` (only when momentum != 0).
 */
export class SGD extends Optimizer<SGDOptions> {
  constructor(
    params: readonly Parameter[] | readonly ParamGroupInit<SGDOptions>[],
    opts: Partial<SGDOptions> & { lr: number },
  ) {
    super(params, { momentum: 0, dampening: 0, weightDecay: 0, nesterov: false, maximize: false, ...opts }, 'SGD');
  }

  protected override validateGroup(g: ParamGroup<SGDOptions>): void {
    super.validateGroup(g);
    if (!(g.momentum >= 0)) throw new Error(`SGD: invalid momentum ${g.momentum}`);
    if (!(g.weightDecay >= 0)) throw new Error(`SGD: invalid weightDecay ${g.weightDecay}`);
    if (!Number.isFinite(g.dampening)) throw new Error(`SGD: invalid dampening ${g.dampening}`);
    if (g.nesterov && (g.momentum <= 0 || g.dampening !== 0)) {
      throw new Error('SGD: nesterov momentum requires a momentum and zero dampening');
    }
  }

  protected update(p: Parameter, grad: Float32Array, g: ParamGroup<SGDOptions>): void {
    const w = p.data.data;
    const n = w.length;
    // Python scalars reach the float32 kernels rounded to float32.
    const wd = f32(g.weightDecay);
    const mom = f32(g.momentum);
    const oneMinusDamp = f32(1 - g.dampening);
    const negLr = f32(-g.lr);
    const sign = g.maximize ? -1 : 1;
    let buf: Float32Array | null = null;
    let first = false;
    if (g.momentum !== 0) {
      const s = this.stateOf(p);
      const t = s.momentum_buffer;
      if (t === undefined) first = true;
      else if (typeof t === 'number' || t.size !== n) throw new Error('SGD: momentum_buffer does not match its parameter');
      else buf = t.data;
      if (first) {
        buf = new Float32Array(n);
        s.momentum_buffer = new Tensor(buf, p.shape);
      }
    }
    for (let i = 0; i < n; i++) {
      let d = sign * grad[i];
      if (g.weightDecay !== 0) d = fma32(wd, w[i], d);
      if (buf !== null) {
        if (first) buf[i] = d;
        else buf[i] = fma32(oneMinusDamp, d, f32(buf[i] * mom));
        d = g.nesterov ? fma32(mom, buf[i], d) : buf[i];
      }
      w[i] = fma32(negLr, d, w[i]);
    }
  }
}
