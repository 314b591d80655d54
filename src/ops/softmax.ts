import { Tensor, formatShape } from '../tensor/tensor.js';

/**
 * Runs `fn` over each row of the last dimension with the row's max and its
 * sum of exp(x - max), accumulated in float64 so that long rows lose nothing.
 */
function forEachRow(
  op: string,
  logits: Tensor,
  fn: (x: Float32Array, start: number, width: number, max: number, sumExp: number) => void,
): void {
  if (!(logits instanceof Tensor) || logits.dtype !== 'float32' || logits.ndim < 1) {
    throw new Error(`${op}: expected a float32 tensor of rank >= 1, got ${logits instanceof Tensor ? logits.toString() : typeof logits}`);
  }
  const width = logits.shape[logits.ndim - 1];
  if (width === 0) throw new Error(`${op}: last dimension of ${formatShape(logits.shape)} is empty`);
  const x = logits.data;
  for (let start = 0; start < x.length; start += width) {
    let max = -Infinity;
    for (let c = 0; c < width; c++) max = Math.max(max, x[start + c]);
    let sumExp = 0;
    for (let c = 0; c < width; c++) sumExp += Math.exp(x[start + c] - max);
    fn(x, start, width, max, sumExp);
  }
}

/** Softmax over the last dimension (rows of an [N, C] tensor), numerically stable. */
export function softmax(logits: Tensor): Tensor {
  const out = new Float32Array(logits.size);
  forEachRow('softmax', logits, (x, start, width, max, sumExp) => {
    for (let c = 0; c < width; c++) out[start + c] = Math.exp(x[start + c] - max) / sumExp;
  });
  return new Tensor(out, logits.shape);
}

/** log(softmax(x)) over the last dimension, as x - max - log(sum exp(x - max)). */
export function logSoftmax(logits: Tensor): Tensor {
  const out = new Float32Array(logits.size);
  forEachRow('logSoftmax', logits, (x, start, width, max, sumExp) => {
    const logSum = Math.log(sumExp);
    for (let c = 0; c < width; c++) out[start + c] = x[start + c] - max - logSum;
  });
  return new Tensor(out, logits.shape);
}
