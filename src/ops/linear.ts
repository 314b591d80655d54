import { Tensor, formatShape } from '../tensor/tensor.js';

/** y = x W^T + b, x: [N, in], W: [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (x.shape.length !== 2 || wIn !== inF) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  const xd = x.data;
  const wd = weight.data;
  const out = new Float32Array(n * outF);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outF; o++) {
      let acc = 0;
      const xo = b * inF;
      const wo = o * inF;
      for (let i = 0; i < inF; i++) acc += xd[xo + i] * wd[wo + i];
      out[b * outF + o] = acc + (bias ? bias.data[o] : 0);
    }
  }
  return new Tensor(out, [n, outF]);
}

/** dL/dx = dY W. */
export function linearBackwardInput(gradOut: Tensor, weight: Tensor): Tensor {
  const [n, outF] = gradOut.shape;
  const inF = weight.shape[1];
  const dy = gradOut.data;
  const wd = weight.data;
  const dx = new Float32Array(n * inF);
  for (let b = 0; b < n; b++) {
    for (let o = 0; o < outF; o++) {
      const g = dy[b * outF + o];
      const wo = o * inF;
      const xo = b * inF;
      for (let i = 0; i < inF; i++) dx[xo + i] += g * wd[wo + i];
    }
  }
  return new Tensor(dx, [n, inF]);
}

/** dL/dW = dY^T x and dL/db = column sums of dY. */
export function linearBackwardParams(gradOut: Tensor, x: Tensor): { gradWeight: Tensor; gradBias: Tensor } {
  const [n, outF] = gradOut.shape;
  const inF = x.shape[1];
  const dy = gradOut.data;
  const xd = x.data;
  const dw = new Float32Array(outF * inF);
  const db = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let bsum = 0;
    for (let i = 0; i < inF; i++) {
      let acc = 0;
      for (let b = 0; b < n; b++) acc += dy[b * outF + o] * xd[b * inF + i];
      dw[o * inF + i] = acc;
    }
    for (let b = 0; b < n; b++) bsum += dy[b * outF + o];
    db[o] = bsum;
  }
  return { gradWeight: new Tensor(dw, [outF, inF]), gradBias: new Tensor(db, [outF]) };
}
