/**
 * An 8-bit RGB image, laid out HWC (row-major, 3 bytes per pixel) like PIL's
 * `np.asarray(img.convert('RGB'))`, so fixtures and decoders compare directly.
 */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export function createImage(width: number, height: number, data?: Uint8Array): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 0 || height < 0) {
    throw new Error(`createImage: invalid size ${width}x${height}`);
  }
  const n = width * height * 3;
  if (data && data.length !== n) {
    throw new Error(`createImage: ${data.length} bytes given for a ${width}x${height} RGB image (needs ${n})`);
  }
  return { width, height, data: data ?? new Uint8Array(n) };
}

export function checkImage(img: RgbImage, where: string): void {
  if (img.data.length !== img.width * img.height * 3) {
    throw new Error(`${where}: image data has ${img.data.length} bytes, expected ${img.width}x${img.height}x3`);
  }
}
