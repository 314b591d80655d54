import { readFileSync } from 'node:fs';
import { deflateRawSync } from 'node:zlib';
import { beforeAll, describe, expect, it } from 'vitest';
import { readPth, type PthFile } from '../../src/io/pth.js';
import { readWeights } from '../../src/io/weights.js';
import { readZip, writeZip } from '../../src/io/zip.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { fixturePath, loadFixture } from '../helpers/fixtures.js';
import { f32Bytes, PickleAsm } from './pickle_asm.js';

const raw = (name: string) => new Uint8Array(readFileSync(fixturePath(name)));
const ascii = (s: string) => new TextEncoder().encode(s);

/** Round to the nearest float16 (ties to even), independent of the reader's half decoding. */
function toHalf(x: number): number {
  if (x === 0 || !Number.isFinite(x)) return x;
  const e = Math.max(Math.floor(Math.log2(Math.abs(x))), -14);
  const ulp = 2 ** (e - 10);
  const q = x / ulp;
  let r = Math.round(q);
  if (Math.abs(q - Math.trunc(q)) === 0.5) r = 2 * Math.round(q / 2);
  return r * ulp;
}

function expectSameTensors(a: Map<string, Tensor>, b: Map<string, Tensor>, what: string): void {
  expect([...a.keys()].sort(), what).toEqual([...b.keys()].sort());
  for (const [k, t] of a) {
    const u = b.get(k)!;
    expect(u.shape, `${what} ${k}`).toEqual(t.shape);
    expect(u.dtype, `${what} ${k}`).toBe(t.dtype);
    if (t.dtype === 'int64') expect(Array.from(u.int64!), `${what} ${k}`).toEqual(Array.from(t.int64!));
    else expect(Buffer.from(u.data.buffer, u.data.byteOffset, u.data.byteLength).equals(Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength)), `${what} ${k}`).toBe(true);
  }
}

/** A torch.save-style zip holding `pickle` and the given storages. */
function torchZip(pickle: Uint8Array, storages: Record<string, Uint8Array>, top = 'hand'): Uint8Array {
  return writeZip([
    { name: `${top}/data.pkl`, data: pickle },
    { name: `${top}/byteorder`, data: ascii('little') },
    ...Object.entries(storages).map(([k, data]) => ({ name: `${top}/data/${k}`, data })),
    { name: `${top}/version`, data: ascii('3\n') },
  ]);
}

/** OrderedDict([(name, tensor)]) where the tensor comes from `tensor(asm)`. */
function oneTensorPickle(name: string, tensor: (a: PickleAsm) => void): Uint8Array {
  const p = new PickleAsm().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().str(name);
  tensor(p);
  return p.raw(0x73).stop().bytes();
}

