import type { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';
import { isGradEnabled } from '../grad_mode.js';
import { Conv2d } from './conv2d.js';
import { BatchNorm2d } from './batch_norm.js';
import { ReLU6 } from './activation.js';

/** Children named "0", "1", ... run in order, as torch.nn.Sequential. */
export class Sequential extends Module {
  protected readonly layers: Module[];

  constructor(...layers: Module[]) {
    super();
    this.layers = layers;
    layers.forEach((m, i) => this.registerModule(String(i), m));
  }

  get length(): number {
    return this.layers.length;
  }

  at(i: number): Module {
    const m = this.layers[i < 0 ? this.layers.length + i : i];
    if (!m) throw new Error(`Sequential: index ${i} out of range (length ${this.layers.length})`);
    return m;
  }

  /**
   * Without grad mode, Conv2d -> eval BatchNorm2d (-> ReLU6) runs as one conv
   * whose epilogue applies the BN map and the clamp while storing its output:
   * the same float32 values as the three forwards (see `ConvEpilogue`), written
   * once instead of three passes. Nothing is kept for backward either way.
   */
  forward(x: Tensor): Tensor {
    const layers = this.layers;
    const fuse = !isGradEnabled();
    let y = x;
    for (let i = 0; i < layers.length; i++) {
      const m = layers[i];
      const bn = layers[i + 1];
      if (fuse && isPlainConv(m) && isEvalBatchNorm(bn) && bn.numFeatures === m.outChannels) {
        const act = layers[i + 2];
        const relu = isPlainReLU6(act);
        y = m.forwardWithEpilogue(y, bn.evalEpilogue(relu));
        bn.clearCache();
        if (relu) act.clearCache();
        i += relu ? 2 : 1;
        continue;
      }
      y = m.forward(y);
    }
    return y;
  }

  /**
   * Walks the layers in reverse, and stops as soon as nothing below needs a
   * gradient: with a frozen backbone, backprop ends at the head.
   */
  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const trainableBelow = new Array<boolean>(this.layers.length);
    let seen = false;
    for (let i = 0; i < this.layers.length; i++) {
      trainableBelow[i] = seen;
      seen ||= this.layers[i].hasTrainableParameters();
    }
    let g: Tensor | null = gradOut;
    for (let i = this.layers.length - 1; i >= 0; i--) {
      const layer = this.layers[i];
      const needBelow = needInputGrad || trainableBelow[i];
      if (!needBelow && !layer.hasTrainableParameters()) {
        this.clearCache();
        return null;
      }
      g = layer.backward(g, needBelow);
      if (g === null) {
        this.clearCache();
        return null;
      }
    }
    return g;
  }
}

// Only layers whose forward is the library's own: a subclass or an instance
// that replaces forward gets its forward called.
function isPlainConv(m: Module | undefined): m is Conv2d {
  return m instanceof Conv2d && m.forward === Conv2d.prototype.forward;
}

function isEvalBatchNorm(m: Module | undefined): m is BatchNorm2d {
  return m instanceof BatchNorm2d && !m.training && m.forward === BatchNorm2d.prototype.forward;
}

function isPlainReLU6(m: Module | undefined): m is ReLU6 {
  return m instanceof ReLU6 && m.forward === ReLU6.prototype.forward;
}
