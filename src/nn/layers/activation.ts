import type { Tensor } from '../../tensor/tensor.js';
import { relu6, relu6Backward } from '../../ops/activation.js';
import { Module } from '../module.js';
import { isGradEnabled } from '../grad_mode.js';

export class ReLU6 extends Module {
  private output: Tensor | null = null;

  forward(x: Tensor): Tensor {
    const y = relu6(x);
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
