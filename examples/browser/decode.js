// Browser image decoding for the examples: any image the browser can show, as the
// HWC RGB bytes mnv2's transforms take. Works on the main thread and in workers.
import { createImage } from '../../dist/browser/mnv2.min.js';

export async function decodeImage(blob) {
  // 'none': the file's own pixel values, as PIL reads them (no color management, no premultiplying).
  const bitmap = await createImageBitmap(blob, { colorSpaceConversion: 'none', premultiplyAlpha: 'none' });
  const { width, height } = bitmap;
  const ctx = new OffscreenCanvas(width, height).getContext('2d', { willReadFrequently: true });
  ctx.drawImage(bitmap, 0, 0);
  bitmap.close();
  const rgba = ctx.getImageData(0, 0, width, height).data;
  const rgb = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
    rgb[j] = rgba[i];
    rgb[j + 1] = rgba[i + 1];
    rgb[j + 2] = rgba[i + 2];
  }
  return createImage(width, height, rgb);
}
