import { describe, expect, it } from 'vitest';
import { loadFixture } from '../helpers/fixtures.js';
import type { RgbImage } from '../../src/data/image.js';
import {
  IMAGENET_MEAN,
  IMAGENET_STD,
  centerCrop,
  resize,
  resizeShorter,
  toNormalizedTensor,
} from '../../src/data/transforms.js';
import type { Tensor } from '../../src/tensor/tensor.js';

const fx = loadFixture('parity_preprocess.safetensors');

export function fixtureRgb(key: string): RgbImage {
  const t = fx.tensors.get(`${key}.rgb`)!;
  const [height, width, c] = t.shape;
  expect(c).toBe(3);
  return { width, height, data: Uint8Array.from(t.int64!, (v) => Number(v)) };
}

interface Diff {
  exactFraction: number;
  maxLevels: number;
  maxAbs: number;
}

/** Compares in uint8 levels by undoing Normalize on both sides. */
function compare(ours: Tensor, ref: Tensor, mean: readonly number[], std: readonly number[]): Diff {
  expect([...ours.shape]).toEqual([...ref.shape]);
  const plane = ref.shape[1] * ref.shape[2];
  let exact = 0;
  let maxLevels = 0;
  let maxAbs = 0;
  for (let i = 0; i < ref.size; i++) {
    const c = Math.floor(i / plane);
    const a = ours.data[i];
    const b = ref.data[i];
    if (a === b) exact++;
    maxAbs = Math.max(maxAbs, Math.abs(a - b));
    const la = (a * std[c] + mean[c]) * 255;
    const lb = (b * std[c] + mean[c]) * 255;
    maxLevels = Math.max(maxLevels, Math.abs(la - lb));
  }
  return { exactFraction: exact / ref.size, maxLevels, maxAbs };
}

const pipelines = [
  {
    name: 'resize256_crop224_imagenet',
    mean: IMAGENET_MEAN,
    std: IMAGENET_STD,
    run: (img: RgbImage) => centerCrop(resizeShorter(img, 256), 224),
  },
  {
    name: 'resize224x224_half',
    mean: [0.5, 0.5, 0.5] as const,
    std: [0.5, 0.5, 0.5] as const,
    run: (img: RgbImage) => resize(img, [224, 224]),
  },
];

describe('torchvision preprocessing parity (from the stored PIL-decoded RGB)', () => {
  for (const key of ['img0', 'img1', 'img2', 'img3']) {
    for (const p of pipelines) {
      it(`${key} ${p.name}`, () => {
        const ours = toNormalizedTensor(p.run(fixtureRgb(key)), p.mean, p.std);
        const ref = fx.tensors.get(`${key}.${p.name}`)!;
        const d = compare(ours, ref, p.mean, p.std);
        console.log(
          `${key} ${p.name}: exact ${(100 * d.exactFraction).toFixed(4)}%, max diff ${d.maxLevels.toFixed(4)} levels, max abs ${d.maxAbs}`,
        );
        let refMax = 0;
        for (const v of ref.data) refMax = Math.max(refMax, Math.abs(v));
        expect(d.maxLevels).toBeLessThanOrEqual(1 + 1e-3);
        expect(d.maxAbs).toBeLessThanOrEqual(1e-4 * Math.max(1, refMax));
        // Pillow's fixed-point resample is reproduced bit for bit, so nothing short of every element is accepted.
        expect(d.exactFraction).toBe(1);
      });
    }
  }
});
