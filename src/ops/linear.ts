import { Tensor, formatShape } from '../tensor/tensor.js';
import { matmul, matmulTransB, transpose } from './gemm.js';

/*
 * The head's matrices are wide (W is [1000, 1280] for ImageNet) and the batch is
 * small, or the batch is long and W narrow (cached features: [4065, 1280] x 5).
 * All three products go through the 4x3 register tiles of gemm.ts: every output
 * is one float64 sum in index order (plus the bias), rounded once, so the result
 * is within float32 rounding of any summation order.
 */

/** y = x W^T + b, x: [N, in], W: [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (x.shape.length !== 2 || wIn !== inF) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  const out = new Float32Array(n * outF);
  matmulTransB(n, outF, inF, x.data, weight.data, out, bias ? bias.data : null);
  return new Tensor(out, [n, outF]);
}

/** dL/dx = dY W: [N, out] x [out, in]. */
export function linearBackwardInput(gradOut: Tensor, weight: Tensor): Tensor {
  const [n, outF] = gradOut.shape;
  const inF = weight.shape[1];
  const dx = new Float32Array(n * inF);
  matmul(n, inF, outF, gradOut.data, 0, weight.data, 0, dx, 0);
  return new Tensor(dx, [n, inF]);
}

/** dL/dW = dY^T x ([out, N] x [N, in]) and dL/db = column sums of dY. */
export function linearBackwardParams(gradOut: Tensor, x: Tensor): { gradWeight: Tensor; gradBias: Tensor } {
  const [n, outF] = gradOut.shape;
  const inF = x.shape[1];
  const dy = gradOut.data;
  const dw = new Float32Array(outF * inF);
  matmul(outF, inF, n, transpose(dy, 0, n, outF), 0, x.data, 0, dw, 0);
  const db = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = 0;
    for (let b = 0; b < n; b++) s += dy[b * outF + o];
    db[o] = s;
  }
  return { gradWeight: new Tensor(dw, [outF, inF]), gradBias: new Tensor(db, [outF]) };
}
