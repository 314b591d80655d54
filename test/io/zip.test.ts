import { readFileSync } from 'node:fs';
import { constants, deflateRawSync } from 'node:zlib';
import { describe, expect, it } from 'vitest';
import { inflateRaw } from '../../src/io/inflate.js';
import { crc32, readZip, writeZip } from '../../src/io/zip.js';
import { fixturePath } from '../helpers/fixtures.js';

const small = new Uint8Array(readFileSync(fixturePath('small_zip.pth')));

describe('zip reader', () => {
  it('lists torch.save entries under their own top folder and reads them', () => {
    const zip = readZip(small, 'small_zip.pth');
    expect(zip.entries.length).toBe(320);
    expect(zip.entries.slice(0, 5).map((e) => e.name)).toEqual([
      'small_zip/data.pkl',
      'small_zip/.format_version',
      'small_zip/.storage_alignment',
      'small_zip/byteorder',
      'small_zip/data/0',
    ]);
    expect(new TextDecoder().decode(zip.read(zip.get('small_zip/version')!))).toBe('3\n');
    expect(new TextDecoder().decode(zip.read(zip.get('small_zip/byteorder')!))).toBe('little');
    // data/0 is features.0.0.weight, 16x3x3x3 float32, starting 64-byte aligned.
    const e = zip.get('small_zip/data/0')!;
    expect(e.size).toBe(1728);
  });

  it('rejects a cut-off archive and a corrupted entry, naming the file', () => {
    for (const cut of [10, 5000, small.length >> 1, small.length - 30, small.length - 1]) {
      expect(() => readZip(small.subarray(0, cut), 'cut.pth')).toThrow(/^cut\.pth: truncated or damaged zip archive/);
    }
    const bad = small.slice();
    const zip = readZip(bad, 'bad.pth');
    const e = zip.get('small_zip/data/0')!;
    bad[e.localHeaderOffset + 30 + 'small_zip/data/0'.length + 60 + 5] ^= 1; // a byte inside data/0 (60-byte extra field)
    expect(() => zip.read(e)).toThrow(/bad\.pth: .*CRC mismatch in entry 'small_zip\/data\/0'/);
  });

  it('computes the standard CRC-32', () => {
    expect(crc32(new TextEncoder().encode('123456789'))).toBe(0xcbf43926);
  });
});

describe('zip writer', () => {
  it("reproduces torch.save's archive byte for byte from the same entries", () => {
    const zip = readZip(small, 'small_zip.pth');
    const rebuilt = writeZip(zip.entries.map((e) => ({ name: e.name, data: zip.read(e) })));
    expect(rebuilt.length).toBe(small.length);
    expect(Buffer.compare(Buffer.from(rebuilt), Buffer.from(small))).toBe(0);
  });

  it('stores deflated entries that read back', () => {
    const data = new TextEncoder().encode('abcabcabc'.repeat(500));
    const z = writeZip([{ name: 'a/x', data, deflated: deflateRawSync(data) }, { name: 'a/y', data: Uint8Array.of(1, 2, 3) }]);
    const r = readZip(z, 'z.zip');
    expect(r.get('a/x')!.method).toBe(8);
    expect(Buffer.from(r.read(r.get('a/x')!)).equals(Buffer.from(data))).toBe(true);
    expect(Array.from(r.read(r.get('a/y')!))).toEqual([1, 2, 3]);
  });
});

describe('inflate', () => {
  // Compressible but irregular bytes: float32 weights of the fixture.
  const sample = small.subarray(50_000, 250_000);

  it('decodes dynamic-Huffman, fixed-Huffman and stored blocks as zlib writes them', () => {
    for (const opts of [{ level: 9 }, { level: 1 }, { level: 0 }, { strategy: constants.Z_FIXED }, { strategy: constants.Z_HUFFMAN_ONLY }, { strategy: constants.Z_RLE }]) {
      const packed = deflateRawSync(sample, opts);
      const out = inflateRaw(packed, sample.length);
      expect(Buffer.from(out).equals(Buffer.from(sample)), JSON.stringify(opts)).toBe(true);
    }
    const text = new TextEncoder().encode('to be or not to be, '.repeat(3000));
    expect(Buffer.from(inflateRaw(deflateRawSync(text), 0)).equals(Buffer.from(text))).toBe(true);
    expect(inflateRaw(deflateRawSync(new Uint8Array(0)), 0).length).toBe(0);
    // A fixed-Huffman block ('A', end) then a stored block ('xyz'): the stored block must start right after the
    // Huffman block's last byte even though the decoder read ahead (checked against Python's zlib).
    const handMade = Uint8Array.of(0x72, 0x04, 0x04, 0x03, 0x00, 0xfc, 0xff, 0x78, 0x79, 0x7a);
    expect(new TextDecoder().decode(inflateRaw(handMade, 4))).toBe('Axyz');
    // A sync flush ends a dynamic block with an empty stored block; a second stream then follows.
    for (const cut of [1000, 1001, 1002, 1003, 5000, 5001, 5002, 5003]) {
      const a = sample.subarray(0, cut);
      const joined = Buffer.concat([deflateRawSync(a, { finishFlush: constants.Z_SYNC_FLUSH }), deflateRawSync(text)]);
      expect(Buffer.from(inflateRaw(joined, 0)).equals(Buffer.concat([a, text])), `cut ${cut}`).toBe(true);
    }
  });

  it('rejects cut-short and corrupt streams', () => {
    const packed = deflateRawSync(sample);
    expect(() => inflateRaw(packed.subarray(0, packed.length >> 1), sample.length, 'w.pth')).toThrow(/w\.pth: corrupt or truncated deflate data/);
    expect(() => inflateRaw(Uint8Array.of(0x07), 0, 'w.pth')).toThrow(/reserved block type/);
  });
});
