import { describe, expect, it } from 'vitest';
import { PickleDict, PickleGlobal, unpickle } from '../../src/io/pickle.js';
import { readPth } from '../../src/io/pth.js';
import { writeZip } from '../../src/io/zip.js';
import { PickleAsm } from './pickle_asm.js';

const bytesOf = (s: string) => Uint8Array.from(s, (c) => c.charCodeAt(0));
const noGlobals = new Map<string, PickleGlobal>();

/** A zip laid out like torch.save's whose data.pkl is `pickle`. */
function zipWithPickle(pickle: Uint8Array): Uint8Array {
  return writeZip([
    { name: 'evil/data.pkl', data: pickle },
    { name: 'evil/byteorder', data: bytesOf('little') },
    { name: 'evil/version', data: bytesOf('3\n') },
  ]);
}

describe('pickle VM', () => {
  it('decodes the plain values a checkpoint holds', () => {
    // {'a': [1, -2, 70000, 2**40, -1.5, True, False, None], 'b': ('x', b'\x01\x02'), 'c': 2**70} at protocol 2/3.
    const p = new PickleAsm().proto(3).raw(0x7d).put(0).mark();
    p.str('a').raw(0x5d).put(1).mark().int(1).raw(0x4a, 0xfe, 0xff, 0xff, 0xff).int(70000);
    p.raw(0x8a, 6, 0, 0, 0, 0, 0, 1); // LONG1 2**40
    p.raw(0x47, 0xbf, 0xf8, 0, 0, 0, 0, 0, 0); // BINFLOAT -1.5, big-endian
    p.raw(0x88, 0x89, 0x4e).raw(0x65);
    p.str('b').shortStr('x').raw(0x43, 2, 1, 2).raw(0x86);
    p.str('c').raw(0x8a, 9, 0, 0, 0, 0, 0, 0, 0, 0, 0x40); // LONG1 2**70
    p.raw(0x75).stop();
    const { value } = unpickle(p.bytes(), { globals: noGlobals });
    expect(value).toBeInstanceOf(PickleDict);
    const d = (value as PickleDict).map;
    expect(d.get('a')).toEqual([1, -2, 70000, 2 ** 40, -1.5, true, false, null]);
    const b = d.get('b') as unknown[];
    expect(b[0]).toBe('x');
    expect(Array.from(b[1] as Uint8Array)).toEqual([1, 2]);
    expect(Object.isFrozen(b)).toBe(true);
    expect(d.get('c')).toBe(2n ** 70n);
  });

  it('handles protocol 4 framing, MEMOIZE and BINGET, and protocol 0 text opcodes', () => {
    // [ 'hi', 'hi' ] with FRAME, MEMOIZE and a memo fetch.
    const p4 = new PickleAsm().proto(4).raw(0x95, 12, 0, 0, 0, 0, 0, 0, 0).raw(0x5d, 0x94).mark();
    p4.shortStr('hi').raw(0x94).get(1).raw(0x65).stop();
    expect(unpickle(p4.bytes(), { globals: noGlobals }).value).toEqual(['hi', 'hi']);
    // Protocol 0: (lp0\nI12\naF0.25\naS'a\\nb'\np1\na.
    const p0 = bytesOf("(lp0\nI12\naF0.25\naS'a\\nb'\np1\naVcaf\\u00e9\na.");
    expect(unpickle(p0, { globals: noGlobals }).value).toEqual([12, 0.25, 'a\nb', 'café']);
  });

  it('refuses os.system via GLOBAL at protocol 2 without calling anything', () => {
    const evil = bytesOf('\x80\x02cposix\nsystem\nq\x00X\x04\x00\x00\x00echoq\x01\x85q\x02Rq\x03.');
    expect(() => unpickle(evil, { name: 'evil.pkl', globals: noGlobals })).toThrow(
      "evil.pkl: refusing to load global 'posix.system' (only state_dict tensors are allowed; nothing was executed)",
    );
    const os = bytesOf('\x80\x02cos\nsystem\nq\x00X\x02\x00\x00\x00idq\x01\x85q\x02Rq\x03.');
    expect(() => readPth(zipWithPickle(os), { name: 'small.pth' })).toThrow(/^small\.pth: refusing to load global 'os\.system'/);
  });

  it('refuses posix.system via STACK_GLOBAL at protocol 4', () => {
    const p = new PickleAsm().proto(4).raw(0x95, 30, 0, 0, 0, 0, 0, 0, 0);
    p.stackGlobal('posix', 'system').raw(0x94).shortStr('echo pwned').raw(0x94, 0x85, 0x94).reduce().raw(0x94).stop();
    expect(() => readPth(zipWithPickle(p.bytes()), { name: 'small.pth' })).toThrow(
      /^small\.pth: refusing to load global 'posix\.system' \(only state_dict tensors are allowed/,
    );
    const sub = new PickleAsm().proto(4).stackGlobal('subprocess', 'check_output').emptyTuple().reduce().stop();
    expect(() => unpickle(sub.bytes(), { name: 'x.pt', globals: noGlobals })).toThrow(/x\.pt: refusing to load global 'subprocess\.check_output'/);
  });

  it('says a pickled nn.Module must be saved as a state_dict', () => {
    const main = new PickleAsm().proto(2).global('__main__', 'MobileNetV2').put(0).emptyTuple().raw(0x81).put(1).raw(0x7d).raw(0x62).stop();
    expect(() => readPth(zipWithPickle(main.bytes()), { name: 'whole_model.pth' })).toThrow(
      /^whole_model\.pth: refusing to load global '__main__\.MobileNetV2': the file holds a whole pickled model.*model\.state_dict\(\)/,
    );
    const conv = new PickleAsm().proto(2).global('torch.nn.modules.conv', 'Conv2d').emptyTuple().raw(0x81).stop();
    expect(() => unpickle(conv.bytes(), { name: 'conv.pth', globals: noGlobals })).toThrow(/'torch\.nn\.modules\.conv\.Conv2d'.*whole pickled model.*state_dict/);
    const proj = new PickleAsm().proto(4).stackGlobal('models.mobilenet', 'MobileNetV2').emptyTuple().raw(0x81).stop();
    expect(() => unpickle(proj.bytes(), { name: 'm.pth', globals: noGlobals })).toThrow(/whole pickled model/);
  });

  it('rejects a callable that is only a value, unknown opcodes and truncation, naming the file', () => {
    const g = new Map([['torch.FloatStorage', new PickleGlobal('torch', 'FloatStorage')]]);
    const call = new PickleAsm().proto(2).global('torch', 'FloatStorage').emptyTuple().reduce().stop();
    expect(() => unpickle(call.bytes(), { name: 'f.pth', globals: g })).toThrow(/f\.pth: REDUCE applied to something that is not an allowed callable/);
    expect(() => unpickle(Uint8Array.of(0x80, 2, 0xff), { name: 'f.pth', globals: g })).toThrow(/f\.pth: unknown pickle opcode 0xff/);
    const cut = new PickleAsm().proto(2).str('hello').stop().bytes().subarray(0, 6);
    expect(() => unpickle(cut, { name: 'cut.pth', globals: g })).toThrow(/cut\.pth: pickle data is truncated/);
    expect(() => unpickle(Uint8Array.of(0x80, 2, 0x4b, 1), { name: 'nostop.pth', globals: g })).toThrow(/nostop\.pth: pickle data is truncated/);
  });
});
