import type { Rng } from '../tensor/rng.js';
import { type RgbImage, checkImage } from './image.js';
import { resizeBilinear } from './resize.js';
import { crop, hflip, roundHalfEven } from './transforms.js';

/**
 * torchvision's random augmentations on PIL images, drawing from our seedable
 * Rng instead of torch's generator: the sampling *procedure* matches
 * torchvision, the random streams do not (no torch RNG here).
 */

export interface RandomResizedCropOptions {
  scale?: readonly [number, number];
  ratio?: readonly [number, number];
}

export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** torchvision `RandomResizedCrop.get_params`: 10 tries at a random area and log-uniform aspect ratio, then a clamped centre crop. */
export function randomResizedCropParams(
  height: number,
  width: number,
  rng: Rng,
  { scale = [0.08, 1], ratio = [3 / 4, 4 / 3] }: RandomResizedCropOptions = {},
): CropBox {
  if (scale[0] > scale[1] || ratio[0] > ratio[1]) {
    throw new Error(`randomResizedCrop: scale and ratio must be [min, max], got [${scale}] and [${ratio}]`);
  }
  const area = height * width;
  const logLo = Math.log(ratio[0]);
  const logHi = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspect = Math.exp(rng.uniform(logLo, logHi));
    const w = roundHalfEven(Math.sqrt(targetArea * aspect));
    const h = roundHalfEven(Math.sqrt(targetArea / aspect));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(0, height - h);
      const left = rng.int(0, width - w);
      return { top, left, height: h, width: w };
    }
  }
  const inRatio = width / height;
  let w: number;
  let h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = roundHalfEven(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = roundHalfEven(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** torchvision `RandomResizedCrop(size)` with PIL bilinear resampling; `size` is an int or [h, w]. */
export function randomResizedCrop(
  img: RgbImage,
  size: number | readonly [number, number],
  rng: Rng,
  options: RandomResizedCropOptions = {},
): RgbImage {
  checkImage(img, 'randomResizedCrop');
  const [outH, outW] = typeof size === 'number' ? [size, size] : size;
  const box = randomResizedCropParams(img.height, img.width, rng, options);
  const cropped = crop(img, box.top, box.left, box.height, box.width);
  if (cropped.width === outW && cropped.height === outH) return cropped;
  return resizeBilinear(cropped, outW, outH);
}

/** torchvision `RandomHorizontalFlip(p)`: flips when a uniform draw is below p. */
export function randomHorizontalFlip(img: RgbImage, rng: Rng, p = 0.5): RgbImage {
  return rng.random() < p ? hflip(img) : { width: img.width, height: img.height, data: img.data.slice() };
}

/* ---- Pillow-style colour operations (ImageEnhance and HSV conversion) ---- */

/** Pillow `Image.blend(a, b, alpha)` on uint8: `a + alpha * (b - a)` in C float, truncated, clipped when extrapolating. */
export function blend(a: Uint8Array, b: Uint8Array, alpha: number): Uint8Array {
  if (a.length !== b.length) throw new Error(`blend: images differ in size (${a.length} vs ${b.length} bytes)`);
  const f = Math.fround(alpha);
  if (f === 0) return a.slice();
  if (f === 1) return b.slice();
  const out = new Uint8Array(a.length);
  for (let i = 0; i < a.length; i++) {
    const v = Math.fround(a[i] + Math.fround(f * (b[i] - a[i])));
    // Uint8Array would wrap, not clip, so clip explicitly (only reachable when extrapolating).
    out[i] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
  }
  return out;
}

/** Pillow `convert('L')`: ITU-R 601-2 luma in 16-bit fixed point. */
export function toGray(img: RgbImage): Uint8Array {
  const n = img.width * img.height;
  const out = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) out[i] = (d[3 * i] * 19595 + d[3 * i + 1] * 38470 + d[3 * i + 2] * 7471 + 0x8000) >>> 16;
  return out;
}

function grayToRgb(gray: Uint8Array): Uint8Array {
  const out = new Uint8Array(gray.length * 3);
  for (let i = 0; i < gray.length; i++) out[3 * i] = out[3 * i + 1] = out[3 * i + 2] = gray[i];
  return out;
}

/** torchvision `adjust_brightness` (PIL ImageEnhance.Brightness): blend with black. */
export function adjustBrightness(img: RgbImage, factor: number): RgbImage {
  return { width: img.width, height: img.height, data: blend(new Uint8Array(img.data.length), img.data, factor) };
}

/** torchvision `adjust_contrast` (PIL ImageEnhance.Contrast): blend with the rounded mean grey level. */
export function adjustContrast(img: RgbImage, factor: number): RgbImage {
  const gray = toGray(img);
  let sum = 0;
  for (let i = 0; i < gray.length; i++) sum += gray[i];
  const mean = Math.trunc(sum / Math.max(1, gray.length) + 0.5);
  return { width: img.width, height: img.height, data: blend(new Uint8Array(img.data.length).fill(mean), img.data, factor) };
}

/** torchvision `adjust_saturation` (PIL ImageEnhance.Color): blend with the greyscale image. */
export function adjustSaturation(img: RgbImage, factor: number): RgbImage {
  return { width: img.width, height: img.height, data: blend(grayToRgb(toGray(img)), img.data, factor) };
}

const clip8 = (v: number): number => (v <= 0 ? 0 : v >= 255 ? 255 : v);

/**
 * torchvision `adjust_hue` on PIL: RGB -> HSV (8-bit), add `int(hue * 255)`
 * to H modulo 256, HSV -> RGB. The conversions follow Pillow's rgb2hsv/hsv2rgb
 * (float intermediates); this is an approximation, not verified against
 * Pillow output.
 */
export function adjustHue(img: RgbImage, hueFactor: number): RgbImage {
  if (!(hueFactor >= -0.5 && hueFactor <= 0.5)) throw new Error(`adjustHue: hue factor ${hueFactor} is not in [-0.5, 0.5]`);
  const shift = ((Math.trunc(hueFactor * 255) % 256) + 256) % 256;
  const d = img.data;
  const out = new Uint8Array(d.length);
  const f32 = Math.fround;
  for (let i = 0; i < d.length; i += 3) {
    const r = d[i];
    const g = d[i + 1];
    const b = d[i + 2];
    const maxc = Math.max(r, g, b);
    const minc = Math.min(r, g, b);
    let h = 0;
    let s = 0;
    const v = maxc;
    if (maxc !== minc) {
      const cr = maxc - minc;
      const sf = f32(cr / maxc);
      const rc = f32((maxc - r) / cr);
      const gc = f32((maxc - g) / cr);
      const bc = f32((maxc - b) / cr);
      let hf: number;
      if (r === maxc) hf = f32(bc - gc);
      else if (g === maxc) hf = f32(2 + rc - bc);
      else hf = f32(4 + gc - rc);
      hf = f32((hf / 6 + 1) % 1);
      h = clip8(Math.trunc(hf * 255));
      s = clip8(Math.trunc(sf * 255));
    }
    h = (h + shift) & 255;
    if (s === 0) {
      out[i] = out[i + 1] = out[i + 2] = v;
      continue;
    }
    const sector = Math.floor((h * 6) / 255);
    const frac = f32((h * 6) / 255 - sector);
    const fs = f32(s / 255);
    const p = clip8(Math.round(v * (1 - fs)));
    const q = clip8(Math.round(v * (1 - f32(fs * frac))));
    const t = clip8(Math.round(v * (1 - fs * (1 - frac))));
    let rgb: [number, number, number];
    switch (sector % 6) {
      case 0: rgb = [v, t, p]; break;
      case 1: rgb = [q, v, p]; break;
      case 2: rgb = [p, v, t]; break;
      case 3: rgb = [p, q, v]; break;
      case 4: rgb = [t, p, v]; break;
      default: rgb = [v, p, q]; break;
    }
    out[i] = rgb[0];
    out[i + 1] = rgb[1];
    out[i + 2] = rgb[2];
  }
  return { width: img.width, height: img.height, data: out };
}

export interface ColorJitterOptions {
  /** A number b means a factor drawn from [max(0, 1 - b), 1 + b]; a pair gives the range directly. */
  brightness?: number | readonly [number, number];
  contrast?: number | readonly [number, number];
  saturation?: number | readonly [number, number];
  /** A number h means a shift drawn from [-h, h], with 0 <= h <= 0.5. */
  hue?: number | readonly [number, number];
}

function factorRange(name: string, v: number | readonly [number, number] | undefined): [number, number] | null {
  if (v === undefined) return null;
  if (typeof v === 'number') {
    if (v < 0) throw new Error(`colorJitter: ${name} must be non-negative, got ${v}`);
    return v === 0 ? null : [Math.max(0, 1 - v), 1 + v];
  }
  if (v[0] < 0 || v[0] > v[1]) throw new Error(`colorJitter: ${name} range [${v}] is invalid`);
  return v[0] === 1 && v[1] === 1 ? null : [v[0], v[1]];
}

function hueRange(v: number | readonly [number, number] | undefined): [number, number] | null {
  if (v === undefined) return null;
  const r: [number, number] = typeof v === 'number' ? [-v, v] : [v[0], v[1]];
  if (r[0] < -0.5 || r[1] > 0.5 || r[0] > r[1]) throw new Error(`colorJitter: hue range [${r}] must lie in [-0.5, 0.5]`);
  return r[0] === 0 && r[1] === 0 ? null : r;
}

/**
 * torchvision `ColorJitter`: the four adjustments in a random order, each with
 * a factor drawn uniformly from its range. Brightness, contrast and saturation
 * follow PIL ImageEnhance exactly for given factors; hue is approximate (see adjustHue).
 */
export function colorJitter(img: RgbImage, rng: Rng, options: ColorJitterOptions = {}): RgbImage {
  checkImage(img, 'colorJitter');
  const b = factorRange('brightness', options.brightness);
  const c = factorRange('contrast', options.contrast);
  const s = factorRange('saturation', options.saturation);
  const h = hueRange(options.hue);
  const order = rng.shuffle([0, 1, 2, 3]);
  const bf = b && rng.uniform(b[0], b[1]);
  const cf = c && rng.uniform(c[0], c[1]);
  const sf = s && rng.uniform(s[0], s[1]);
  const hf = h && rng.uniform(h[0], h[1]);
  let out: RgbImage = { width: img.width, height: img.height, data: img.data.slice() };
  for (const op of order) {
    if (op === 0 && bf !== null) out = adjustBrightness(out, bf);
    else if (op === 1 && cf !== null) out = adjustContrast(out, cf);
    else if (op === 2 && sf !== null) out = adjustSaturation(out, sf);
    else if (op === 3 && hf !== null) out = adjustHue(out, hf);
  }
  return out;
}
