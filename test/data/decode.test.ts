import { describe, expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { deflateSync, crc32 } from 'node:zlib';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { decodeImage, decodeImageFile } from '../../src/data/decode.js';
import { centerCrop, resizeShorter, toNormalizedTensor } from '../../src/data/transforms.js';

// parity_preprocess names the flower files by their place in the full data set; fixtures keep them under flowers128/.
function imagePath(rel: string): string {
  return fixturePath('images', rel.replace(/^flowers\//, 'flowers128/'));
}

describe('decoding the fixture photos vs PIL', () => {
  const fx = loadFixture('parity_preprocess.safetensors');
  const files = JSON.parse(fx.metadata.files) as Array<[string, string]>;
  for (const [key, rel] of files) {
    it(`${key} (${rel}) is close to PIL's decode`, async () => {
      const img = await decodeImageFile(imagePath(rel));
      const ref = fx.tensors.get(`${key}.rgb`)!;
      expect([img.height, img.width, 3]).toEqual([...ref.shape]);
      let sum = 0;
      let max = 0;
      let exact = 0;
      const r = ref.int64!;
      for (let i = 0; i < r.length; i++) {
        const d = Math.abs(img.data[i] - Number(r[i]));
        sum += d;
        if (d > max) max = d;
        if (d === 0) exact++;
      }
      const mean = sum / r.length;
      console.log(
        `${key} ${rel}: ours vs PIL mean |diff| ${mean.toFixed(3)} levels, max ${max}, exact ${((100 * exact) / r.length).toFixed(2)}%`,
      );
      // Our JPEG decoder follows libjpeg-turbo (islow IDCT, fancy upsampling), as PIL does.
      expect(max).toBe(0);
    });
  }

  // BMP is lossless, so decode + Resize(256) + CenterCrop(224) + Normalize(0.5) must give torchvision's input exactly.
  const imagenet = loadFixture('parity_imagenet.safetensors');
  for (const name of ['bird.bmp', 'cat.bmp', 'dragonfly.bmp', 'grace_hopper.bmp']) {
    it(`${name}: decode and preprocess equal torchvision's input bit for bit`, async () => {
      const img = await decodeImageFile(fixturePath('images', 'imagenet-samples', name));
      const ours = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
      const ref = imagenet.tensors.get(`${name}.input`)!;
      expect([1, ...ours.shape]).toEqual([...ref.shape]);
      let mismatches = 0;
      for (let i = 0; i < ref.size; i++) if (ours.data[i] !== ref.data[i]) mismatches++;
      console.log(`${name}: ${mismatches} of ${ref.size} elements differ from torchvision`);
      expect(mismatches).toBe(0);
    });
  }

  it('ignores EXIF orientation, as PIL does', async () => {
    const path = fixturePath('images', 'imagenet-samples', 'owl.jpg');
    const plain = await decodeImageFile(path);
    const bytes = new Uint8Array(readFileSync(path));
    // Orientation 6 ("rotate 90 CW") in a big-endian TIFF IFD, inserted as an APP1 segment after SOI.
    const tiff = [0x4d, 0x4d, 0, 42, 0, 0, 0, 8, 0, 1, 0x01, 0x12, 0, 3, 0, 0, 0, 1, 0, 6, 0, 0, 0, 0, 0, 0];
    const payload = [0x45, 0x78, 0x69, 0x66, 0, 0, ...tiff];
    const app1 = [0xff, 0xe1, (payload.length + 2) >> 8, (payload.length + 2) & 0xff, ...payload];
    const rotated = new Uint8Array(bytes.length + app1.length);
    rotated.set(bytes.subarray(0, 2));
    rotated.set(app1, 2);
    rotated.set(bytes.subarray(2), 2 + app1.length);
    const img = await decodeImage(rotated, 'owl-orientation6.jpg');
    expect([img.width, img.height]).toEqual([512, 384]);
    expect(Buffer.compare(Buffer.from(img.data), Buffer.from(plain.data))).toBe(0);
  });
});

// Hand-written PNGs, so the expected pixels follow from the PNG spec, not from any decoder.
function pngChunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function makePng(
  width: number,
  height: number,
  depth: number,
  colorType: number,
  rows: number[][],
  extra: Array<[string, number[]]> = [],
): Uint8Array {
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = depth;
  ihdr[9] = colorType;
  const raw = new Uint8Array(rows.flatMap((r) => [0, ...r]));
  const parts = [
    new Uint8Array([137, 80, 78, 71, 13, 10, 26, 10]),
    pngChunk('IHDR', ihdr),
    ...extra.map(([t, d]) => pngChunk(t, new Uint8Array(d))),
    pngChunk('IDAT', new Uint8Array(deflateSync(raw))),
    pngChunk('IEND', new Uint8Array(0)),
  ];
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

describe('PNG variants become 3-channel RGB like convert("RGB")', () => {
  it('8-bit greyscale replicates the grey level', async () => {
    const img = await decodeImage(makePng(3, 1, 8, 0, [[0, 77, 255]]), 'gray.png');
    expect([img.width, img.height]).toEqual([3, 1]);
    expect([...img.data]).toEqual([0, 0, 0, 77, 77, 77, 255, 255, 255]);
  });

  it('RGBA drops alpha without compositing', async () => {
    const img = await decodeImage(makePng(2, 1, 8, 6, [[10, 20, 30, 0, 200, 100, 50, 128]]), 'rgba.png');
    expect([...img.data]).toEqual([10, 20, 30, 200, 100, 50]);
  });

  it('grey + alpha drops alpha', async () => {
    const img = await decodeImage(makePng(2, 1, 8, 4, [[90, 0, 180, 255]]), 'ga.png');
    expect([...img.data]).toEqual([90, 90, 90, 180, 180, 180]);
  });

  it('16-bit RGB keeps the high byte of each sample, as PIL does', async () => {
    // Chosen so that rounding v * 255 / 65535 would give a different byte for most samples.
    const row = [0x10, 0xf0, 0x00, 0xc0, 0x20, 0xff, 0xff, 0xff, 0x00, 0x00, 0xfe, 0xff];
    const img = await decodeImage(makePng(2, 1, 16, 2, [row]), 'rgb16.png');
    expect([...img.data]).toEqual([0x10, 0x00, 0x20, 0xff, 0x00, 0xfe]);
  });

  it('16-bit greyscale keeps the high byte', async () => {
    const img = await decodeImage(makePng(2, 1, 16, 0, [[0x40, 0xf0, 0x01, 0xc0]]), 'gray16.png');
    expect([...img.data]).toEqual([0x40, 0x40, 0x40, 0x01, 0x01, 0x01]);
  });

  it('palette with transparency maps indices to palette colours', async () => {
    const plte = [255, 0, 0, 0, 255, 0, 1, 2, 3];
    const img = await decodeImage(makePng(3, 1, 8, 3, [[2, 0, 1]], [['PLTE', plte], ['tRNS', [0, 255, 128]]]), 'pal.png');
    expect([...img.data]).toEqual([1, 2, 3, 255, 0, 0, 0, 255, 0]);
  });

  it('RGB with a tRNS colour keeps that colour (no zeroing)', async () => {
    const img = await decodeImage(
      makePng(2, 1, 8, 2, [[5, 6, 7, 9, 9, 9]], [['tRNS', [0, 5, 0, 6, 0, 7]]]),
      'rgb-trns.png',
    );
    expect([...img.data]).toEqual([5, 6, 7, 9, 9, 9]);
  });

  it('2-bit greyscale scales levels to 0..255', async () => {
    // Samples 0, 1, 2, 3 packed MSB first.
    const img = await decodeImage(makePng(4, 1, 2, 0, [[0b00011011]]), 'gray2.png');
    expect([...img.data]).toEqual([0, 0, 0, 85, 85, 85, 170, 170, 170, 255, 255, 255]);
  });
});

describe('decoder errors name the file and the problem', () => {
  const owl = new Uint8Array(readFileSync(fixturePath('images', 'imagenet-samples', 'owl.jpg')));

  it('missing file', async () => {
    await expect(decodeImageFile('/nonexistent/dir/photo.jpg')).rejects.toThrow(/\/nonexistent\/dir\/photo\.jpg.*no such file/);
  });

  it('a directory', async () => {
    await expect(decodeImageFile(fixturePath('images'))).rejects.toThrow(/images.*(directory|EISDIR)/);
  });

  it('empty data', async () => {
    await expect(decodeImage(new Uint8Array(0), 'empty.jpg')).rejects.toThrow(/empty\.jpg.*empty/);
  });

  it('random bytes', async () => {
    const bytes = new Uint8Array(4096);
    let s = 12345;
    for (let i = 0; i < bytes.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bytes[i] = s >>> 24;
    }
    bytes[0] = 0x13; // make sure it cannot start with a known signature
    await expect(decodeImage(bytes, 'noise.jpg')).rejects.toThrow(/noise\.jpg.*not a JPEG, PNG or BMP/);
  });

  it('JPEG header followed by garbage', async () => {
    const bytes = new Uint8Array([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, ...new Array(64).fill(0x41)]);
    await expect(decodeImage(bytes, 'garbage.jpg')).rejects.toThrow(/garbage\.jpg.*(truncated|corrupt)/i);
  });

  for (const frac of [0.02, 0.3, 0.6, 0.95]) {
    it(`JPEG truncated at ${frac * 100}%`, async () => {
      const cut = owl.subarray(0, Math.floor(owl.length * frac));
      await expect(decodeImage(cut, 'cut.jpg')).rejects.toThrow(/cut\.jpg.*truncated/i);
    });
  }

  it('truncated JPEG file on disk', async () => {
    const { mkdtempSync, writeFileSync } = await import('node:fs');
    const { tmpdir } = await import('node:os');
    const { join } = await import('node:path');
    const p = join(mkdtempSync(join(tmpdir(), 'mnv2-data-')), 'half.jpg');
    writeFileSync(p, owl.subarray(0, owl.length >> 1));
    await expect(decodeImageFile(p)).rejects.toThrow(new RegExp(`${p.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}.*truncated`));
  });

  it('truncated PNG', async () => {
    const png = makePng(8, 8, 8, 2, Array.from({ length: 8 }, () => new Array(24).fill(7)));
    await expect(decodeImage(png.subarray(0, png.length - 20), 'cut.png')).rejects.toThrow(/cut\.png.*truncated/i);
  });

  it('PNG with a corrupt IDAT', async () => {
    const png = makePng(8, 8, 8, 2, Array.from({ length: 8 }, () => new Array(24).fill(7)));
    const bad = png.slice();
    // Scramble the compressed data (and its CRC stays wrong), keeping the chunk layout intact.
    const idat = findChunk(bad, 'IDAT');
    for (let i = idat + 8; i < idat + 16; i++) bad[i] ^= 0xa5;
    await expect(decodeImage(bad, 'bad.png')).rejects.toThrow(/bad\.png.*cannot decode PNG/);
  });

  it('truncated BMP', async () => {
    const bmp = new Uint8Array(readFileSync(fixturePath('images', 'imagenet-samples', 'bird.bmp')));
    await expect(decodeImage(bmp.subarray(0, 5000), 'cut.bmp')).rejects.toThrow(/cut\.bmp.*truncated BMP/);
  });
});

function findChunk(png: Uint8Array, type: string): number {
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let pos = 8;
  while (pos + 8 <= png.length) {
    const t = String.fromCharCode(png[pos + 4], png[pos + 5], png[pos + 6], png[pos + 7]);
    if (t === type) return pos;
    pos += 12 + dv.getUint32(pos);
  }
  throw new Error(`no ${type} chunk`);
}
