/**
 * The feature cache of the linear-probe path (runtime-safe): with the backbone frozen
 * (weights and BN statistics) and no augmentation, every image's pooled feature vector
 * is the same in every epoch, so the backbone runs once per image and the head trains
 * on the cached [N, C] matrix.
 */
import { Tensor } from '../tensor/tensor.js';

export interface FeatureSet {
  /** [count, dim], row i = sample i of the dataset. */
  features: Float32Array;
  labels: Int32Array;
  count: number;
  dim: number;
}

export interface ImageBatch {
  x: Tensor;
  labels: Int32Array;
  indices: number[];
}

/**
 * Runs `backbone` (images [B, 3, H, W] -> pooled [B, C]) over every batch, storing row
 * `indices[j]` for each batch item, so the result is in dataset order whatever the batch order.
 * The backbone may be async (e.g. inference split over worker threads); batches run one at a time.
 */
export async function extractFeatures(
  batches: AsyncIterable<ImageBatch>,
  count: number,
  backbone: (x: Tensor) => Tensor | Promise<Tensor>,
  onBatch?: (done: number) => void,
): Promise<FeatureSet> {
  let features: Float32Array | null = null;
  let dim = 0;
  const labels = new Int32Array(count).fill(-1);
  let done = 0;
  for await (const b of batches) {
    const pooled = await backbone(b.x);
    if (pooled.shape.length !== 2 || pooled.shape[0] !== b.indices.length) {
      throw new Error(`extractFeatures: backbone returned [${pooled.shape.join(', ')}] for a batch of ${b.indices.length}`);
    }
    if (!features) {
      dim = pooled.shape[1];
      features = new Float32Array(count * dim);
    }
    b.indices.forEach((i, j) => {
      features!.set(pooled.data.subarray(j * dim, (j + 1) * dim), i * dim);
      labels[i] = b.labels[j];
    });
    done += b.indices.length;
    onBatch?.(done);
  }
  if (!features || labels.some((l) => l < 0)) throw new Error(`extractFeatures: only ${done} of ${count} samples were seen`);
  return { features, labels, count, dim };
}

/** Rows `idx` of the cache as a [idx.length, dim] tensor. */
export function gatherRows(set: FeatureSet, idx: readonly number[]): { x: Tensor; labels: Int32Array } {
  const x = new Float32Array(idx.length * set.dim);
  idx.forEach((i, j) => x.set(set.features.subarray(i * set.dim, (i + 1) * set.dim), j * set.dim));
  return { x: new Tensor(x, [idx.length, set.dim]), labels: Int32Array.from(idx, (i) => set.labels[i]) };
}
