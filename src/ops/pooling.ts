import { Tensor, formatShape } from '../tensor/tensor.js';

/** AdaptiveAvgPool2d((1, 1)): the mean over each channel's plane, keeping [N, C, 1, 1]. */
export function adaptiveAvgPool2d1x1(x: Tensor): Tensor {
  if (x.shape.length !== 4) throw new Error(`adaptive_avg_pool2d: input must be 4-D NCHW, got ${formatShape(x.shape)}`);
  const [n, c, h, w] = x.shape;
  const hw = h * w;
  const xd = x.data;
  const out = new Float32Array(n * c);
  for (let i = 0; i < n * c; i++) {
    let acc = 0;
    const base = i * hw;
    for (let k = 0; k < hw; k++) acc += xd[base + k];
    out[i] = acc / hw;
  }
  return new Tensor(out, [n, c, 1, 1]);
}

/** Each input pixel receives its channel's gradient divided by the plane size. */
export function adaptiveAvgPool2d1x1Backward(gradOut: Tensor, xShape: readonly number[]): Tensor {
  const [n, c, h, w] = xShape;
  const hw = h * w;
  const g = gradOut.data;
  const dx = new Float32Array(n * c * hw);
  for (let i = 0; i < n * c; i++) dx.fill(g[i] / hw, i * hw, (i + 1) * hw);
  return new Tensor(dx, xShape);
}
