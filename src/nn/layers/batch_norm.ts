import { Tensor } from '../../tensor/tensor.js';
import type { ConvEpilogue } from '../../ops/conv2d.js';
import {
  batchNorm2dEval,
  batchNorm2dEvalAffine,
  batchNorm2dEvalBackward,
  batchNorm2dTrainBackward,
  batchStats,
  normalizeChannels,
  updateRunningStats,
  type BatchStats,
} from '../../ops/batch_norm.js';
import { Module } from '../module.js';
import { Parameter } from '../parameter.js';
import { isGradEnabled } from '../grad_mode.js';

/**
 * BatchNorm2d as PyTorch: in train() it normalizes with the batch statistics and
 * updates the running ones (momentum 0.1, unbiased variance); in eval() it uses
 * the running statistics. That holds even when its parameters are frozen.
 */
export class BatchNorm2d extends Module {
  readonly numFeatures: number;
  readonly eps: number;
  readonly momentum: number;
  readonly weight: Parameter;
  readonly bias: Parameter;
  private cache: { x: Tensor; stats: BatchStats | null } | null = null;

  constructor(numFeatures: number, opts: { eps?: number; momentum?: number } = {}) {
    super();
    this.numFeatures = numFeatures;
    this.eps = opts.eps ?? 1e-5;
    this.momentum = opts.momentum ?? 0.1;
    this.weight = this.registerParameter('weight', new Parameter(Tensor.full([numFeatures], 1)));
    this.bias = this.registerParameter('bias', new Parameter(Tensor.zeros([numFeatures])));
    this.registerBuffer('running_mean', Tensor.zeros([numFeatures]));
    this.registerBuffer('running_var', Tensor.full([numFeatures], 1));
    this.registerBuffer('num_batches_tracked', Tensor.scalarInt64(0n));
  }

  get runningMean(): Tensor {
    return this.getBuffer('running_mean');
  }

  get runningVar(): Tensor {
    return this.getBuffer('running_var');
  }

  get numBatchesTracked(): bigint {
    return this.getBuffer('num_batches_tracked').int64![0];
  }

  forward(x: Tensor): Tensor {
    if (x.shape.length !== 4 || x.shape[1] !== this.numFeatures) {
      throw new Error(`BatchNorm2d(${this.numFeatures}): expected input [N, ${this.numFeatures}, H, W], got [${x.shape.join(', ')}]`);
    }
    if (!this.training) {
      this.cache = isGradEnabled() ? { x, stats: null } : null;
      return batchNorm2dEval(x, this.runningMean, this.runningVar, this.weight.data, this.bias.data, this.eps);
    }
    const stats = batchStats(x, this.eps);
    if (stats.count <= 1) {
      throw new Error(`BatchNorm2d: expected more than 1 value per channel when training, got input size [${x.shape.join(', ')}]`);
    }
    updateRunningStats(this.runningMean, this.runningVar, stats, this.momentum);
    this.getBuffer('num_batches_tracked').int64![0] += 1n;
    this.cache = isGradEnabled() ? { x, stats } : null;
    return normalizeChannels(x, stats.mean, stats.invStd, this.weight.data.data, this.bias.data.data);
  }

  /** This layer in eval mode as a conv epilogue: the per-channel map its forward applies, then ReLU6 if `relu6`. */
  evalEpilogue(relu6 = false): ConvEpilogue {
    return { ...batchNorm2dEvalAffine(this.runningMean, this.runningVar, this.weight.data, this.bias.data, this.eps), relu6 };
  }

  override backward(gradOut: Tensor, needInputGrad = true): Tensor | null {
    const cache = this.cache;
    if (!cache) throw new Error('BatchNorm2d.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    this.cache = null;
    const grads = cache.stats
      ? batchNorm2dTrainBackward(gradOut, cache.x, cache.stats, this.weight.data.data, needInputGrad)
      : batchNorm2dEvalBackward(gradOut, cache.x, this.runningMean.data, this.runningVar.data, this.weight.data.data, this.eps, needInputGrad);
    this.weight.accumulateGrad(grads.gradWeight);
    this.bias.accumulateGrad(grads.gradBias);
    return grads.gradInput;
  }

  protected override clearOwnCache(): void {
    this.cache = null;
  }
}
