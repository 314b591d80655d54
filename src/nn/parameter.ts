import { Tensor } from '../tensor/tensor.js';

/**
 * A trainable tensor, as `torch.nn.Parameter`: optimizers update `data` in place
 * and read `grad`, which backward accumulates into (it stays null until the first
 * backward, and frozen parameters never get one).
 */
export class Parameter {
  data: Tensor;
  grad: Tensor | null = null;
  requiresGrad: boolean;

  constructor(data: Tensor, requiresGrad = true) {
    this.data = data;
    this.requiresGrad = requiresGrad;
  }

  get shape(): readonly number[] {
    return this.data.shape;
  }

  /** Adds `g` into `grad`, allocating it on first use. */
  accumulateGrad(g: Float32Array): void {
    if (!this.requiresGrad) return;
    if (this.grad === null) this.grad = new Tensor(new Float32Array(g), this.data.shape);
    else {
      const dst = this.grad.data;
      for (let i = 0; i < dst.length; i++) dst[i] += g[i];
    }
  }
}
