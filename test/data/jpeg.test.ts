import { describe, expect, it } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { createHash } from 'node:crypto';
import { Jimp } from 'jimp';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { decodeJpeg } from '../../src/data/jpeg/index.js';
import { centerCrop, resizeShorter, toNormalizedTensor } from '../../src/data/transforms.js';

// References: PIL's own decodes (parity_preprocess), and the system libjpeg-turbo 2.1.5's
// default decode (fixtures/jpeg/gen.py), which equals PIL's on those 4 images bit for bit.

function readBytes(...parts: string[]): Uint8Array {
  return new Uint8Array(readFileSync(fixturePath(...parts)));
}

function diffStats(a: ArrayLike<number>, b: ArrayLike<number>): { exact: number; max: number; mean: number } {
  let exact = 0;
  let max = 0;
  let sum = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    sum += d;
    if (d > max) max = d;
    if (d === 0) exact++;
  }
  return { exact: exact / a.length, max, mean: sum / a.length };
}

describe('decodeJpeg equals PIL bit for bit', () => {
  const fx = loadFixture('parity_preprocess.safetensors');
  const files = JSON.parse(fx.metadata.files) as Array<[string, string]>;
  for (const [key, rel] of files) {
    it(`${key} (${rel})`, () => {
      const path = ['images', ...rel.replace(/^flowers\//, 'flowers128/').split('/')];
      const img = decodeJpeg(readBytes(...path), rel);
      const ref = fx.tensors.get(`${key}.rgb`)!;
      expect([img.height, img.width, 3]).toEqual([...ref.shape]);
      const s = diffStats(img.data, Array.from(ref.int64!, Number));
      console.log(`${rel}: ours vs PIL exact ${(100 * s.exact).toFixed(2)}%, max |diff| ${s.max}`);
      expect(s.max).toBe(0);
    });
  }
});

describe('decodeJpeg equals libjpeg-turbo on encoder variants', () => {
  // Each made by libjpeg-turbo from the same crop of owl.jpg; names say what they exercise.
  const dir = fixturePath('jpeg');
  const names = readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .map((f) => f.slice(0, -4));
  it('has the expected variants', () => {
    for (const n of ['s420', 's422', 's440', 's444', 's411', 'gray', 'prog420', 'prog444', 'proggray', 'restart420', 'restartprog', 'cmyk', 'ycck']) {
      expect(names).toContain(n);
    }
  });
  for (const n of names) {
    it(n, () => {
      const img = decodeJpeg(readBytes('jpeg', `${n}.jpg`), `${n}.jpg`);
      const ref = readBytes('jpeg', `${n}.rgb`);
      expect(img.data.length).toBe(ref.length);
      const s = diffStats(img.data, ref);
      expect({ max: s.max, exact: s.exact }).toEqual({ max: 0, exact: 1 });
    });
  }
});

describe('every fixture JPEG', () => {
  const shas = JSON.parse(readFileSync(fixturePath('jpeg', 'ref_sha256.json'), 'utf8')) as Record<string, string>;
  const root = fixturePath('..');

  it(`all ${Object.keys(shas).length} decode to libjpeg-turbo's exact pixels (SHA-256 of the RGB bytes)`, () => {
    expect(Object.keys(shas).length).toBeGreaterThan(200);
    const wrong: string[] = [];
    for (const [rel, sha] of Object.entries(shas)) {
      const img = decodeJpeg(new Uint8Array(readFileSync(`${root}/${rel}`)), rel);
      if (createHash('sha256').update(img.data).digest('hex') !== sha) wrong.push(rel);
    }
    expect(wrong).toEqual([]);
  });

  // Sanity against an independent decoder (jpeg-js via jimp): close on average, not exact.
  const sample = Object.keys(shas).filter((rel, i) => rel.includes('imagenet-samples') || i % 40 === 0);
  for (const rel of sample) {
    it(`${rel} is within a few levels of jimp on average`, async () => {
      const bytes = new Uint8Array(readFileSync(`${root}/${rel}`));
      const ours = decodeJpeg(bytes, rel);
      const j = (await Jimp.fromBuffer(Buffer.from(bytes))).bitmap;
      expect([ours.width, ours.height]).toEqual([j.width, j.height]);
      const rgb = new Uint8Array(ours.data.length);
      for (let i = 0, k = 0; k < rgb.length; i += 4, k += 3) {
        rgb[k] = j.data[i];
        rgb[k + 1] = j.data[i + 1];
        rgb[k + 2] = j.data[i + 2];
      }
      const s = diffStats(ours.data, rgb);
      console.log(`${rel}: ours vs jimp mean |diff| ${s.mean.toFixed(3)}, max ${s.max}`);
      // jpeg-js upsamples chroma differently; strongly coloured small photos differ most (2.6 seen).
      expect(s.mean).toBeLessThan(3);
    });
  }

  it('parrot.jpg decode time vs jimp (logged)', async () => {
    const bytes = readBytes('images', 'imagenet-samples', 'parrot.jpg');
    const time = async (f: () => unknown) => {
      await f();
      const t = performance.now();
      for (let i = 0; i < 3; i++) await f();
      return (performance.now() - t) / 3;
    };
    const ours = await time(() => decodeJpeg(bytes, 'parrot.jpg'));
    const jimp = await time(() => Jimp.fromBuffer(Buffer.from(bytes)));
    console.log(`parrot.jpg (512x929, 597 kB): decodeJpeg ${ours.toFixed(1)} ms, jimp ${jimp.toFixed(1)} ms`);
    expect(ours).toBeGreaterThan(0);
  });
});

describe('decodeJpeg errors name the file and the problem', () => {
  const owl = readBytes('images', 'imagenet-samples', 'owl.jpg');

  for (const frac of [0.001, 0.02, 0.3, 0.6, 0.95, 0.999]) {
    it(`truncated at ${frac * 100}%`, () => {
      expect(() => decodeJpeg(owl.subarray(0, Math.floor(owl.length * frac)), 'cut.jpg')).toThrow(/^cut\.jpg: truncated JPEG/);
    });
  }

  it('truncated progressive file', () => {
    const prog = readBytes('jpeg', 'prog420.jpg');
    for (const frac of [0.3, 0.7, 0.99]) {
      expect(() => decodeJpeg(prog.subarray(0, Math.floor(prog.length * frac)), 'p.jpg')).toThrow(/^p\.jpg: truncated JPEG/);
    }
  });

  it('missing end-of-image marker', () => {
    expect(() => decodeJpeg(owl.subarray(0, owl.length - 2), 'noeoi.jpg')).toThrow(/noeoi\.jpg: truncated JPEG \(no end-of-image/);
  });

  it('random bytes', () => {
    const bytes = new Uint8Array(4096);
    let s = 12345;
    for (let i = 0; i < bytes.length; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bytes[i] = s >>> 24;
    }
    expect(() => decodeJpeg(bytes, 'noise.jpg')).toThrow(/^noise\.jpg: not a JPEG/);
    // The same noise behind a JPEG start-of-image marker.
    bytes.set([0xff, 0xd8, 0xff], 0);
    expect(() => decodeJpeg(bytes, 'noise2.jpg')).toThrow(/^noise2\.jpg: (corrupt|truncated|unsupported) JPEG/);
  });

  it('random bytes in place of the entropy-coded data', () => {
    const bad = owl.slice();
    let s = 99;
    for (let i = Math.floor(bad.length / 2); i < bad.length - 2; i++) {
      s = (Math.imul(s, 1103515245) + 12345) >>> 0;
      bad[i] = s >>> 24;
    }
    expect(() => decodeJpeg(bad, 'scrambled.jpg')).toThrow(/^scrambled\.jpg: (corrupt|truncated) JPEG/);
  });

  it('arithmetic coding and 12-bit samples are refused by name', () => {
    // A file without an EXIF thumbnail, so the first SOF0 pattern is the frame header.
    const plain = readBytes('jpeg', 's420.jpg');
    const sof = plain.findIndex((v, i) => v === 0xff && plain[i + 1] === 0xc0);
    const arith = plain.slice();
    arith[sof + 1] = 0xc9;
    expect(() => decodeJpeg(arith, 'arith.jpg')).toThrow(/arith\.jpg: unsupported JPEG \(arithmetic coding\)/);
    const deep = plain.slice();
    deep[sof + 4] = 12;
    expect(() => decodeJpeg(deep, 'deep.jpg')).toThrow(/deep\.jpg: unsupported JPEG \(12-bit samples\)/);
  });

  it('default name when none is given', () => {
    expect(() => decodeJpeg(new Uint8Array([1, 2, 3, 4]))).toThrow(/^JPEG data: not a JPEG/);
  });
});

describe('JPEG photos through decode + Resize(256) + CenterCrop(224) + Normalize(0.5)', () => {
  // parity_imagenet holds torchvision's model input for each photo: PIL decode, then its transforms.
  const imagenet = loadFixture('parity_imagenet.safetensors');
  for (const name of ['parrot.jpg', 'hot_dog.jpg', 'cat_720p.jpg', 'owl.jpg']) {
    it(`${name} equals torchvision's input bit for bit`, () => {
      const img = decodeJpeg(readBytes('images', 'imagenet-samples', name), name);
      const ours = toNormalizedTensor(centerCrop(resizeShorter(img, 256), 224), [0.5, 0.5, 0.5], [0.5, 0.5, 0.5]);
      const ref = imagenet.tensors.get(`${name}.input`)!;
      expect([1, ...ours.shape]).toEqual([...ref.shape]);
      let mismatches = 0;
      for (let i = 0; i < ref.size; i++) if (ours.data[i] !== ref.data[i]) mismatches++;
      console.log(`${name}: ${mismatches} of ${ref.size} input elements differ from torchvision`);
      expect(mismatches).toBe(0);
    });
  }
});
