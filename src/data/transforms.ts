import { Tensor } from '../tensor/tensor.js';
import { type RgbImage, checkImage } from './image.js';
import { resizeBilinear } from './resize.js';

/** ImageNet statistics used by torchvision's classification recipes. */
export const IMAGENET_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** Python's round(): halves go to the even neighbour, which torchvision's crop offsets rely on. */
export function roundHalfEven(x: number): number {
  const r = Math.round(x);
  return Math.abs(x - Math.trunc(x)) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/**
 * torchvision `_compute_resized_output_size` for an int size: the shorter side
 * becomes `size` and the longer one is truncated, `int(size * long / short)`.
 * Returns [height, width].
 */
export function shorterSideSize(height: number, width: number, size: number): [number, number] {
  if (!(Number.isInteger(size) && size > 0)) throw new Error(`resizeShorter: size must be a positive integer, got ${size}`);
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newLong = Math.trunc((size * long) / short);
  return width <= height ? [newLong, size] : [size, newLong];
}

/** torchvision `Resize([h, w])` on a PIL image: Pillow bilinear with antialiasing. */
export function resize(img: RgbImage, size: readonly [number, number]): RgbImage {
  const [h, w] = size;
  if (h === img.height && w === img.width) return { width: w, height: h, data: img.data.slice() };
  return resizeBilinear(img, w, h);
}

/** torchvision `Resize(size)` with an int: shorter side to `size`, aspect ratio kept. */
export function resizeShorter(img: RgbImage, size: number): RgbImage {
  return resize(img, shorterSideSize(img.height, img.width, size));
}

/** PIL `img.crop((left, top, left + width, top + height))`; areas outside the image are black. */
export function crop(img: RgbImage, top: number, left: number, height: number, width: number): RgbImage {
  checkImage(img, 'crop');
  if (!(Number.isInteger(height) && Number.isInteger(width) && height > 0 && width > 0)) {
    throw new Error(`crop: size must be positive integers, got ${height}x${width}`);
  }
  const out = new Uint8Array(width * height * 3);
  const x0 = Math.max(0, left);
  const x1 = Math.min(img.width, left + width);
  if (x1 > x0) {
    for (let y = 0; y < height; y++) {
      const sy = top + y;
      if (sy < 0 || sy >= img.height) continue;
      const srcOff = (sy * img.width + x0) * 3;
      out.set(img.data.subarray(srcOff, srcOff + (x1 - x0) * 3), (y * width + (x0 - left)) * 3);
    }
  }
  return { width, height, data: out };
}

/**
 * torchvision `CenterCrop`: pads with zeros (left/top get the smaller half)
 * when the crop is larger than the image, then offsets by
 * `int(round((H - h) / 2))` with Python's half-to-even rounding.
 */
export function centerCrop(img: RgbImage, size: number | readonly [number, number]): RgbImage {
  const [ch, cw] = typeof size === 'number' ? [size, size] : size;
  let top: number;
  let left: number;
  let H = img.height;
  let W = img.width;
  let padTop = 0;
  let padLeft = 0;
  if (cw > W || ch > H) {
    padLeft = cw > W ? Math.floor((cw - W) / 2) : 0;
    padTop = ch > H ? Math.floor((ch - H) / 2) : 0;
    const padRight = cw > W ? Math.floor((cw - W + 1) / 2) : 0;
    const padBottom = ch > H ? Math.floor((ch - H + 1) / 2) : 0;
    W += padLeft + padRight;
    H += padTop + padBottom;
  }
  top = roundHalfEven((H - ch) / 2);
  left = roundHalfEven((W - cw) / 2);
  // Cropping the padded image at (top, left) is cropping the original at (top - padTop, left - padLeft).
  return crop(img, top - padTop, left - padLeft, ch, cw);
}

/** torchvision `hflip`. */
export function hflip(img: RgbImage): RgbImage {
  checkImage(img, 'hflip');
  const { width, height, data } = img;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * 3;
    for (let x = 0; x < width; x++) {
      const s = row + x * 3;
      const d = row + (width - 1 - x) * 3;
      out[d] = data[s];
      out[d + 1] = data[s + 1];
      out[d + 2] = data[s + 2];
    }
  }
  return { width, height, data: out };
}

/** torchvision `ToTensor`: HWC uint8 to CHW float32 in [0, 1], dividing in float32. */
export function toTensor(img: RgbImage): Float32Array {
  checkImage(img, 'toTensor');
  const plane = img.width * img.height;
  const out = new Float32Array(3 * plane);
  const d = img.data;
  for (let i = 0; i < plane; i++) {
    out[i] = d[3 * i] / 255;
    out[plane + i] = d[3 * i + 1] / 255;
    out[2 * plane + i] = d[3 * i + 2] / 255;
  }
  // x / 255 in double then rounded to float32 equals float32 division (correct rounding of the same quotient).
  return out;
}

/**
 * torchvision `Normalize` in place on CHW float32 data: `(x - mean) / std`,
 * with mean and std first cast to float32 and each step rounded to float32.
 */
export function normalize(
  chw: Float32Array,
  mean: readonly number[],
  std: readonly number[],
): Float32Array {
  const channels = mean.length;
  if (std.length !== channels) throw new Error(`normalize: mean has ${channels} entries but std has ${std.length}`);
  if (chw.length % channels !== 0) throw new Error(`normalize: ${chw.length} values do not split into ${channels} channels`);
  const plane = chw.length / channels;
  for (let c = 0; c < channels; c++) {
    const m = Math.fround(mean[c]);
    const s = Math.fround(std[c]);
    if (s === 0) throw new Error(`normalize: std[${c}] is zero`);
    for (let i = c * plane, end = (c + 1) * plane; i < end; i++) {
      chw[i] = Math.fround(chw[i] - m) / s;
    }
  }
  return chw;
}

/** ToTensor followed by Normalize, as a [3, H, W] tensor. */
export function toNormalizedTensor(img: RgbImage, mean: readonly number[], std: readonly number[]): Tensor {
  return new Tensor(normalize(toTensor(img), mean, std), [3, img.height, img.width]);
}
