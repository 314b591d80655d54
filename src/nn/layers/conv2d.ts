import { Tensor } from '../../tensor/tensor.js';
import { defaultRng, type Rng } from '../../tensor/rng.js';
import { conv2d, conv2dBackwardBias, conv2dBackwardInput, conv2dBackwardWeight, type ConvEpilogue } from '../../ops/conv2d.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { isGradEnabled } from '../grad_mode.js';
import { defaultLayerInit_, fans } from '../init.js';

export interface Conv2dConfig {
  stride?: number;
  padding?: number;
  groups?: number;
  bias?: boolean;
  rng?: Rng;
}

export class Conv2d extends Module {
  readonly inChannels: number;
  readonly outChannels: number;
  readonly kernelSize: number;
  readonly stride: number;
  readonly padding: number;
  readonly groups: number;
  readonly weight: Parameter;
  readonly bias: Parameter | null;
  private input: Tensor | null = null;

  constructor(inChannels: number, outChannels: number, kernelSize: number, cfg: Conv2dConfig = {}) {
    super();
    this.inChannels = inChannels;
    this.outChannels = outChannels;
    this.kernelSize = kernelSize;
    this.stride = cfg.stride ?? 1;
    this.padding = cfg.padding ?? 0;
    this.groups = cfg.groups ?? 1;
    if (inChannels % this.groups || outChannels % this.groups) {
      throw new Error(`Conv2d: groups=${this.groups} must divide in_channels=${inChannels} and out_channels=${outChannels}`);
    }
    const rng = cfg.rng ?? defaultRng();
    const w = Tensor.zeros([outChannels, inChannels / this.groups, kernelSize, kernelSize]);
    const { fanIn } = fans(w.shape);
    this.weight = this.registerParameter('weight', new Parameter(defaultLayerInit_(w, fanIn, rng)));
    this.bias = cfg.bias === false ? null : this.registerParameter('bias', new Parameter(defaultLayerInit_(Tensor.zeros([outChannels]), fanIn, rng)));
  }

  private get opts() {
    return { stride: this.stride, padding: this.padding, groups: this.groups };
  }

  forward(x: Tensor): Tensor {
    return this.forwardWithEpilogue(x, null);
  }

  /** forward, with an eval-mode BN (+ ReLU6) that follows this conv applied as the output is stored. */
  forwardWithEpilogue(x: Tensor, post: ConvEpilogue | null): Tensor {
    this.input = isGradEnabled() ? x : null;
    return conv2d(x, this.weight.data, this.bias?.data ?? null, this.opts, post);
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const x = this.input;
    if (!x) throw new Error('Conv2d.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    if (this.weight.requiresGrad) this.weight.accumulateGrad(conv2dBackwardWeight(gradOut, x, this.weight.shape, this.opts).data);
    if (this.bias?.requiresGrad) this.bias.accumulateGrad(conv2dBackwardBias(gradOut).data);
    this.input = null;
    return needInputGrad ? conv2dBackwardInput(gradOut, this.weight.data, x.shape, this.opts) : null;
  }

  protected override clearOwnCache(): void {
    this.input = null;
  }
}
