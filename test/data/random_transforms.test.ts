import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Rng } from '../../src/tensor/rng.js';
import type { RgbImage } from '../../src/data/image.js';
import {
  adjustBrightness,
  adjustContrast,
  adjustHue,
  adjustSaturation,
  blend,
  colorJitter,
  randomHorizontalFlip,
  randomResizedCrop,
  randomResizedCropParams,
  toGray,
} from '../../src/data/random_transforms.js';

function noise(width: number, height: number, seed: number): RgbImage {
  const rng = new Rng(seed);
  return { width, height, data: Uint8Array.from({ length: width * height * 3 }, () => rng.int(0, 255)) };
}

const same = (a: Uint8Array, b: Uint8Array) => a.length === b.length && a.every((v, i) => v === b[i]);

describe('RandomResizedCrop', () => {
  it('returns the requested size and is deterministic for a seed', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 1, max: 24 }),
        fc.integer({ min: 0, max: 2 ** 31 }),
        (w, h, oh, ow, seed) => {
          const img = noise(w, h, seed ^ 1);
          const a = randomResizedCrop(img, [oh, ow], new Rng(seed));
          const b = randomResizedCrop(img, [oh, ow], new Rng(seed));
          return a.width === ow && a.height === oh && a.data.length === ow * oh * 3 && same(a.data, b.data);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('crop boxes stay inside the image and respect scale/ratio unless falling back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 500 }), fc.integer({ min: 1, max: 500 }), fc.integer(), (W, H, seed) => {
        const box = randomResizedCropParams(H, W, new Rng(seed));
        return (
          box.top >= 0 && box.left >= 0 && box.height > 0 && box.width > 0 &&
          box.top + box.height <= H && box.left + box.width <= W
        );
      }),
      { numRuns: 300 },
    );
  });

  it('falls back to a centre crop clamped to the ratio range', () => {
    // scale > 1 can never fit, so all 10 attempts fail: 100x10 has ratio 10 > 4/3 -> h = 10, w = round(10 * 4/3) = 13.
    const box = randomResizedCropParams(10, 100, new Rng(1), { scale: [2, 3] });
    expect(box).toEqual({ top: 0, left: Math.floor((100 - 13) / 2), height: 10, width: 13 });
    const tall = randomResizedCropParams(100, 10, new Rng(1), { scale: [2, 3] });
    expect(tall).toEqual({ top: Math.floor((100 - 13) / 2), left: 0, height: 13, width: 10 });
    const square = randomResizedCropParams(20, 20, new Rng(1), { scale: [2, 3] });
    expect(square).toEqual({ top: 0, left: 0, height: 20, width: 20 });
  });

  it('with scale [1, 1] and ratio [1, 1] on a square image it is a plain resize of the whole image', () => {
    const img = noise(16, 16, 3);
    const box = randomResizedCropParams(16, 16, new Rng(5), { scale: [1, 1], ratio: [1, 1] });
    expect(box).toEqual({ top: 0, left: 0, height: 16, width: 16 });
    const out = randomResizedCrop(img, 16, new Rng(5), { scale: [1, 1], ratio: [1, 1] });
    expect(same(out.data, img.data)).toBe(true);
  });
});

describe('RandomHorizontalFlip', () => {
  it('p = 0 never flips, p = 1 always flips, and the draw is seeded', () => {
    const img = noise(5, 3, 9);
    expect(same(randomHorizontalFlip(img, new Rng(1), 0).data, img.data)).toBe(true);
    const flipped = randomHorizontalFlip(img, new Rng(1), 1);
    expect([...flipped.data.subarray(0, 3)]).toEqual([...img.data.subarray(12, 15)]);
    let flips = 0;
    const rng = new Rng(42);
    for (let i = 0; i < 400; i++) if (!same(randomHorizontalFlip(img, rng).data, img.data)) flips++;
    expect(flips).toBeGreaterThan(150);
    expect(flips).toBeLessThan(250);
  });
});

describe('PIL ImageEnhance arithmetic', () => {
  it('blend truncates inside [0, 1] and clips when extrapolating', () => {
    const a = new Uint8Array([0, 10, 200, 255]);
    const b = new Uint8Array([255, 11, 100, 0]);
    // 0 + 0.5 * 255 = 127.5 -> 127; 10 + 0.5 = 10.5 -> 10; 200 - 50 = 150; 255 - 127.5 = 127.5 -> 127.
    expect([...blend(a, b, 0.5)]).toEqual([127, 10, 150, 127]);
    // alpha 2: 0 + 510 -> 255; 10 + 2 = 12; 200 - 200 = 0; 255 - 510 -> 0.
    expect([...blend(a, b, 2)]).toEqual([255, 12, 0, 0]);
    expect([...blend(a, b, -1)]).toEqual([0, 9, 255, 255]);
  });

  it('convert("L") uses the 16-bit fixed-point ITU-R 601-2 weights', () => {
    const img: RgbImage = { width: 4, height: 1, data: new Uint8Array([255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]) };
    // (255 * 19595 + 32768) >> 16 = 76, 255 * 38470 -> 150, 255 * 7471 -> 29, white stays 255.
    expect([...toGray(img)]).toEqual([76, 150, 29, 255]);
  });

  it('brightness scales toward black, contrast toward the mean grey, saturation toward luma', () => {
    const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([100, 50, 200, 255, 255, 255]) };
    expect([...adjustBrightness(img, 0.5).data]).toEqual([50, 25, 100, 127, 127, 127]);
    expect([...adjustBrightness(img, 1.5).data]).toEqual([150, 75, 255, 255, 255, 255]);
    // Luma of pixel 0: (100*19595 + 50*38470 + 200*7471 + 32768) >> 16 = 5409968 >> 16 = 82; int(mean(82, 255) + 0.5) = 169.
    expect([...adjustContrast(img, 0).data]).toEqual([169, 169, 169, 169, 169, 169]);
    expect([...adjustSaturation(img, 0).data]).toEqual([82, 82, 82, 255, 255, 255]);
    expect([...adjustSaturation(img, 1).data]).toEqual([...img.data]);
  });

  it('hue shifts leave greys alone and rotate primaries', () => {
    const g: RgbImage = { width: 1, height: 1, data: new Uint8Array([90, 90, 90]) };
    expect([...adjustHue(g, 0.3).data]).toEqual([90, 90, 90]);
    const red: RgbImage = { width: 1, height: 1, data: new Uint8Array([255, 0, 0]) };
    // A third of the way round (85/255) lands on green.
    expect([...adjustHue(red, 1 / 3).data]).toEqual([0, 255, 0]);
    expect(() => adjustHue(red, 0.6)).toThrow(/not in \[-0.5, 0.5\]/);
  });

  it('colorJitter is deterministic for a seed, keeps the size, and is the identity with no jitter', () => {
    const img = noise(12, 7, 4);
    const opts = { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 };
    const a = colorJitter(img, new Rng(11), opts);
    const b = colorJitter(img, new Rng(11), opts);
    expect([a.width, a.height]).toEqual([12, 7]);
    expect(same(a.data, b.data)).toBe(true);
    expect(same(a.data, img.data)).toBe(false);
    expect(same(colorJitter(img, new Rng(11)).data, img.data)).toBe(true);
    expect(() => colorJitter(img, new Rng(1), { hue: 0.7 })).toThrow(/hue range/);
  });
});
