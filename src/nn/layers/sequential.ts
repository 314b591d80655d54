import type { Tensor } from '../../tensor/tensor.js';
import { Module } from '../module.js';

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

  forward(x: Tensor): Tensor {
    let y = x;
    for (const m of this.layers) y = m.forward(y);
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
