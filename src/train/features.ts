/**
 * The feature cache of the linear-probe path (runtime-safe): with the backbone frozen
 * (weights and BN statistics) and no augmentation, every image's pooled feature vector
 * is the same in every epoch, so the backbone runs once per image and the head trains
 * on the cached [N, C] matrix.
 */
import { Tensor } from '../tensor/tensor.js';

export interface FeatureSet {
  /** [count, dim], row r = sample indices[r] of the dataset. */
  features: Float32Array;
  labels: Int32Array;
  count: number;
  dim: number;
  /** Dataset positions of the rows, ascending: every sample the batches delivered (a loader drops unreadable ones). */
  indices: number[];
}

export interface ImageBatch {
  x: Tensor;
  labels: Int32Array;
  indices: number[];
}

/**
 * Runs `backbone` (images [B, 3, H, W] -> pooled [B, C]) over every batch and returns the
 * rows in dataset order whatever the batch order. Samples of the `count` that no batch
 * delivered (dropped by the loader as unreadable) get no row: `indices` lists the ones kept.
 * The backbone may be async (e.g. inference split over worker threads); batches run one at a time.
 */
export async function extractFeatures(
  batches: AsyncIterable<ImageBatch>,
  count: number,
  backbone: (x: Tensor) => Tensor | Promise<Tensor>,
  onBatch?: (done: number) => void,
): Promise<FeatureSet> {
  let all: Float32Array | null = null;
  let dim = 0;
  const allLabels = new Int32Array(count).fill(-1);
  let done = 0;
  for await (const b of batches) {
    const pooled = await backbone(b.x);
    if (pooled.shape.length !== 2 || pooled.shape[0] !== b.indices.length) {
      throw new Error(`extractFeatures: backbone returned [${pooled.shape.join(', ')}] for a batch of ${b.indices.length}`);
    }
    if (!all) {
      dim = pooled.shape[1];
      all = new Float32Array(count * dim);
    }
    b.indices.forEach((i, j) => {
      all!.set(pooled.data.subarray(j * dim, (j + 1) * dim), i * dim);
      allLabels[i] = b.labels[j];
    });
    done += b.indices.length;
    onBatch?.(done);
  }
  if (!all) throw new Error(`extractFeatures: none of the ${count} samples could be loaded`);
  const indices: number[] = [];
  allLabels.forEach((l, i) => l >= 0 && indices.push(i));
  if (indices.length === count) return { features: all, labels: allLabels, count, dim, indices };
  const features = new Float32Array(indices.length * dim);
  indices.forEach((i, r) => features.set(all!.subarray(i * dim, (i + 1) * dim), r * dim));
  return { features, labels: Int32Array.from(indices, (i) => allLabels[i]), count: indices.length, dim, indices };
}

/** Rows `idx` of the cache as a [idx.length, dim] tensor. */
export function gatherRows(set: FeatureSet, idx: readonly number[]): { x: Tensor; labels: Int32Array } {
  const x = new Float32Array(idx.length * set.dim);
  idx.forEach((i, j) => x.set(set.features.subarray(i * set.dim, (i + 1) * set.dim), j * set.dim));
  return { x: new Tensor(x, [idx.length, set.dim]), labels: Int32Array.from(idx, (i) => set.labels[i]) };
}
