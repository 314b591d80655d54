import type { Tensor } from '../../tensor/tensor.js';
import { defaultRng, type Rng } from '../../tensor/rng.js';
import { dropoutMask, mul } from '../../ops/dropout.js';
import { Module } from '../module.js';

/** Inverted dropout; identity in eval(). A mask may be injected for reproducing a PyTorch run. */
export class Dropout extends Module {
  readonly p: number;
  rng: Rng;
  private mask: Tensor | null = null;
  private injected: Tensor | null = null;

  constructor(p = 0.5, opts: { rng?: Rng } = {}) {
    super();
    if (!(p >= 0 && p < 1)) throw new Error(`Dropout: p must be in [0, 1), got ${p}`);
    this.p = p;
    this.rng = opts.rng ?? defaultRng();
  }

  /** Uses `mask` (already scaled by 1/(1-p)) for the next train-mode forward only. */
  setNextMask(mask: Tensor): void {
    this.injected = mask;
  }

  forward(x: Tensor): Tensor {
    if (!this.training || this.p === 0) {
      this.mask = null;
      return x;
    }
    const mask = this.injected ?? dropoutMask(x.shape, this.p, this.rng);
    this.injected = null;
    if (mask.size !== x.size) throw new Error(`Dropout: mask has ${mask.size} elements, input has ${x.size}`);
    this.mask = mask;
    return mul(x, mask);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    if (!needInputGrad) return null;
    const mask = this.mask;
    this.mask = null;
    return mask ? mul(gradOut, mask) : gradOut;
  }

  protected override clearOwnCache(): void {
    this.mask = null;
  }
}
