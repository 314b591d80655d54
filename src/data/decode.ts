/**
 * Node-only image decoding (JPEG, PNG, BMP), shaped to give what torchvision's
 * loader gives: `PIL.Image.open(path).convert('RGB')`.
 *
 * JPEG goes through our own decoder (./jpeg), which reproduces Pillow's
 * libjpeg-turbo decode bit for bit; like PIL it ignores EXIF orientation.
 * PNG and BMP go through jimp, with bytes or options adjusted where jimp's
 * defaults differ from PIL:
 * - PNG tRNS on grey/RGB images: pngjs zeroes the colour of "transparent"
 *   pixels, while convert('RGB') keeps it, so that chunk is removed (alpha is
 *   dropped anyway, never composited).
 * - 16-bit PNG: PIL keeps the high byte of each sample; pngjs would round
 *   v * 255 / 65535, so rescaling is skipped and the high byte taken here.
 *   (For 16-bit *greyscale* PNGs Pillow's own I;16 -> RGB conversion clips
 *   rather than scales; we take the high byte, which is the useful reading.)
 *
 * JPEGs that are truncated, corrupt, arithmetic-coded, lossless or 12-bit fail
 * with an error naming the file.
 */
import { readFile } from 'node:fs/promises';
import { Jimp } from 'jimp';
import type { RgbImage } from './image.js';
import { decodeJpeg } from './jpeg/index.js';

type Format = 'jpeg' | 'png' | 'bmp';

const PNG_SIGNATURE = [137, 80, 78, 71, 13, 10, 26, 10];

function sniff(b: Uint8Array): Format | null {
  if (b.length >= 3 && b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'jpeg';
  if (b.length >= 8 && PNG_SIGNATURE.every((v, i) => b[i] === v)) return 'png';
  if (b.length >= 2 && b[0] === 0x42 && b[1] === 0x4d) return 'bmp';
  return null;
}

/** Reads and decodes an image file into 8-bit RGB. */
export async function decodeImageFile(path: string): Promise<RgbImage> {
  let bytes: Uint8Array;
  try {
    bytes = await readFile(path);
  } catch (e) {
    const err = e as NodeJS.ErrnoException;
    const why = err.code === 'ENOENT' ? 'no such file' : err.code === 'EISDIR' ? 'is a directory' : err.message;
    throw new Error(`${path}: cannot read image file (${why})`);
  }
  return decodeImage(bytes, path);
}

/** Decodes JPEG, PNG or BMP bytes into 8-bit RGB; `name` labels errors. */
export async function decodeImage(bytes: Uint8Array, name: string): Promise<RgbImage> {
  if (bytes.length === 0) throw new Error(`${name}: image file is empty`);
  const format = sniff(bytes);
  if (!format) {
    const head = [...bytes.subarray(0, 8)].map((v) => v.toString(16).padStart(2, '0')).join(' ');
    throw new Error(`${name}: not a JPEG, PNG or BMP image (starts with bytes ${head})`);
  }
  if (format === 'jpeg') return decodeJpeg(bytes, name);
  let input = bytes;
  let options: Record<string, unknown> | undefined;
  let sixteenBit = false;
  if (format === 'png') {
    const prepared = preparePng(bytes, name);
    input = prepared.bytes;
    sixteenBit = prepared.depth === 16;
    if (sixteenBit) options = { 'image/png': { skipRescale: true } };
  } else {
    checkBmp(bytes, name);
  }
  let bitmap: { width: number; height: number; data: ArrayLike<number> };
  try {
    const buf = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
    const image = await Jimp.fromBuffer(buf, options as never);
    bitmap = image.bitmap;
  } catch (e) {
    throw new Error(`${name}: cannot decode ${format.toUpperCase()} data (${(e as Error).message})`);
  }
  const { width, height, data } = bitmap;
  if (!(width > 0 && height > 0) || data.length < width * height * 4) {
    throw new Error(`${name}: decoder returned an invalid ${width}x${height} bitmap`);
  }
  const shift = sixteenBit ? 8 : 0;
  const out = new Uint8Array(width * height * 3);
  for (let i = 0, j = 0; j < out.length; i += 4, j += 3) {
    out[j] = data[i] >> shift;
    out[j + 1] = data[i + 1] >> shift;
    out[j + 2] = data[i + 2] >> shift;
  }
  return { width, height, data: out };
}

/** Validates the PNG chunk layout, reads the bit depth and drops tRNS for grey/RGB images. */
function preparePng(b: Uint8Array, name: string): { bytes: Uint8Array; depth: number } {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  let pos = 8;
  let depth = 0;
  let colorType = -1;
  let sawEnd = false;
  const drop: Array<[number, number]> = [];
  while (pos + 8 <= b.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(b[pos + 4], b[pos + 5], b[pos + 6], b[pos + 7]);
    const next = pos + 12 + len;
    if (next > b.length) throw new Error(`${name}: truncated PNG (chunk ${type} at byte ${pos} runs past the end)`);
    if (type === 'IHDR') {
      if (len < 13) throw new Error(`${name}: corrupt PNG (IHDR too short)`);
      depth = b[pos + 16];
      colorType = b[pos + 17];
    } else if (type === 'tRNS' && (colorType === 0 || colorType === 2)) {
      drop.push([pos, next]);
    } else if (type === 'IEND') {
      sawEnd = true;
      break;
    }
    pos = next;
  }
  if (colorType < 0) throw new Error(`${name}: corrupt PNG (no IHDR chunk)`);
  if (!sawEnd) throw new Error(`${name}: truncated PNG (no IEND chunk)`);
  if (drop.length === 0) return { bytes: b, depth };
  const parts: Uint8Array[] = [];
  let from = 0;
  for (const [a, z] of drop) {
    parts.push(b.subarray(from, a));
    from = z;
  }
  parts.push(b.subarray(from));
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return { bytes: out, depth };
}

/** Catches truncated uncompressed BMPs, which the decoder would otherwise read past the end of. */
function checkBmp(b: Uint8Array, name: string): void {
  if (b.length < 30) throw new Error(`${name}: truncated BMP (only ${b.length} bytes)`);
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const offset = dv.getUint32(10, true);
  const headerSize = dv.getUint32(14, true);
  if (headerSize < 40) return; // OS/2 core headers: leave validation to the decoder
  if (b.length < 34) throw new Error(`${name}: truncated BMP (only ${b.length} bytes)`);
  const width = dv.getInt32(18, true);
  const height = Math.abs(dv.getInt32(22, true));
  const bpp = dv.getUint16(28, true);
  const compression = dv.getUint32(30, true);
  if (width <= 0 || height === 0) throw new Error(`${name}: corrupt BMP (size ${width}x${height})`);
  if (compression === 0 || compression === 3) {
    const rowBytes = Math.ceil((width * bpp) / 32) * 4;
    const need = offset + rowBytes * height;
    if (need > b.length) throw new Error(`${name}: truncated BMP (pixel data needs ${need} bytes, file has ${b.length})`);
  }
}
