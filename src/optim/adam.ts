import type { Parameter } from '../nn/parameter.js';
import { Optimizer, stateTensor, type ParamGroup, type ParamGroupInit } from './optimizer.js';
import { fma32, f32 } from './float32.js';

export interface AdamOptions {
  lr: number;
  betas: readonly [number, number];
  eps: number;
  weightDecay: number;
  amsgrad: boolean;
  maximize: boolean;
  /** AdamW's weight decay: param *= 1 - lr*weightDecay, instead of adding weightDecay*param to the grad. */
  decoupledWeightDecay: boolean;
}

type AdamParams = readonly Parameter[] | readonly ParamGroupInit<AdamOptions>[];

/** The float32 constants of one parameter's update, as the loop below uses them. */
export interface AdamCoefficients {
  lerpCoeff: number;
  b2: number;
  oneMinusB2: number;
  negStepSize: number;
  bc2Sqrt: number;
  eps: number;
  /** 0: no weight decay; 1: decoupled (AdamW, `w *= decay` first); 2: L2 (`grad += decay * w`). */
  decayMode: 0 | 1 | 2;
  decay: number;
}

/**
 * An elementwise Adam update that performs exactly the float32 operations of `Adam`'s own loop
 * (so results are bit-identical), faster: the WASM backend's `createWasmAdamKernel`. Used for
 * the configurations without amsgrad or maximize.
 */
export interface AdamKernel {
  update(w: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, c: AdamCoefficients): void;
}

/**
 * `torch.optim.Adam`, mirroring the float32 operation order of its single-tensor loop
 * (the one PyTorch runs on CPU), so that results match to float32 rounding:
 *   exp_avg.lerp_(g, 1-beta1); exp_avg_sq.mul_(beta2).addcmul_(g, g, 1-beta2);
 *   denom = sqrt(exp_avg_sq) / sqrt(1-beta2^step) + eps;
 *   param.addcdiv_(exp_avg, denom, -lr / (1-beta1^step)).
 * State: `step` (number), `exp_avg`, `exp_avg_sq`, and `max_exp_avg_sq` with amsgrad.
 */
export class Adam extends Optimizer<AdamOptions> {
  /** Runs the update loop elsewhere (e.g. WebAssembly) with the same float32 operations; null: JS. */
  kernel: AdamKernel | null = null;

  constructor(params: AdamParams, opts: Partial<AdamOptions> = {}, name = 'Adam') {
    super(
      params,
      { lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 0, amsgrad: false, maximize: false, decoupledWeightDecay: false, ...opts },
      name,
    );
  }

  protected override validateGroup(g: ParamGroup<AdamOptions>): void {
    super.validateGroup(g);
    const [b1, b2] = g.betas ?? [];
    if (!(Array.isArray(g.betas) && g.betas.length === 2 && b1 >= 0 && b1 < 1 && b2 >= 0 && b2 < 1)) {
      throw new Error(`${this.name}: invalid betas ${JSON.stringify(g.betas)} (need two numbers in [0, 1))`);
    }
    if (!(g.eps >= 0)) throw new Error(`${this.name}: invalid eps ${g.eps}`);
    if (!(g.weightDecay >= 0)) throw new Error(`${this.name}: invalid weightDecay ${g.weightDecay}`);
  }

  protected update(p: Parameter, grad: Float32Array, g: ParamGroup<AdamOptions>): void {
    const s = this.stateOf(p);
    const step = (typeof s.step === 'number' ? s.step : 0) + 1;
    s.step = step;
    const m = stateTensor(s, 'exp_avg', p).data;
    const v = stateTensor(s, 'exp_avg_sq', p).data;
    const vMax = g.amsgrad ? stateTensor(s, 'max_exp_avg_sq', p).data : null;
    const w = p.data.data;
    const [beta1, beta2] = g.betas;

    // Python-side scalars are float64; each reaches its float32 kernel rounded to float32.
    const decay = g.weightDecay !== 0;
    const decayFactor = f32(1 - g.lr * g.weightDecay);
    const wd = f32(g.weightDecay);
    const weight = f32(1 - beta1);
    // lerp uses start + w*(end-start) for w < 0.5, else end + (w-1)*(end-start).
    const lerpSmall = Math.abs(weight) < 0.5;
    const lerpCoeff = lerpSmall ? weight : f32(weight - 1);
    const b2 = f32(beta2);
    const oneMinusB2 = f32(1 - beta2);
    const biasCorrection1 = 1 - beta1 ** step;
    const biasCorrection2 = 1 - beta2 ** step;
    const negStepSize = f32(-(g.lr / biasCorrection1));
    const bc2Sqrt = f32(Math.sqrt(biasCorrection2));
    const eps = f32(g.eps);
    const sign = g.maximize ? -1 : 1;

    if (this.kernel !== null && vMax === null && lerpSmall && sign === 1) {
      const decayMode = !decay ? 0 : g.decoupledWeightDecay ? 1 : 2;
      this.kernel.update(w, grad, m, v, {
        lerpCoeff, b2, oneMinusB2, negStepSize, bc2Sqrt, eps, decayMode, decay: decayMode === 1 ? decayFactor : wd,
      });
      return;
    }
    if (!decay && vMax === null && lerpSmall && sign === 1) {
      // The default configuration, with the branches above hoisted out: the same float32
      // operations in the same order as the general loop below (about 2x faster in V8).
      for (let i = 0; i < w.length; i++) {
        const d = grad[i];
        const mi = m[i];
        const mNew = f32(lerpCoeff * f32(d - mi) + mi);
        m[i] = mNew;
        const vNew = f32(f32(v[i] * b2) + f32(f32(oneMinusB2 * d) * d));
        v[i] = vNew;
        const denom = f32(f32(f32(Math.sqrt(vNew)) / bc2Sqrt) + eps);
        w[i] = f32(w[i] + f32(f32(negStepSize * mNew) / denom));
      }
      return;
    }
    for (let i = 0; i < w.length; i++) {
      let d = sign * grad[i];
      if (decay) {
        if (g.decoupledWeightDecay) w[i] = f32(w[i] * decayFactor);
        else d = fma32(wd, w[i], d);
      }
      const diff = f32(d - m[i]);
      m[i] = fma32(lerpCoeff, diff, lerpSmall ? m[i] : d);
      v[i] = f32(f32(v[i] * b2) + f32(f32(oneMinusB2 * d) * d));
      let second = v[i];
      if (vMax !== null) {
        if (second > vMax[i] || Number.isNaN(second)) vMax[i] = second;
        second = vMax[i];
      }
      const denom = f32(f32(f32(Math.sqrt(second)) / bc2Sqrt) + eps);
      w[i] = f32(w[i] + f32(f32(negStepSize * m[i]) / denom));
    }
  }
}

/** `torch.optim.AdamW`: Adam with decoupled weight decay (default 0.01) applied before the update. */
export class AdamW extends Adam {
  constructor(params: AdamParams, opts: Partial<Omit<AdamOptions, 'decoupledWeightDecay'>> = {}) {
    super(params, { weightDecay: 0.01, ...opts, decoupledWeightDecay: true }, 'AdamW');
  }
}
