import { Tensor } from '../../tensor/tensor.js';
import { defaultRng, type Rng } from '../../tensor/rng.js';
import { linear, linearBackwardInput, linearBackwardParams } from '../../ops/linear.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { isGradEnabled } from '../grad_mode.js';
import { defaultLayerInit_ } from '../init.js';

/**
 * The three products of a Linear layer computed elsewhere (the WASM backend's
 * `createWasmLinearKernel`), within float32 rounding of the JS ops.
 */
export interface LinearKernel {
  forward(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor;
  backwardInput(gradOut: Tensor, weight: Tensor): Tensor;
  backwardParams(gradOut: Tensor, x: Tensor): { gradWeight: Tensor; gradBias: Tensor };
}

const JS_LINEAR: LinearKernel = { forward: linear, backwardInput: linearBackwardInput, backwardParams: linearBackwardParams };

export class Linear extends Module {
  /** Where the products run; null: the JS ops (src/ops/linear.ts). */
  kernel: LinearKernel | null = null;
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
    return (this.kernel ?? JS_LINEAR).forward(x, this.weight.data, this.bias?.data ?? null);
  }

  /** dL/dx for `gradOut` (no state used or changed: callers may compute it before backward). */
  backwardInput(gradOut: Tensor): Tensor {
    return (this.kernel ?? JS_LINEAR).backwardInput(gradOut, this.weight.data);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const x = this.input;
    if (!x) throw new Error('Linear.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    this.input = null;
    if (this.weight.requiresGrad || this.bias?.requiresGrad) {
      const { gradWeight, gradBias } = (this.kernel ?? JS_LINEAR).backwardParams(gradOut, x);
      this.weight.accumulateGrad(gradWeight.data);
      this.bias?.accumulateGrad(gradBias.data);
    }
    return needInputGrad ? this.backwardInput(gradOut) : null;
  }

  protected override clearOwnCache(): void {
    this.input = null;
  }
}
