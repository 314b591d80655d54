import { Tensor } from '../../tensor/tensor.js';
import { defaultRng, type Rng } from '../../tensor/rng.js';
import { linear, linearBackwardInput, linearBackwardParams } from '../../ops/linear.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { isGradEnabled } from '../grad_mode.js';
import { defaultLayerInit_ } from '../init.js';

export class Linear extends Module {
  readonly inFeatures: number;
  readonly outFeatures: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | null = null;

  constructor(inFeatures: number, outFeatures: number, opts: { bias?: boolean; rng?: Rng } = {}) {
    super();
    this.inFeatures = inFeatures;
    this.outFeatures = outFeatures;
    const rng = opts.rng ?? defaultRng();
    this.weight = this.registerParameter('weight', new Parameter(defaultLayerInit_(Tensor.zeros([outFeatures, inFeatures]), inFeatures, rng)));
    this.bias = opts.bias === false ? null : this.registerParameter('bias', new Parameter(defaultLayerInit_(Tensor.zeros([outFeatures]), inFeatures, rng)));
  }

  forward(x: Tensor): Tensor {
    this.input = isGradEnabled() ? x : null;
    return linear(x, this.weight.data, this.bias?.data ?? null);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const x = this.input;
    if (!x) throw new Error('Linear.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    this.input = null;
    if (this.weight.requiresGrad || this.bias?.requiresGrad) {
      const { gradWeight, gradBias } = linearBackwardParams(gradOut, x);
      this.weight.accumulateGrad(gradWeight.data);
      this.bias?.accumulateGrad(gradBias.data);
    }
    return needInputGrad ? linearBackwardInput(gradOut, this.weight.data) : null;
  }

  protected override clearOwnCache(): void {
    this.input = null;
  }
}
