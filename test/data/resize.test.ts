import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { resizeBilinear, resizeBilinearPixels } from '../../src/data/resize.js';
import type { RgbImage } from '../../src/data/image.js';

function gray(values: number[], width: number, height: number): RgbImage {
  const data = new Uint8Array(width * height * 3);
  values.forEach((v, i) => data.fill(v, 3 * i, 3 * i + 3));
  return { width, height, data };
}

const channel0 = (img: RgbImage): number[] => Array.from({ length: img.width * img.height }, (_, i) => img.data[3 * i]);

describe('Pillow bilinear resize, hand-derived cases', () => {
  it('2 -> 1 averages with the support widened to 2 pixels, rounding half up', () => {
    // Both taps weigh 0.75 before normalisation -> 0.5 each; (255 * 2^21 + 2^21) >> 22 = 128.
    expect(channel0(resizeBilinear(gray([0, 255], 2, 1), 1, 1))).toEqual([128]);
  });

  it('2 -> 4 upsampling keeps edge pixels and interpolates 1/4, 3/4 inside', () => {
    // Centres 0.25, 0.75, 1.25, 1.75: the outer ones see one tap, the inner ones 0.75/0.25 splits.
    expect(channel0(resizeBilinear(gray([0, 255], 2, 1), 4, 1))).toEqual([0, 64, 191, 255]);
  });

  it('vertical pass matches the horizontal one on a transposed input', () => {
    expect(channel0(resizeBilinear(gray([0, 255], 1, 2), 1, 4))).toEqual([0, 64, 191, 255]);
  });

  it('3 -> 2 downscale with scale 1.5', () => {
    // centre 0.75, support 1.5: taps x=0..1 weigh 1-|x+0.5-0.75|/1.5 = 5/6, 1/2 -> 0.625, 0.375.
    // 30*0.625 + 90*0.375 = 52.5, which the fixed-point rounding takes up to 53.
    // centre 2.25: taps x=1..2 weigh 1/2, 5/6 -> 0.375/0.625; 90*0.375 + 200*0.625 = 158.75 -> 159.
    expect(channel0(resizeBilinear(gray([30, 90, 200], 3, 1), 2, 1))).toEqual([53, 159]);
  });

  it('rejects non-positive output sizes', () => {
    expect(() => resizeBilinear(gray([1], 1, 1), 0, 3)).toThrow(/positive/);
  });
});

const imageArb = fc
  .record({ w: fc.integer({ min: 1, max: 24 }), h: fc.integer({ min: 1, max: 24 }) })
  .chain(({ w, h }) =>
    fc.uint8Array({ minLength: w * h * 3, maxLength: w * h * 3 }).map((data) => ({ width: w, height: h, data }) as RgbImage),
  );

describe('resize properties', () => {
  it('a constant image stays constant at any output size', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 1, max: 40 }),
        fc.tuple(fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 }), fc.integer({ min: 0, max: 255 })),
        (w, h, ow, oh, [r, g, b]) => {
          const data = new Uint8Array(w * h * 3);
          for (let i = 0; i < w * h; i++) data.set([r, g, b], 3 * i);
          const out = resizeBilinear({ width: w, height: h, data }, ow, oh);
          for (let i = 0; i < ow * oh; i++) {
            if (out.data[3 * i] !== r || out.data[3 * i + 1] !== g || out.data[3 * i + 2] !== b) return false;
          }
          return true;
        },
      ),
      { numRuns: 200 },
    );
  });

  it('output has the requested dimensions and stays within the input range', () => {
    fc.assert(
      fc.property(imageArb, fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 40 }), (img, ow, oh) => {
        const out = resizeBilinear(img, ow, oh);
        if (out.width !== ow || out.height !== oh || out.data.length !== ow * oh * 3) return false;
        let lo = 255;
        let hi = 0;
        for (const v of img.data) {
          lo = Math.min(lo, v);
          hi = Math.max(hi, v);
        }
        return out.data.every((v) => v >= lo && v <= hi);
      }),
      { numRuns: 200 },
    );
  });

  it('resizing to the same size is the identity (and returns a copy)', () => {
    fc.assert(
      fc.property(imageArb, (img) => {
        const out = resizeBilinearPixels(img.data, img.width, img.height, 3, img.width, img.height);
        return out !== img.data && out.every((v, i) => v === img.data[i]);
      }),
      { numRuns: 50 },
    );
  });

  it('channels are resampled independently', () => {
    fc.assert(
      fc.property(imageArb, fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 30 }), (img, ow, oh) => {
        const n = img.width * img.height;
        const out = resizeBilinear(img, ow, oh);
        for (let c = 0; c < 3; c++) {
          const plane = Uint8Array.from({ length: n }, (_, i) => img.data[3 * i + c]);
          const single = resizeBilinearPixels(plane, img.width, img.height, 1, ow, oh);
          for (let i = 0; i < ow * oh; i++) if (single[i] !== out.data[3 * i + c]) return false;
        }
        return true;
      }),
      { numRuns: 50 },
    );
  });
});
