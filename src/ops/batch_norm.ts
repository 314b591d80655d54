import { Tensor, formatShape } from '../tensor/tensor.js';

/**
 * Batch normalization over (N, H, W) per channel, as torch.nn.functional.batch_norm.
 * Statistics are accumulated in float64 and rounded once, which keeps us inside
 * float32 rounding of PyTorch whatever order it sums in.
 */
export interface BatchStats {
  mean: Float32Array;
  /** Biased variance (divides by N*H*W), which normalization uses. */
  varBiased: Float32Array;
  /** 1 / sqrt(varBiased + eps), kept for the backward pass. */
  invStd: Float32Array;
  count: number;
}

function dims(x: Tensor): [number, number, number] {
  if (x.shape.length !== 4) throw new Error(`batch_norm: input must be 4-D NCHW, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  return [n, c, h * w];
}

export function batchStats(x: Tensor, eps: number): BatchStats {
  const [n, c, hw] = dims(x);
  const count = n * hw;
  const xd = x.data;
  const mean = new Float32Array(c);
  const varBiased = new Float32Array(c);
  const invStd = new Float32Array(c);
  for (let ch = 0; ch < c; ch++) {
    let sum = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) sum += xd[base + k];
    }
    const m = sum / count;
    let sq = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) {
        const d = xd[base + k] - m;
        sq += d * d;
      }
    }
    const v = sq / count;
    mean[ch] = m;
    varBiased[ch] = v;
    invStd[ch] = 1 / Math.sqrt(v + eps);
  }
  return { mean, varBiased, invStd, count };
}

/**
 * BN as one float64 affine map per channel, x * scale + shift, rounded to float32
 * once per element. Shared by `normalizeChannels` and the convolution epilogue
 * that fuses eval-mode BN into the conv's store, so both round identically.
 */
export interface ChannelAffine {
  scale: Float64Array;
  shift: Float64Array;
}

/** scale = invStd * gamma, shift = beta - mean * scale, per channel. */
export function channelAffine(mean: Float32Array, invStd: Float32Array, gamma: Float32Array | null, beta: Float32Array | null): ChannelAffine {
  const c = mean.length;
  const scale = new Float64Array(c);
  const shift = new Float64Array(c);
  for (let ch = 0; ch < c; ch++) {
    scale[ch] = invStd[ch] * (gamma ? gamma[ch] : 1);
    shift[ch] = (beta ? beta[ch] : 0) - mean[ch] * scale[ch];
  }
  return { scale, shift };
}

/** y = (x - mean) * invStd * gamma + beta with per-channel vectors. */
export function normalizeChannels(
  x: Tensor,
  mean: Float32Array,
  invStd: Float32Array,
  gamma: Float32Array | null,
  beta: Float32Array | null,
): Tensor {
  const [n, c, hw] = dims(x);
  const xd = x.data;
  const out = new Float32Array(xd.length);
  const affine = channelAffine(mean, invStd, gamma, beta);
  for (let ch = 0; ch < c; ch++) {
    const scale = affine.scale[ch];
    const shift = affine.shift[ch];
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) out[base + k] = xd[base + k] * scale + shift;
    }
  }
  return new Tensor(out, x.shape);
}

/** Eval mode: normalize with the running statistics. */
export function batchNorm2dEval(
  x: Tensor,
  runningMean: Tensor,
  runningVar: Tensor,
  gamma: Tensor | null,
  beta: Tensor | null,
  eps: number,
): Tensor {
  const c = x.shape[1];
  if (runningMean.size !== c || runningVar.size !== c) {
    throw new Error(`batch_norm: running stats have ${runningMean.size} channels, input ${formatShape(x.shape)} has ${c}`);
  }
  return normalizeChannels(x, runningMean.data, evalInvStd(runningVar.data, eps), gamma?.data ?? null, beta?.data ?? null);
}

/** 1 / sqrt(runningVar + eps), rounded to float32 as the eval forward stores it. */
function evalInvStd(runningVar: Float32Array, eps: number): Float32Array {
  const invStd = new Float32Array(runningVar.length);
  for (let ch = 0; ch < runningVar.length; ch++) invStd[ch] = 1 / Math.sqrt(runningVar[ch] + eps);
  return invStd;
}

/** Eval-mode BN as the per-channel affine map `batchNorm2dEval` applies. */
export function batchNorm2dEvalAffine(runningMean: Tensor, runningVar: Tensor, gamma: Tensor | null, beta: Tensor | null, eps: number): ChannelAffine {
  return channelAffine(runningMean.data, evalInvStd(runningVar.data, eps), gamma?.data ?? null, beta?.data ?? null);
}

/**
 * Train-mode running-stat update, as PyTorch: the running variance takes the
 * *unbiased* batch variance, while normalization used the biased one.
 */
export function updateRunningStats(runningMean: Tensor, runningVar: Tensor, stats: BatchStats, momentum: number): void {
  const { count } = stats;
  const unbias = count > 1 ? count / (count - 1) : 1;
  const rm = runningMean.data;
  const rv = runningVar.data;
  for (let ch = 0; ch < rm.length; ch++) {
    rm[ch] = (1 - momentum) * rm[ch] + momentum * stats.mean[ch];
    rv[ch] = (1 - momentum) * rv[ch] + momentum * stats.varBiased[ch] * unbias;
  }
}

export interface BatchNormGrads {
  gradInput: Tensor | null;
  gradWeight: Float32Array;
  gradBias: Float32Array;
}

/**
 * Backward of train-mode BN, where mean and variance depend on x:
 * dx = gamma * invStd / M * (M * dy - sum(dy) - xhat * sum(dy * xhat)).
 */
export function batchNorm2dTrainBackward(
  gradOut: Tensor,
  x: Tensor,
  stats: BatchStats,
  gamma: Float32Array | null,
  needInputGrad: boolean,
): BatchNormGrads {
  const [n, c, hw] = dims(x);
  const M = stats.count;
  const xd = x.data;
  const dy = gradOut.data;
  const gradWeight = new Float32Array(c);
  const gradBias = new Float32Array(c);
  const dx = needInputGrad ? new Float32Array(xd.length) : null;
  for (let ch = 0; ch < c; ch++) {
    const m = stats.mean[ch];
    const is = stats.invStd[ch];
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) {
        const g = dy[base + k];
        sumDy += g;
        sumDyXhat += g * (xd[base + k] - m) * is;
      }
    }
    gradBias[ch] = sumDy;
    gradWeight[ch] = sumDyXhat;
    if (dx) {
      const gm = gamma ? gamma[ch] : 1;
      const k1 = (gm * is) / M;
      for (let b = 0; b < n; b++) {
        const base = (b * c + ch) * hw;
        for (let k = 0; k < hw; k++) {
          const xhat = (xd[base + k] - m) * is;
          dx[base + k] = k1 * (M * dy[base + k] - sumDy - xhat * sumDyXhat);
        }
      }
    }
  }
  return { gradInput: dx ? new Tensor(dx, x.shape) : null, gradWeight, gradBias };
}

/** Backward of eval-mode BN: the statistics are constants, so it is a per-channel scale. */
export function batchNorm2dEvalBackward(
  gradOut: Tensor,
  x: Tensor,
  runningMean: Float32Array,
  runningVar: Float32Array,
  gamma: Float32Array | null,
  eps: number,
  needInputGrad: boolean,
): BatchNormGrads {
  const [n, c, hw] = dims(x);
  const xd = x.data;
  const dy = gradOut.data;
  const gradWeight = new Float32Array(c);
  const gradBias = new Float32Array(c);
  const dx = needInputGrad ? new Float32Array(xd.length) : null;
  for (let ch = 0; ch < c; ch++) {
    const is = 1 / Math.sqrt(runningVar[ch] + eps);
    const m = runningMean[ch];
    const scale = is * (gamma ? gamma[ch] : 1);
    let sumDy = 0;
    let sumDyXhat = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) {
        const g = dy[base + k];
        sumDy += g;
        sumDyXhat += g * (xd[base + k] - m) * is;
        if (dx) dx[base + k] = g * scale;
      }
    }
    gradBias[ch] = sumDy;
    gradWeight[ch] = sumDyXhat;
  }
  return { gradInput: dx ? new Tensor(dx, x.shape) : null, gradWeight, gradBias };
}
