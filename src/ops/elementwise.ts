import { Tensor, sameShape, formatShape } from '../tensor/tensor.js';

export function add(a: Tensor, b: Tensor): Tensor {
  if (!sameShape(a.shape, b.shape)) throw new Error(`add: shapes ${formatShape(a.shape)} and ${formatShape(b.shape)} differ`);
  const out = new Float32Array(a.size);
  const ad = a.data;
  const bd = b.data;
  for (let i = 0; i < out.length; i++) out[i] = ad[i] + bd[i];
  return new Tensor(out, a.shape);
}

/** torch.flatten(x, 1). */
export function flatten(x: Tensor): Tensor {
  return x.reshape([x.shape[0], -1]);
}
