import { Tensor, formatShape } from '../tensor/tensor.js';
import { matmul, transpose } from './gemm.js';

/** y = x W^T + b, x: [N, in], W: [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (x.shape.length !== 2 || wIn !== inF) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  const out = new Float32Array(n * outF);
  matmul(n, outF, inF, x.data, 0, transpose(weight.data, 0, outF, inF), 0, out, 0);
  if (bias) {
    for (let r = 0; r < n; r++) for (let o = 0; o < outF; o++) out[r * outF + o] += bias.data[o];
  }
  return new Tensor(out, [n, outF]);
}

/** dL/dx = dY W. */
export function linearBackwardInput(gradOut: Tensor, weight: Tensor): Tensor {
  const [n, outF] = gradOut.shape;
  const inF = weight.shape[1];
  const dx = new Float32Array(n * inF);
  matmul(n, inF, outF, gradOut.data, 0, weight.data, 0, dx, 0);
  return new Tensor(dx, [n, inF]);
}

/** dL/dW = dY^T x and dL/db = column sums of dY. */
export function linearBackwardParams(gradOut: Tensor, x: Tensor): { gradWeight: Tensor; gradBias: Tensor } {
  const [n, outF] = gradOut.shape;
  const inF = x.shape[1];
  const dy = gradOut.data;
  // Row-major walk over x (one contiguous row per sample), accumulating in
  // float64: the batch is the long reduction axis when training on cached features.
  const xd = x.data;
  const acc = new Float64Array(outF * inF);
  for (let b = 0; b < n; b++) {
    const xo = b * inF;
    for (let o = 0; o < outF; o++) {
      const g = dy[b * outF + o];
      if (g === 0) continue;
      const ao = o * inF;
      for (let i = 0; i < inF; i++) acc[ao + i] += g * xd[xo + i];
    }
  }
  const dw = Float32Array.from(acc);
  const db = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let bsum = 0;
    for (let b = 0; b < n; b++) bsum += dy[b * outF + o];
    db[o] = bsum;
  }
  return { gradWeight: new Tensor(dw, [outF, inF]), gradBias: new Tensor(db, [outF]) };
}
