import { type RgbImage, checkImage } from './image.js';

/**
 * Bilinear resampling that matches Pillow's `Image.resize(size, BILINEAR)`
 * bit for bit (Pillow's Resample.c): the triangle filter is widened by the
 * downscale factor (antialiasing), weights are normalised per output pixel in
 * double precision, then quantised to fixed point with 22 fractional bits; each
 * pass rounds and clips back to uint8, and the horizontal pass runs first.
 */

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;
const BILINEAR_SUPPORT = 1.0;

function bilinearFilter(x: number): number {
  if (x < 0) x = -x;
  return x < 1 ? 1 - x : 0;
}

interface Coeffs {
  /** Taps per output pixel (the stride of `weights`). */
  ksize: number;
  /** First input index used by each output pixel. */
  start: Int32Array;
  /** Number of input pixels used by each output pixel. */
  count: Int32Array;
  /** Fixed-point weights, `ksize` per output pixel. */
  weights: Int32Array;
}

/** Pillow's precompute_coeffs + normalize_coeffs_8bpc for the box [0, inSize). */
function precomputeCoeffs(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = scale < 1 ? 1 : scale;
  const support = BILINEAR_SUPPORT * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const start = new Int32Array(outSize);
  const count = new Int32Array(outSize);
  const weights = new Int32Array(outSize * ksize);
  const k = new Float64Array(ksize);
  const ss = 1 / filterscale;
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    // C's (int) cast truncates toward zero; the clamp makes that equal to floor here.
    let xmin = Math.trunc(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    let xmax = Math.trunc(center + support + 0.5);
    if (xmax > inSize) xmax = inSize;
    xmax -= xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      const w = bilinearFilter((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    for (let x = 0; x < xmax; x++) {
      const w = ww !== 0 ? k[x] / ww : k[x];
      weights[xx * ksize + x] = Math.trunc(w < 0 ? -0.5 + w * ONE : 0.5 + w * ONE);
    }
    start[xx] = xmin;
    count[xx] = xmax;
  }
  return { ksize, start, count, weights };
}

function clip8(v: number): number {
  if (v >= ONE * 256) return 255;
  if (v <= 0) return 0;
  return v >> PRECISION_BITS;
}

function resampleHorizontal(src: Uint8Array, inW: number, h: number, ch: number, outW: number): Uint8Array {
  const { ksize, start, count, weights } = precomputeCoeffs(inW, outW);
  const out = new Uint8Array(outW * h * ch);
  for (let y = 0; y < h; y++) {
    const rowIn = y * inW * ch;
    const rowOut = y * outW * ch;
    for (let xx = 0; xx < outW; xx++) {
      const xmin = start[xx];
      const n = count[xx];
      const kOff = xx * ksize;
      for (let c = 0; c < ch; c++) {
        let ss = HALF;
        let p = rowIn + xmin * ch + c;
        for (let x = 0; x < n; x++, p += ch) ss += src[p] * weights[kOff + x];
        out[rowOut + xx * ch + c] = clip8(ss);
      }
    }
  }
  return out;
}

function resampleVertical(src: Uint8Array, w: number, inH: number, ch: number, outH: number): Uint8Array {
  const { ksize, start, count, weights } = precomputeCoeffs(inH, outH);
  const rowLen = w * ch;
  const out = new Uint8Array(outH * rowLen);
  for (let yy = 0; yy < outH; yy++) {
    const ymin = start[yy];
    const n = count[yy];
    const kOff = yy * ksize;
    const rowOut = yy * rowLen;
    for (let i = 0; i < rowLen; i++) {
      let ss = HALF;
      let p = ymin * rowLen + i;
      for (let y = 0; y < n; y++, p += rowLen) ss += src[p] * weights[kOff + y];
      out[rowOut + i] = clip8(ss);
    }
  }
  return out;
}

/**
 * Resizes interleaved 8-bit pixels (`channels` per pixel) exactly as Pillow's
 * `resize((outW, outH), Image.BILINEAR)` with no `reducing_gap`.
 */
export function resizeBilinearPixels(
  src: Uint8Array,
  inW: number,
  inH: number,
  channels: number,
  outW: number,
  outH: number,
): Uint8Array {
  if (!(Number.isInteger(outW) && Number.isInteger(outH) && outW > 0 && outH > 0)) {
    throw new Error(`resize: output size must be positive integers, got ${outW}x${outH}`);
  }
  if (inW <= 0 || inH <= 0) throw new Error(`resize: cannot resize an empty ${inW}x${inH} image`);
  let data = src;
  let width = inW;
  if (outW !== inW) {
    data = resampleHorizontal(data, inW, inH, channels, outW);
    width = outW;
  }
  if (outH !== inH) data = resampleVertical(data, width, inH, channels, outH);
  return data === src ? src.slice() : data;
}

/** PIL `img.resize((width, height), Image.BILINEAR)`. */
export function resizeBilinear(img: RgbImage, width: number, height: number): RgbImage {
  checkImage(img, 'resize');
  return { width, height, data: resizeBilinearPixels(img.data, img.width, img.height, 3, width, height) };
}
