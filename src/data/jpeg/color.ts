/**
 * Colour conversion to RGB, as Pillow gets it: libjpeg's integer YCbCr->RGB
 * (jdcolor.c: 16-bit fixed point tables, results clamped to 0..255), and for
 * 4-component JPEGs libjpeg's YCCK->CMYK followed by Pillow's own handling:
 * it reads every 4-component JPEG as inverted CMYK ("CMYK;I", the Adobe
 * convention) and converts CMYK->RGB with Convert.c's cmyk2rgb.
 */

import type { Plane } from './upsample.js';

export type ColorSpace = 'gray' | 'ycbcr' | 'rgb' | 'cmyk' | 'ycck';

const SCALEBITS = 16;
const ONE_HALF = 1 << (SCALEBITS - 1);
const fix = (x: number) => Math.floor(x * (1 << SCALEBITS) + 0.5);

const CR_R = new Int32Array(256);
const CB_B = new Int32Array(256);
const CR_G = new Int32Array(256);
const CB_G = new Int32Array(256);
for (let i = 0; i < 256; i++) {
  const x = i - 128;
  CR_R[i] = (fix(1.402) * x + ONE_HALF) >> SCALEBITS;
  CB_B[i] = (fix(1.772) * x + ONE_HALF) >> SCALEBITS;
  CR_G[i] = -fix(0.71414) * x;
  // ONE_HALF folded in here so the green sum rounds with a single shift.
  CB_G[i] = -fix(0.34414) * x + ONE_HALF;
}

const clamp = (v: number) => (v < 0 ? 0 : v > 255 ? 255 : v);

/** Pillow's MULDIV255: a*b/255 rounded, in integers. */
const mulDiv255 = (a: number, b: number) => {
  const t = a * b + 128;
  return ((t >> 8) + t) >> 8;
};

/** Converts full-resolution component planes (cropped to width x height) to HWC RGB. */
export function toRgb(planes: Plane[], space: ColorSpace, width: number, height: number): Uint8Array {
  const out = new Uint8Array(width * height * 3);
  // Stores through a clamped view do libjpeg's 0..255 range limiting without branches.
  const clamped = new Uint8ClampedArray(out.buffer);
  let o = 0;
  for (let y = 0; y < height; y++) {
    const rows = planes.map((p) => y * p.stride);
    const p0 = planes[0].data;
    const r0 = rows[0];
    if (space === 'gray') {
      for (let x = 0; x < width; x++, o += 3) out[o] = out[o + 1] = out[o + 2] = p0[r0 + x];
      continue;
    }
    const p1 = planes[1].data;
    const p2 = planes[2].data;
    const r1 = rows[1];
    const r2 = rows[2];
    if (space === 'ycbcr') {
      for (let x = 0; x < width; x++, o += 3) {
        const yy = p0[r0 + x];
        const cb = p1[r1 + x];
        const cr = p2[r2 + x];
        clamped[o] = yy + CR_R[cr];
        clamped[o + 1] = yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS);
        clamped[o + 2] = yy + CB_B[cb];
      }
    } else if (space === 'rgb') {
      for (let x = 0; x < width; x++, o += 3) {
        out[o] = p0[r0 + x];
        out[o + 1] = p1[r1 + x];
        out[o + 2] = p2[r2 + x];
      }
    } else {
      const p3 = planes[3].data;
      const r3 = rows[3];
      for (let x = 0; x < width; x++, o += 3) {
        let c = p0[r0 + x];
        let m = p1[r1 + x];
        let yel = p2[r2 + x];
        if (space === 'ycck') {
          // libjpeg: YCC -> RGB as above, then C,M,Y = 255 - R,G,B; K passes through.
          const yy = c;
          const cb = m;
          const cr = yel;
          c = 255 - clamp(yy + CR_R[cr]);
          m = 255 - clamp(yy + ((CB_G[cb] + CR_G[cr]) >> SCALEBITS));
          yel = 255 - clamp(yy + CB_B[cb]);
        }
        // Pillow's "CMYK;I" inverts all four samples, then cmyk2rgb: channel = nk - channel*nk/255.
        const nk = p3[r3 + x];
        out[o] = clamp(nk - mulDiv255(255 - c, nk));
        out[o + 1] = clamp(nk - mulDiv255(255 - m, nk));
        out[o + 2] = clamp(nk - mulDiv255(255 - yel, nk));
      }
    }
  }
  return out;
}
