import type { Tensor } from '../tensor/tensor.js';
import { defaultRng, type Rng } from '../tensor/rng.js';

/** fan_in and fan_out as torch.nn.init._calculate_fan_in_and_fan_out. */
export function fans(shape: readonly number[]): { fanIn: number; fanOut: number } {
  if (shape.length < 2) throw new Error(`init: fan in/out needs at least 2 dimensions, got [${shape.join(', ')}]`);
  const receptive = shape.slice(2).reduce((a, b) => a * b, 1);
  return { fanIn: shape[1] * receptive, fanOut: shape[0] * receptive };
}

export function normal_(t: Tensor, mean = 0, std = 1, rng: Rng = defaultRng()): Tensor {
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal(mean, std);
  return t;
}

export function uniform_(t: Tensor, lo: number, hi: number, rng: Rng = defaultRng()): Tensor {
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.uniform(lo, hi);
  return t;
}

export function constant_(t: Tensor, value: number): Tensor {
  t.data.fill(value);
  return t;
}

/** kaiming_normal_ for ReLU-family layers: std = sqrt(2 / fan). */
export function kaimingNormal_(t: Tensor, mode: 'fan_in' | 'fan_out' = 'fan_in', rng: Rng = defaultRng()): Tensor {
  const { fanIn, fanOut } = fans(t.shape);
  const std = Math.SQRT2 / Math.sqrt(mode === 'fan_in' ? fanIn : fanOut);
  return normal_(t, 0, std, rng);
}

/** PyTorch's default Conv/Linear init (kaiming_uniform with a = sqrt(5)): U(-1/sqrt(fan_in), 1/sqrt(fan_in)). */
export function defaultLayerInit_(t: Tensor, fanIn: number, rng: Rng = defaultRng()): Tensor {
  const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
  return uniform_(t, -bound, bound, rng);
}
