import type { Tensor } from '../../tensor/tensor.js';
import { relu6, relu6_, relu6Backward } from '../../ops/activation.js';
import { Module } from '../module.js';
import { isGradEnabled } from '../grad_mode.js';

export class ReLU6 extends Module {
  readonly inplace: boolean;
  private output: Tensor | null = null;

  /** With `inplace`, the input tensor is overwritten, as nn.ReLU6(inplace=True): only for inputs no one else reads. */
  constructor(opts: { inplace?: boolean } = {}) {
    super();
    this.inplace = opts.inplace ?? false;
  }

  forward(x: Tensor): Tensor {
    const y = this.inplace ? relu6_(x) : relu6(x);
    // The output decides the gradient mask just as the input would, so keep that (PyTorch's inplace=True does the same).
    this.output = isGradEnabled() ? y : null;
    return y;
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const y = this.output;
    if (!y) throw new Error('ReLU6.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    this.output = null;
    return needInputGrad ? relu6Backward(gradOut, y) : null;
  }

  protected override clearOwnCache(): void {
    this.output = null;
  }
}
