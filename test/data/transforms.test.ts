import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import type { RgbImage } from '../../src/data/image.js';
import {
  centerCrop,
  hflip,
  normalize,
  resizeShorter,
  roundHalfEven,
  shorterSideSize,
  toNormalizedTensor,
  toTensor,
} from '../../src/data/transforms.js';

/** Pixel (x, y) holds (x, y, 7) so crops can be read back as coordinates. */
function coords(width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) for (let x = 0; x < width; x++) data.set([x, y, 7], 3 * (y * width + x));
  return { width, height, data };
}

describe('torchvision geometry', () => {
  it('roundHalfEven is Python round()', () => {
    expect([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4, 2.6, 3].map(roundHalfEven)).toEqual([0, 2, 2, 4, -0, -2, 2, 3, 3]);
  });

  it('Resize(int) truncates the long side: int(size * long / short)', () => {
    expect(shorterSideSize(384, 512, 256)).toEqual([256, 341]);
    expect(shorterSideSize(512, 384, 256)).toEqual([341, 256]);
    expect(shorterSideSize(929, 512, 256)).toEqual([464, 256]);
    expect(shorterSideSize(100, 100, 7)).toEqual([7, 7]);
    const r = resizeShorter(coords(30, 20), 10);
    expect([r.width, r.height]).toEqual([15, 10]);
  });

  it('CenterCrop offsets use half-to-even rounding', () => {
    // (5 - 2) / 2 = 1.5 -> 2, (7 - 2) / 2 = 2.5 -> 2, (6 - 2) / 2 = 2.
    for (const [W, want] of [[5, 2], [7, 2], [6, 2], [4, 1]] as const) {
      const c = centerCrop(coords(W, W), 2);
      expect([c.data[0], c.data[1]]).toEqual([want, want]);
      expect([c.width, c.height]).toEqual([2, 2]);
    }
    const r = centerCrop(coords(9, 4), [2, 4]);
    expect([r.data[0], r.data[1]]).toEqual([roundHalfEven(2.5), 1]);
  });

  it('CenterCrop larger than the image pads with zeros, the extra pixel going right/bottom', () => {
    const c = centerCrop(coords(2, 2), 5);
    expect([c.width, c.height]).toEqual([5, 5]);
    // Padding left/top = (5 - 2) // 2 = 1, right/bottom = 2.
    const at = (x: number, y: number) => [...c.data.subarray(3 * (y * 5 + x), 3 * (y * 5 + x) + 3)];
    expect(at(0, 0)).toEqual([0, 0, 0]);
    expect(at(1, 1)).toEqual([0, 0, 7]);
    expect(at(2, 2)).toEqual([1, 1, 7]);
    expect(at(3, 3)).toEqual([0, 0, 0]);
    // Only the width too small: padded 0 left / 1 right, height cropped from row (6 - 4) / 2 = 1.
    const d = centerCrop(coords(3, 6), [4, 4]);
    expect([...d.data.subarray(0, 3)]).toEqual([0, 1, 7]);
    expect([...d.data.subarray(6, 9)]).toEqual([2, 1, 7]);
    expect([...d.data.subarray(9, 12)]).toEqual([0, 0, 0]);
  });

  it('hflip mirrors columns and is an involution', () => {
    const f = hflip(coords(3, 2));
    expect([...f.data.subarray(0, 9)]).toEqual([2, 0, 7, 1, 0, 7, 0, 0, 7]);
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 9 }), fc.integer({ min: 1, max: 9 }), (w, h) => {
        const img = coords(w, h);
        const back = hflip(hflip(img));
        return back.data.every((v, i) => v === img.data[i]);
      }),
    );
  });
});

describe('ToTensor and Normalize in float32', () => {
  it('ToTensor is CHW and divides by 255 in float32', () => {
    const img: RgbImage = { width: 2, height: 1, data: new Uint8Array([0, 1, 2, 255, 128, 3]) };
    const t = toTensor(img);
    const f = (v: number) => new Float32Array([v])[0];
    expect([...t]).toEqual([0, f(255 / 255), f(1 / 255), f(128 / 255), f(2 / 255), f(3 / 255)]);
  });

  it('Normalize rounds (x - mean) to float32 before dividing by std', () => {
    // For x = 8/255 and 21/255 with ImageNet's red stats, skipping the intermediate float32 rounding changes the result.
    const x = new Float32Array([8 / 255, 21 / 255]);
    const m = new Float32Array([0.485])[0];
    const s = new Float32Array([0.229])[0];
    const sub = new Float32Array([x[0] - m, x[1] - m]);
    const want = new Float32Array([sub[0] / s, sub[1] / s]);
    const got = normalize(x.slice(), [0.485], [0.229]);
    expect([...got]).toEqual([...want]);
    const once = new Float32Array([(x[0] - m) / s, (x[1] - m) / s]);
    expect([...once]).not.toEqual([...want]);
  });

  it('toNormalizedTensor returns a [3, H, W] Tensor and validates its arguments', () => {
    const img: RgbImage = { width: 4, height: 2, data: new Uint8Array(24).fill(255) };
    const t = toNormalizedTensor(img, [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
    expect([...t.shape]).toEqual([3, 2, 4]);
    expect(t.data.every((v) => v === 1)).toBe(true);
    expect(() => normalize(new Float32Array(6), [0, 0, 0], [1, 0, 1])).toThrow(/std\[1\] is zero/);
    expect(() => normalize(new Float32Array(6), [0, 0], [1])).toThrow(/mean has 2/);
  });
});
