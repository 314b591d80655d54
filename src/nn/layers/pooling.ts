import type { Tensor } from '../../tensor/tensor.js';
import { adaptiveAvgPool2d1x1, adaptiveAvgPool2d1x1Backward } from '../../ops/pooling.js';
import { flatten } from '../../ops/elementwise.js';
import { Module } from '../module.js';

/** AdaptiveAvgPool2d((1, 1)), the only output size MobileNetV2 uses. */
export class AdaptiveAvgPool2d extends Module {
  private inputShape: readonly number[] | null = null;

  constructor(outputSize: number | [number, number] = 1) {
    super();
    const [h, w] = typeof outputSize === 'number' ? [outputSize, outputSize] : outputSize;
    if (h !== 1 || w !== 1) throw new Error(`AdaptiveAvgPool2d: only output size (1, 1) is supported, got (${h}, ${w})`);
  }

  forward(x: Tensor): Tensor {
    this.inputShape = x.shape;
    return adaptiveAvgPool2d1x1(x);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    if (!needInputGrad) return null;
    if (!this.inputShape) throw new Error('AdaptiveAvgPool2d.backward: forward has not run');
    return adaptiveAvgPool2d1x1Backward(gradOut, this.inputShape);
  }
}

/** torch.flatten(x, 1) as a module. */
export class Flatten extends Module {
  private inputShape: readonly number[] | null = null;

  forward(x: Tensor): Tensor {
    this.inputShape = x.shape;
    return flatten(x);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    if (!needInputGrad) return null;
    if (!this.inputShape) throw new Error('Flatten.backward: forward has not run');
    return gradOut.reshape(this.inputShape);
  }
}
