/**
 * Node-only: per-sample image loading (decode + transform + normalize), and the
 * worker_threads entry that runs it off the main thread for the loader's pool.
 * The same `loadSample` runs on the main thread and in workers, and every random
 * draw comes from a per-sample seed, so a sample's tensor does not depend on
 * which thread made it.
 */
import { isMainThread, parentPort, workerData } from 'node:worker_threads';
import { Rng } from '../tensor/rng.js';
import { decodeImageFile } from './decode.js';
import type { RgbImage } from './image.js';
import { resize, toNormalizedTensor } from './transforms.js';
import { colorJitter, randomHorizontalFlip, randomResizedCrop, type ColorJitterOptions } from './random_transforms.js';

/**
 * What to do to a decoded image (plain data, so it can be posted to a worker).
 * - `resize`: torchvision `Resize((size, size))` (the eval/val recipe, and train without --augment);
 * - `augment`: `RandomResizedCrop(size)` + `RandomHorizontalFlip()` (+ `ColorJitter(...)` when given).
 * Then ToTensor + Normalize(mean, std).
 */
export interface TransformSpec {
  kind: 'resize' | 'augment';
  size: number;
  mean: readonly number[];
  std: readonly number[];
  colorJitter?: ColorJitterOptions;
}

export interface SampleTensor {
  data: Float32Array;
  /** [3, H, W] */
  shape: [number, number, number];
}

/** A 32-bit seed for sample `index` of `epoch` (splitmix-style mixing, so nearby inputs give unrelated seeds). */
export function sampleSeed(seed: number, epoch: number, index: number): number {
  let h = (seed >>> 0) ^ Math.imul(epoch + 1, 0x9e3779b1) ^ Math.imul(index + 1, 0x85ebca77);
  h = Math.imul(h ^ (h >>> 16), 0x7feb352d);
  h = Math.imul(h ^ (h >>> 15), 0x846ca68b);
  return (h ^ (h >>> 16)) >>> 0;
}

export function applyTransform(img: RgbImage, spec: TransformSpec, seed: number): SampleTensor {
  let out: RgbImage;
  if (spec.kind === 'augment') {
    const rng = new Rng(seed);
    out = randomHorizontalFlip(randomResizedCrop(img, spec.size, rng), rng);
    if (spec.colorJitter) out = colorJitter(out, rng, spec.colorJitter);
  } else if (spec.kind === 'resize') {
    out = resize(img, [spec.size, spec.size]);
  } else {
    throw new Error(`unknown transform '${String((spec as { kind: unknown }).kind)}'`);
  }
  const t = toNormalizedTensor(out, spec.mean, spec.std);
  return { data: t.data, shape: [3, out.height, out.width] };
}

/** Decodes `path` and applies `spec`; errors name the file. */
export async function loadSample(path: string, spec: TransformSpec, seed: number): Promise<SampleTensor> {
  const img = await decodeImageFile(path);
  if (img.width === 0 || img.height === 0) throw new Error(`${path}: image has no pixels`);
  return applyTransform(img, spec, seed);
}

export interface WorkerRequest {
  id: number;
  path: string;
  spec: TransformSpec;
  seed: number;
}

export type WorkerResponse = { id: number; data: Float32Array; shape: [number, number, number] } | { id: number; error: string };

/** Marks workers started by the loader's pool, so importing this file elsewhere starts nothing. */
export const WORKER_ROLE = 'mnv2-decode-worker';

if (!isMainThread && parentPort && (workerData as { role?: string } | null)?.role === WORKER_ROLE) {
  const port = parentPort;
  port.on('message', (req: WorkerRequest) => {
    loadSample(req.path, req.spec, req.seed).then(
      (s) => port.postMessage({ id: req.id, data: s.data, shape: s.shape } satisfies WorkerResponse, [s.data.buffer as ArrayBuffer]),
      (e: unknown) => port.postMessage({ id: req.id, error: (e as Error).message } satisfies WorkerResponse),
    );
  });
}
