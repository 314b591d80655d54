import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { loadWeightsFile, saveFileAtomic } from '../../src/io/node.js';
import { readPth } from '../../src/io/pth.js';
import { picklePth, writePth } from '../../src/io/pth_writer.js';
import { readZip } from '../../src/io/zip.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { fixturePath } from '../helpers/fixtures.js';

const raw = (name: string) => new Uint8Array(readFileSync(fixturePath(name)));
const fixture = readPth(raw('small_zip.pth'), { name: 'small_zip.pth' });

function fixturePickle(file: string, top: string): Uint8Array {
  const z = readZip(raw(file), file);
  return z.read(z.get(`${top}/data.pkl`)!);
}

function expectBitEqual(a: Map<string, Tensor>, b: Map<string, Tensor>): void {
  expect([...b.keys()]).toEqual([...a.keys()]);
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, k).toEqual(t.shape);
    expect(u.dtype, k).toBe(t.dtype);
    if (t.dtype === 'int64') expect(Array.from(u.int64!), k).toEqual(Array.from(t.int64!));
    else expect(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), k).toBe(true);
  }
}

describe('writePth', () => {
  it('writes the same pickle as torch.save, opcode for opcode, up to the omitted _metadata', () => {
    const ours = picklePth({ stateDict: fixture.stateDict }).pickle;
    const torch = fixturePickle('small_zip.pth', 'small_zip');
    // torch goes on with the OrderedDict's _metadata state and BUILD where ours stops.
    expect(ours[ours.length - 1]).toBe(0x2e);
    expect(Buffer.from(ours.subarray(0, ours.length - 1)).equals(Buffer.from(torch.subarray(0, ours.length - 1)))).toBe(true);
    expect(torch[ours.length - 1]).toBe(0x7d); // EMPTY_DICT: the start of {'_metadata': ...}
  });

  it('nests a checkpoint like torch.save({epoch, best_acc, arch, alpha, classes, model})', () => {
    const extra = { epoch: 3, best_acc: 0.875, arch: 'mobilenet_v2', alpha: 0.35, classes: ['daisy', 'dandelion', 'rose', 'sunflower', 'tulip'] };
    const ours = picklePth({ stateDict: fixture.stateDict, key: 'model', extra }).pickle;
    const torch = fixturePickle('small_checkpoint.pth', 'small_checkpoint');
    // Identical through the state dict's last SETITEMS; then ours closes the checkpoint dict (SETITEMS, STOP)
    // where torch goes on with the state dict's _metadata.
    const n = ours.length - 2;
    expect(Array.from(ours.subarray(n))).toEqual([0x75, 0x2e]);
    expect(Buffer.from(ours.subarray(0, n)).equals(Buffer.from(torch.subarray(0, n)))).toBe(true);
    expect(torch[n]).toBe(0x7d);
    const back = readPth(writePth({ stateDict: fixture.stateDict, key: 'model', extra }, 'ckpt'), { name: 'ckpt.pth' });
    expect(back.extra).toEqual(extra);
    expectBitEqual(fixture.stateDict, back.stateDict);
  });

  it('lays out the archive like small_zip.pth: same entries, 64-byte aligned data, reads back bit-exactly', () => {
    const bytes = writePth({ stateDict: fixture.stateDict }, 'small_zip');
    const ours = readZip(bytes, 'ours.pth');
    const torch = readZip(raw('small_zip.pth'), 'small_zip.pth');
    expect(ours.entries.map((e) => e.name)).toEqual(torch.entries.map((e) => e.name));
    for (const e of ours.entries) {
      expect(e.method).toBe(0);
      const name = e.name;
      if (name.endsWith('serialization_id')) {
        expect(new TextDecoder().decode(ours.read(e))).toMatch(/^\d{40}$/);
        continue;
      }
      if (name.endsWith('data.pkl')) continue;
      expect(Buffer.from(ours.read(e)).equals(Buffer.from(torch.read(torch.get(name)!))), name).toBe(true);
    }
    // Storage records begin on 64-byte boundaries, as torch's do.
    for (const e of ours.entries) {
      const dv = new DataView(bytes.buffer, bytes.byteOffset);
      const start = e.localHeaderOffset + 30 + dv.getUint16(e.localHeaderOffset + 26, true) + dv.getUint16(e.localHeaderOffset + 28, true);
      expect(start % 64, e.name).toBe(0);
    }
    expectBitEqual(fixture.stateDict, readPth(bytes).stateDict);
    // Deterministic output.
    expect(Buffer.from(writePth({ stateDict: fixture.stateDict }, 'small_zip')).equals(Buffer.from(bytes))).toBe(true);
  });

  it('round-trips odd shapes, large ints and special floats', () => {
    const sd = new Map<string, Tensor>([
      ['scalar', Tensor.from([Math.fround(-0.1)], [])],
      ['empty', Tensor.zeros([0, 3])],
      ['big', new Tensor(BigInt64Array.of(-(2n ** 62n), 2n ** 40n, 0n), [3])],
      ['special', Tensor.from([NaN, Infinity, -Infinity, -0, 1e-45], [5])],
      ['wide', Tensor.from(Array.from({ length: 70_000 }, (_, i) => i / 7), [70_000])],
    ]);
    const back = readPth(writePth({ stateDict: sd, key: 'state_dict', extra: { step: 2 ** 40, lr: 1e-3, tag: null, flags: { ok: true } } }), { name: 'odd.pth' });
    expect(back.extra).toEqual({ step: 2 ** 40, lr: 1e-3, tag: null, flags: { ok: true } });
    expectBitEqual(sd, back.stateDict);
    expect(back.stateDict.get('scalar')!.shape).toEqual([]);
  });

  it('refuses extra entries without a key', () => {
    expect(() => writePth({ stateDict: new Map(), extra: { epoch: 1 } })).toThrow(/extra entries need a key/);
  });
});

describe('node file helpers', () => {
  const dir = mkdtempSync(join(tmpdir(), 'mnv2-io-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('saves atomically and loads back through the format sniffer', () => {
    const path = join(dir, 'w.pth');
    saveFileAtomic(path, writePth({ stateDict: fixture.stateDict, key: 'model', extra: { epoch: 1 } }, 'w'));
    expect(readdirSync(dir)).toEqual(['w.pth']); // no temporary file left behind
    const w = loadWeightsFile(path);
    expect(w.format).toBe('zip');
    expect(w.extra).toEqual({ epoch: 1 });
    expectBitEqual(fixture.stateDict, w.stateDict);
    expect(loadWeightsFile(fixturePath('small.safetensors')).format).toBe('safetensors');
  });

  it('names the path when a file is missing, unreadable or not weights', () => {
    const missing = join(dir, 'nope.pth');
    expect(() => loadWeightsFile(missing)).toThrow(`${missing}: cannot read weights file (no such file)`);
    expect(() => loadWeightsFile(dir)).toThrow(/cannot read weights file \(it is a directory\)/);
    const junk = join(dir, 'junk.pth');
    saveFileAtomic(junk, new Uint8Array(100).fill(7));
    expect(() => loadWeightsFile(junk)).toThrow(`${junk}: not a weights file`);
    expect(() => saveFileAtomic(join(dir, 'no/such/dir/x.pth'), new Uint8Array(1))).toThrow(/no\/such\/dir\/x\.pth: cannot write file/);
    expect(existsSync(join(dir, 'no'))).toBe(false);
  });
});