describe('the five small weight files', () => {
  const st = loadFixture('small.safetensors');
  let zip: PthFile;
  beforeAll(() => {
    zip = readPth(raw('small_zip.pth'), { name: 'small_zip.pth' });
  });

  it('zip, legacy and checkpoint .pth hold exactly the safetensors tensors, in the same key order', () => {
    const legacy = readPth(raw('small_legacy.pth'), { name: 'small_legacy.pth' });
    const ckpt = readPth(raw('small_checkpoint.pth'), { name: 'small_checkpoint.pth' });
    expect(zip.format).toBe('zip');
    expect(legacy.format).toBe('legacy');
    expect(zip.stateDict.size).toBe(314);
    for (const [f, what] of [[zip, 'zip'], [legacy, 'legacy'], [ckpt, 'checkpoint']] as const) expectSameTensors(st.tensors, f.stateDict, what);
    const order = [...zip.stateDict.keys()];
    expect(order[0]).toBe('features.0.0.weight');
    expect(order[order.length - 1]).toBe('classifier.1.bias');
    expect([...legacy.stateDict.keys()]).toEqual(order);
    expect([...ckpt.stateDict.keys()]).toEqual(order);
    const nbt = zip.stateDict.get('features.0.1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('int64');
    expect(zip.dtypes.get('features.0.1.num_batches_tracked')).toBe('int64');
    expect(zip.dtypes.get('features.0.0.weight')).toBe('float32');
    expect(Array.from(nbt.int64!)).toEqual(Array.from(st.tensors.get('features.0.1.num_batches_tracked')!.int64!));
  });

  it('the checkpoint keeps its other entries as plain values', () => {
    const ckpt = readPth(raw('small_checkpoint.pth'), { name: 'small_checkpoint.pth' });
    expect(ckpt.extra).toEqual({ epoch: 3, best_acc: 0.875, arch: 'mobilenet_v2', alpha: 0.35, classes: ['daisy', 'dandelion', 'rose', 'sunflower', 'tulip'] });
    const viaKey = readPth(raw('small_checkpoint.pth'), { name: 'c.pth', key: 'model' });
    expect(viaKey.stateDict.size).toBe(314);
    expect(() => readPth(raw('small_checkpoint.pth'), { name: 'c.pth', key: 'optimizer' })).toThrow(/c\.pth: no entry 'optimizer' in the checkpoint \(top-level keys: epoch, best_acc/);
    expect(() => readPth(raw('small_checkpoint.pth'), { name: 'c.pth', key: 'classes' })).toThrow(/c\.pth: entry 'classes' is not a state_dict/);
  });

  it('the float16 copy equals the float32 weights rounded to half precision; int64 stays int64', () => {
    const fp16 = readPth(raw('small_fp16.pth'), { name: 'small_fp16.pth' });
    expect([...fp16.stateDict.keys()]).toEqual([...zip.stateDict.keys()]);
    for (const [k, t] of zip.stateDict) {
      const h = fp16.stateDict.get(k)!;
      expect(h.shape).toEqual(t.shape);
      if (t.dtype === 'int64') {
        expect(fp16.dtypes.get(k)).toBe('int64');
        expect(Array.from(h.int64!)).toEqual(Array.from(t.int64!));
        continue;
      }
      expect(fp16.dtypes.get(k)).toBe('float16');
      for (let i = 0; i < t.size; i++) if (h.data[i] !== toHalf(t.data[i])) throw new Error(`${k}[${i}]: ${h.data[i]} != half(${t.data[i]})`);
    }
  });

  it('readWeights sniffs every format', () => {
    for (const [f, fmt] of [['small_zip.pth', 'zip'], ['small_legacy.pth', 'legacy'], ['small_checkpoint.pth', 'zip'], ['small_fp16.pth', 'zip'], ['small.safetensors', 'safetensors']]) {
      const w = readWeights(raw(f), { name: f });
      expect(w.format, f).toBe(fmt);
      expect(w.stateDict.size, f).toBe(314);
    }
    expect(readWeights(raw('small_checkpoint.pth')).extra.epoch).toBe(3);
  });

  it('reads a re-zipped (deflated) copy, whatever the top folder', () => {
    const z = readZip(raw('small_zip.pth'));
    const deflated = writeZip(
      z.entries.map((e) => {
        const data = z.read(e);
        return { name: e.name.replace(/^small_zip\//, 'renamed/'), data, deflated: deflateRawSync(data, { level: 6 }) };
      }),
      { align: 1 },
    );
    expect(deflated.length).toBeLessThan(raw('small_zip.pth').length);
    const back = readPth(deflated, { name: 'deflated.pth' });
    expectSameTensors(zip.stateDict, back.stateDict, 'deflated');
  });
});

describe('mobilenet_v2_imagenet.pth', () => {
  it('loads all 314 tensors with the shapes of arch.json and 3,504,872 parameters', () => {
    const f = readPth(raw('mobilenet_v2_imagenet.pth'), { name: 'mobilenet_v2_imagenet.pth' });
    const arch = JSON.parse(readFileSync(fixturePath('arch.json'), 'utf8'))['1.0'] as { params: number; state_dict: [string, number[], string][] };
    expect(f.stateDict.size).toBe(314);
    // This file was assembled from converted TFLite weights, so its key order differs from state_dict(); the set is the same.
    expect([...f.stateDict.keys()].sort()).toEqual(arch.state_dict.map((e) => e[0]).sort());
    for (const [k, shape, dtype] of arch.state_dict) {
      expect(f.stateDict.get(k)!.shape, k).toEqual(shape);
      expect(f.dtypes.get(k), k).toBe(dtype);
    }
    let params = 0;
    let buffers = 0;
    for (const [k, t] of f.stateDict) {
      if (t.dtype === 'int64') continue;
      if (k.includes('running_')) buffers += t.size;
      else params += t.size;
    }
    expect(params).toBe(3_504_872);
    expect(params).toBe(arch.params);
    expect(buffers).toBe(34_112);
    const w = f.stateDict.get('classifier.1.weight')!;
    expect(w.shape).toEqual([1000, 1280]);
    expect(w.data.every(Number.isFinite)).toBe(true);
  });
});

describe('hand-built tensors', () => {
  it('honours storage offset and non-contiguous strides', () => {
    const storage = f32Bytes(Array.from({ length: 12 }, (_, i) => i));
    // A transposed view: t[i][j] = storage[1 + i + 4j].
    const pkl = oneTensorPickle('t', (a) => a.tensorV2('FloatStorage', '0', 12, 1, [2, 3], [1, 4]));
    const f = readPth(torchZip(pkl, { '0': storage }), { name: 'strided.pth' });
    const t = f.stateDict.get('t')!;
    expect(t.shape).toEqual([2, 3]);
    expect(Array.from(t.data)).toEqual([1, 5, 9, 2, 6, 10]);
    // A zero stride broadcasts one element; a trailing offset reads the last one.
    const bpkl = oneTensorPickle('b', (a) => a.tensorV2('FloatStorage', '0', 12, 11, [2, 2], [0, 0]));
    expect(Array.from(readPth(torchZip(bpkl, { '0': storage })).stateDict.get('b')!.data)).toEqual([11, 11, 11, 11]);
  });

  it('widens bfloat16, float64 and int32 storages', () => {
    const bf = Uint8Array.of(0x80, 0x3f, 0x20, 0xc0, 0x20, 0x3e); // 1, -2.5, 0.15625 as bfloat16, little-endian
    const f64 = new Uint8Array(16);
    new DataView(f64.buffer).setFloat64(0, 0.1, true);
    new DataView(f64.buffer).setFloat64(8, -3, true);
    const i32 = Uint8Array.of(0xff, 0xff, 0xff, 0xff, 7, 0, 0, 0);
    const p = new PickleAsm().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    p.str('bf').tensorV2('BFloat16Storage', 'a', 3, 0, [3], [1]);
    p.str('d').tensorV2('DoubleStorage', 'b', 2, 0, [2], [1]);
    p.str('i').tensorV2('IntStorage', 'c', 2, 0, [2], [1]);
    p.raw(0x75).stop();
    const f = readPth(torchZip(p.bytes(), { a: bf, b: f64, c: i32 }), { name: 'mixed.pth' });
    expect(Array.from(f.stateDict.get('bf')!.data)).toEqual([1, -2.5, 0.15625]);
    expect(f.dtypes.get('bf')).toBe('bfloat16');
    expect(Array.from(f.stateDict.get('d')!.data)).toEqual([Math.fround(0.1), -3]);
    expect(f.stateDict.get('i')!.dtype).toBe('int64');
    expect(Array.from(f.stateDict.get('i')!.int64!)).toEqual([-1n, 7n]);
  });

  it('strips the DataParallel module. prefix and picks the state dict out of a checkpoint', () => {
    const p = new PickleAsm().proto(2).raw(0x7d).mark();
    p.str('epoch').int(7).str('state_dict').global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    p.str('module.conv.weight').tensorV2('FloatStorage', '0', 2, 0, [2], [1]);
    p.str('module.bn.num_batches_tracked').tensorV2('LongStorage', '1', 1, 0, [], []);
    p.raw(0x75).raw(0x75).stop();
    const nbt = new Uint8Array(8);
    new DataView(nbt.buffer).setBigInt64(0, 123n, true);
    const f = readPth(torchZip(p.bytes(), { '0': f32Bytes([0.5, -4]), '1': nbt }), { name: 'dp.pth' });
    expect([...f.stateDict.keys()]).toEqual(['conv.weight', 'bn.num_batches_tracked']);
    expect(Array.from(f.stateDict.get('conv.weight')!.data)).toEqual([0.5, -4]);
    expect(f.stateDict.get('bn.num_batches_tracked')!.int64![0]).toBe(123n);
    expect(f.extra).toEqual({ epoch: 7 });
  });

  it('rejects a storage shorter than its tensor needs', () => {
    const pkl = oneTensorPickle('w', (a) => a.tensorV2('FloatStorage', '0', 10, 0, [3, 4], [4, 1]));
    expect(() => readPth(torchZip(pkl, { '0': f32Bytes(new Array(10).fill(1)) }), { name: 'short.pth' })).toThrow(
      /^short\.pth: tensor 'w' of size \[3, 4\] needs 12 elements of storage '0', which holds only 10/,
    );
    const missing = oneTensorPickle('w', (a) => a.tensorV2('FloatStorage', '9', 1, 0, [1], [1]));
    expect(() => readPth(torchZip(missing, {}), { name: 'nostore.pth' })).toThrow(/nostore\.pth: storage '9' is missing from the archive/);
  });

  it('reads a legacy file whose tensors are views into a shared storage', () => {
    // Legacy pid: ('storage', type, root_key, location, root_numel, (view_key, view_offset, view_numel)).
    const head = [
      Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19, 0x2e),
      new PickleAsm().proto(2).raw(0x4d, 0xe9, 0x03).stop().bytes(),
      new PickleAsm().proto(2).raw(0x7d).str('little_endian').raw(0x88, 0x73).stop().bytes(),
    ];
    const view = (k: string, off: number, n: number) => (a: PickleAsm) => a.mark().str(k).int(off).int(n).tuple();
    const p = new PickleAsm().proto(2).global('collections', 'OrderedDict').emptyTuple().reduce().mark();
    p.str('a').tensorV2('FloatStorage', 'root', 6, 0, [2], [1], view('v1', 1, 2));
    p.str('b').tensorV2('FloatStorage', 'root', 6, 1, [2], [2], view('v2', 2, 4));
    p.raw(0x75).stop();
    const keys = new PickleAsm().proto(2).raw(0x5d).mark().str('root').raw(0x65).stop().bytes();
    const count = new Uint8Array(8);
    count[0] = 6;
    const file = Buffer.concat([...head, p.bytes(), keys, count, f32Bytes([10, 11, 12, 13, 14, 15])]);
    const f = readPth(new Uint8Array(file), { name: 'views_legacy.pth' });
    expect(f.format).toBe('legacy');
    expect(Array.from(f.stateDict.get('a')!.data)).toEqual([11, 12]);
    expect(Array.from(f.stateDict.get('b')!.data)).toEqual([13, 15]);
  });
});

describe('bad files', () => {
  it('rejects truncated zip files at any cut point, naming the file', () => {
    const bytes = raw('small_zip.pth');
    for (const cut of [4, 100, 43_000, 700_000, bytes.length - 100, bytes.length - 1]) {
      expect(() => readPth(bytes.subarray(0, cut), { name: 'small_zip.pth' }), `cut at ${cut}`).toThrow(/^small_zip\.pth: truncated or damaged zip archive/);
    }
  });

  it('rejects truncated legacy files at any cut point, naming the file', () => {
    const bytes = raw('small_legacy.pth');
    // Inside: the magic number, the sys_info pickle, the main pickle, the key list, the storage data, the last byte.
    for (const cut of [16, 60, 137, 20_000, 45_700, 50_829, 700_000, bytes.length - 1]) {
      expect(() => readPth(bytes.subarray(0, cut), { name: 'small_legacy.pth' }), `cut at ${cut}`).toThrow(/^small_legacy\.pth: truncated legacy \.pth file/);
    }
  });

  it('rejects random bytes', () => {
    let s = 12345;
    const junk = Uint8Array.from({ length: 4096 }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 255);
    expect(() => readPth(junk, { name: 'junk.pth' })).toThrow(/^junk\.pth: not a PyTorch \.pth file/);
    expect(() => readWeights(junk, { name: 'junk.bin' })).toThrow(/^junk\.bin: not a weights file/);
    const fakeZip = junk.slice();
    fakeZip.set([0x50, 0x4b, 3, 4]);
    expect(() => readPth(fakeZip, { name: 'fake.pth' })).toThrow(/^fake\.pth: truncated or damaged zip archive/);
    expect(() => readPth(new Uint8Array(0), { name: 'empty.pth' })).toThrow(/^empty\.pth: not a PyTorch \.pth file/);
  });

  it('rejects a zip that is not a torch.save archive, and a top-level non-dict', () => {
    expect(() => readPth(writeZip([{ name: 'a/readme.txt', data: ascii('hi') }]), { name: 'other.zip' })).toThrow(/other\.zip: zip archive has no data\.pkl/);
    const list = new PickleAsm().proto(2).raw(0x5d).stop().bytes();
    expect(() => readPth(torchZip(list, {}), { name: 'list.pth' })).toThrow(/list\.pth: expected a state_dict \(a dict of tensors\), found a list/);
  });
});
