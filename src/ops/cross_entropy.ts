import { Tensor, formatShape } from '../tensor/tensor.js';

export type Reduction = 'mean' | 'sum' | 'none';

export interface CrossEntropyOptions {
  /** PyTorch's `label_smoothing` ε in [0, 1]: the target becomes (1-ε)·onehot + ε/C. */
  labelSmoothing?: number;
  reduction?: Reduction;
}

/** Class indices, one per row: a plain array, an Int32Array, or an int64 Tensor / BigInt64Array as read from a file. */
export type Target = ArrayLike<number> | BigInt64Array | Tensor;

/**
 * `F.cross_entropy(logits, target, label_smoothing=ε, reduction=...)` for logits [N, C],
 * with its gradient with respect to the logits:
 *   loss_i = (1-ε)·(-log p_{i,y_i}) + ε·mean_c(-log p_{i,c}),  p = softmax(logits_i)
 *   dloss_i/dlogits_i = p_i - ((1-ε)·onehot(y_i) + ε/C)
 * `mean` divides loss and grad by N. With `none`, `loss` holds each loss_i and `grad`
 * row i is dloss_i/dlogits_i (the gradient of their sum). Computed in float64: `loss`
 * (for mean/sum) is the float64 value, the rest is rounded to float32.
 */
export function crossEntropy(
  logits: Tensor,
  target: Target,
  opts: CrossEntropyOptions & { reduction: 'none' },
): { loss: Float32Array; grad: Tensor };
export function crossEntropy(
  logits: Tensor,
  target: Target,
  opts?: CrossEntropyOptions & { reduction?: 'mean' | 'sum' },
): { loss: number; grad: Tensor };
export function crossEntropy(
  logits: Tensor,
  target: Target,
  opts: CrossEntropyOptions = {},
): { loss: number | Float32Array; grad: Tensor } {
  const { labelSmoothing: eps = 0, reduction = 'mean' } = opts;
  if (!(logits instanceof Tensor) || logits.dtype !== 'float32' || logits.ndim !== 2) {
    throw new Error(`crossEntropy: logits must be a float32 [N, C] tensor, got ${logits instanceof Tensor ? logits.toString() : typeof logits}`);
  }
  const [n, classes] = logits.shape;
  if (n === 0 || classes === 0) throw new Error(`crossEntropy: logits of shape ${formatShape(logits.shape)} are empty`);
  if (!(eps >= 0 && eps <= 1)) throw new Error(`crossEntropy: labelSmoothing must be in [0, 1], got ${eps}`);
  if (reduction !== 'mean' && reduction !== 'sum' && reduction !== 'none') {
    throw new Error(`crossEntropy: unknown reduction '${String(reduction)}'`);
  }
  const y = targetIndices(target, n, classes);
  const x = logits.data;
  for (let i = 0; i < x.length; i++) {
    if (!Number.isFinite(x[i])) {
      throw new Error(`crossEntropy: logits[${Math.floor(i / classes)}, ${i % classes}] is ${x[i]} (NaN/Inf; diverged training?)`);
    }
  }

  const scale = reduction === 'mean' ? 1 / n : 1;
  const off = eps / classes;
  const losses = new Float64Array(n);
  const grad = new Float32Array(x.length);
  for (let i = 0; i < n; i++) {
    const row = i * classes;
    let max = -Infinity;
    for (let c = 0; c < classes; c++) max = Math.max(max, x[row + c]);
    let sumExp = 0;
    for (let c = 0; c < classes; c++) sumExp += Math.exp(x[row + c] - max);
    const logSumExp = max + Math.log(sumExp);
    let sumNegLogP = 0;
    for (let c = 0; c < classes; c++) {
      sumNegLogP += logSumExp - x[row + c];
      const p = Math.exp(x[row + c] - max) / sumExp;
      grad[row + c] = (p - off - (c === y[i] ? 1 - eps : 0)) * scale;
    }
    losses[i] = (1 - eps) * (logSumExp - x[row + y[i]]) + eps * (sumNegLogP / classes);
  }
  const gradT = new Tensor(grad, logits.shape);
  if (reduction === 'none') return { loss: Float32Array.from(losses), grad: gradT };
  let total = 0;
  for (const l of losses) total += l;
  return { loss: total * scale, grad: gradT };
}

function targetIndices(target: Target, n: number, classes: number): Int32Array {
  const values: ArrayLike<number | bigint> =
    target instanceof Tensor ? (target.dtype === 'int64' ? target.int64! : target.data) : target;
  if (!values || typeof values.length !== 'number') throw new Error('crossEntropy: target must be an array of class indices');
  if (values.length !== n) throw new Error(`crossEntropy: ${values.length} targets for a batch of ${n}`);
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const v = Number(values[i]);
    if (!Number.isInteger(v) || v < 0 || v >= classes) {
      throw new Error(`crossEntropy: target[${i}] = ${String(values[i])} is not a class index in [0, ${classes})`);
    }
    out[i] = v;
  }
  return out;
}
