import { Tensor } from '../tensor/tensor.js';
import type { Rng } from '../tensor/rng.js';

/**
 * Inverted dropout: kept elements are scaled by 1/(1-p) so eval needs no rescale.
 * The mask already carries the scale, so backward is one multiply.
 */
export function dropoutMask(shape: readonly number[], p: number, rng: Rng): Tensor {
  const mask = Tensor.zeros(shape);
  const keep = 1 / (1 - p);
  const md = mask.data;
  for (let i = 0; i < md.length; i++) md[i] = rng.random() >= p ? keep : 0;
  return mask;
}

export function mul(a: Tensor, b: Tensor): Tensor {
  if (a.size !== b.size) throw new Error(`mul: sizes ${a.size} and ${b.size} differ`);
  const out = new Float32Array(a.size);
  for (let i = 0; i < out.length; i++) out[i] = a.data[i] * b.data[i];
  return new Tensor(out, a.shape);
}
