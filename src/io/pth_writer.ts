import { Tensor } from '../tensor/tensor.js';
import { crc32, writeZip, type ZipWriteEntry } from './zip.js';

/**
 * Writes `.pth` files that `torch.load(path, weights_only=True)` reads: the
 * zip layout and protocol-2 pickle that torch.save produces, with one storage
 * per tensor (`FloatStorage` or `LongStorage`), stored little-endian.
 *
 * The state dict's `_metadata` (per-module version numbers) is not written:
 * we do not know the module tree, and load_state_dict treats a missing
 * version the same as the current one for every layer MobileNetV2 uses.
 */

export type PthExtraValue = number | bigint | string | boolean | null | PthExtraValue[] | { [key: string]: PthExtraValue };

export interface PthWriteInput {
  stateDict: Map<string, Tensor>;
  /** Plain top-level checkpoint entries, written before the state dict. Integral numbers are written as Python ints. */
  extra?: Record<string, PthExtraValue>;
  /** When given, the file is a checkpoint dict `{ ...extra, [key]: stateDict }`; otherwise it is the state dict itself. */
  key?: string;
}

/** Opcodes of pickle protocol 2 that torch.save emits. */
const OP = {
  PROTO: 0x80,
  GLOBAL: 0x63,
  BINPUT: 0x71,
  LONG_BINPUT: 0x72,
  BINGET: 0x68,
  LONG_BINGET: 0x6a,
  EMPTY_TUPLE: 0x29,
  EMPTY_DICT: 0x7d,
  EMPTY_LIST: 0x5d,
  REDUCE: 0x52,
  MARK: 0x28,
  TUPLE: 0x74,
  TUPLE1: 0x85,
  TUPLE2: 0x86,
  TUPLE3: 0x87,
  BINUNICODE: 0x58,
  BININT1: 0x4b,
  BININT2: 0x4d,
  BININT: 0x4a,
  LONG1: 0x8a,
  BINFLOAT: 0x47,
  NONE: 0x4e,
  NEWTRUE: 0x88,
  NEWFALSE: 0x89,
  BINPERSID: 0x51,
  SETITEM: 0x73,
  SETITEMS: 0x75,
  APPEND: 0x61,
  APPENDS: 0x65,
  STOP: 0x2e,
} as const;

/** CPython pickles dict items and list elements in batches of this many. */
const BATCH = 1000;

/**
 * A protocol-2 pickler that memoizes like CPython's: every new object gets a
 * BINPUT; objects Python would share (globals, interned 'storage' and 'cpu')
 * are fetched back with BINGET.
 */
class Pickler {
  private buf = new Uint8Array(1 << 16);
  private len = 0;
  private memoCount = 0;
  private shared = new Map<string, number>();
  private enc = new TextEncoder();

  private ensure(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const grown = new Uint8Array(Math.max(this.buf.length * 2, this.len + n));
    grown.set(this.buf.subarray(0, this.len));
    this.buf = grown;
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.len++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.len);
    this.len += b.length;
  }

  u32(v: number): void {
    this.ensure(4);
    new DataView(this.buf.buffer).setUint32(this.len, v, true);
    this.len += 4;
  }

  put(): number {
    const i = this.memoCount++;
    if (i < 256) {
      this.byte(OP.BINPUT);
      this.byte(i);
    } else {
      this.byte(OP.LONG_BINPUT);
      this.u32(i);
    }
    return i;
  }

  get(i: number): void {
    if (i < 256) {
      this.byte(OP.BINGET);
      this.byte(i);
    } else {
      this.byte(OP.LONG_BINGET);
      this.u32(i);
    }
  }

  /** Emits a value Python would pickle once and then reference (a global, an interned string). */
  sharedValue(id: string, emit: () => void): void {
    const i = this.shared.get(id);
    if (i !== undefined) return this.get(i);
    emit();
    this.shared.set(id, this.put());
  }

  global(module: string, name: string): void {
    this.sharedValue(`global:${module}.${name}`, () => {
      this.byte(OP.GLOBAL);
      this.bytes(this.enc.encode(`${module}\n${name}\n`));
    });
  }

  str(s: string): void {
    const b = this.enc.encode(s);
    this.byte(OP.BINUNICODE);
    this.u32(b.length);
    this.bytes(b);
    this.put();
  }

  internedStr(s: string): void {
    this.sharedValue(`str:${s}`, () => {
      const b = this.enc.encode(s);
      this.byte(OP.BINUNICODE);
      this.u32(b.length);
      this.bytes(b);
    });
  }

  int(v: number | bigint): void {
    if (typeof v === 'number' && !Number.isSafeInteger(v)) throw new Error(`writePth: ${v} is not an exact integer`);
    const n = BigInt(v);
    if (n >= 0n && n < 256n) {
      this.byte(OP.BININT1);
      this.byte(Number(n));
    } else if (n >= 0n && n < 65536n) {
      this.byte(OP.BININT2);
      this.byte(Number(n) & 255);
      this.byte(Number(n) >> 8);
    } else if (n >= -(2n ** 31n) && n < 2n ** 31n) {
      this.byte(OP.BININT);
      this.u32(Number(BigInt.asUintN(32, n)));
    } else {
      // Minimal two's-complement little-endian bytes, as CPython's encode_long.
      let nbytes = 1;
      while (n < -(1n << BigInt(8 * nbytes - 1)) || n >= 1n << BigInt(8 * nbytes - 1)) nbytes++;
      const u = BigInt.asUintN(8 * nbytes, n);
      this.byte(OP.LONG1);
      this.byte(nbytes);
      for (let i = 0; i < nbytes; i++) this.byte(Number((u >> BigInt(8 * i)) & 255n));
    }
  }

  float(v: number): void {
    this.byte(OP.BINFLOAT);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, v, false);
    this.len += 8;
  }

  /** A tuple of ints, with the short-tuple opcodes CPython uses. Python memoizes every non-empty tuple. */
  intTuple(xs: readonly number[]): void {
    if (xs.length === 0) return this.byte(OP.EMPTY_TUPLE);
    if (xs.length > 3) this.byte(OP.MARK);
    for (const x of xs) this.int(x);
    this.byte(xs.length === 1 ? OP.TUPLE1 : xs.length === 2 ? OP.TUPLE2 : xs.length === 3 ? OP.TUPLE3 : OP.TUPLE);
    this.put();
  }

  /** Dict items in CPython's batches: MARK ... SETITEMS, or a lone SETITEM for a batch of one. */
  items<T>(entries: readonly T[], emit: (e: T) => void, one: number, many: number): void {
    for (let i = 0; i < entries.length; i += BATCH) {
      const batch = entries.slice(i, i + BATCH);
      if (batch.length > 1) this.byte(OP.MARK);
      for (const e of batch) emit(e);
      this.byte(batch.length > 1 ? many : one);
    }
  }

  value(v: PthExtraValue, where: string): void {
    if (v === null) this.byte(OP.NONE);
    else if (typeof v === 'boolean') this.byte(v ? OP.NEWTRUE : OP.NEWFALSE);
    else if (typeof v === 'bigint') this.int(v);
    else if (typeof v === 'number') {
      if (Number.isSafeInteger(v) && !Object.is(v, -0)) this.int(v);
      else this.float(v);
    } else if (typeof v === 'string') this.str(v);
    else if (Array.isArray(v)) {
      this.byte(OP.EMPTY_LIST);
      this.put();
      this.items(v, (x) => this.value(x, `${where}[]`), OP.APPEND, OP.APPENDS);
    } else if (typeof v === 'object') {
      this.byte(OP.EMPTY_DICT);
      this.put();
      this.items(Object.entries(v), ([k, x]) => (this.str(k), this.value(x, `${where}.${k}`)), OP.SETITEM, OP.SETITEMS);
    } else throw new Error(`writePth: cannot store ${typeof v} at '${where}'`);
  }

  result(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

function contiguousStrides(shape: readonly number[]): number[] {
  const s = new Array<number>(shape.length);
  for (let d = shape.length - 1, acc = 1; d >= 0; d--) {
    s[d] = acc;
    acc *= shape[d];
  }
  return s;
}

function storageBytes(t: Tensor): Uint8Array {
  const out = new Uint8Array(t.size * (t.dtype === 'int64' ? 8 : 4));
  const dv = new DataView(out.buffer);
  if (t.dtype === 'int64') t.int64!.forEach((v, i) => dv.setBigInt64(8 * i, v, true));
  else t.data.forEach((v, i) => dv.setFloat32(4 * i, v, true));
  return out;
}

/** Pickles the payload the way torch.save(obj, f) does; returns data.pkl and the storages in key order. */
export function picklePth(input: PthWriteInput): { pickle: Uint8Array; storages: Uint8Array[] } {
  const p = new Pickler();
  const storages: Uint8Array[] = [];
  p.byte(OP.PROTO);
  p.byte(2);

  const stateDict = (): void => {
    p.global('collections', 'OrderedDict');
    p.byte(OP.EMPTY_TUPLE);
    p.byte(OP.REDUCE);
    p.put();
    p.items(
      [...input.stateDict],
      ([name, t]) => {
        p.str(name);
        p.global('torch._utils', '_rebuild_tensor_v2');
        p.byte(OP.MARK);
        // Persistent id ('storage', storage_type, key, location, numel).
        p.byte(OP.MARK);
        p.internedStr('storage');
        p.global('torch', t.dtype === 'int64' ? 'LongStorage' : 'FloatStorage');
        p.str(String(storages.length));
        p.internedStr('cpu');
        p.int(t.size);
        p.byte(OP.TUPLE);
        p.put();
        p.byte(OP.BINPERSID);
        storages.push(storageBytes(t));
        p.int(0); // storage offset
        p.intTuple(t.shape);
        p.intTuple(contiguousStrides(t.shape));
        p.byte(OP.NEWFALSE); // requires_grad
        p.global('collections', 'OrderedDict'); // backward hooks
        p.byte(OP.EMPTY_TUPLE);
        p.byte(OP.REDUCE);
        p.put();
        p.byte(OP.TUPLE);
        p.put();
        p.byte(OP.REDUCE);
        p.put();
      },
      OP.SETITEM,
      OP.SETITEMS,
    );
  };

  if (input.key === undefined) {
    if (input.extra && Object.keys(input.extra).length) throw new Error('writePth: extra entries need a key to nest the state dict under');
    stateDict();
  } else {
    p.byte(OP.EMPTY_DICT);
    p.put();
    // The state dict goes last, after the small entries, as in the usual {'epoch': ..., 'model': ...} checkpoints.
    const entries: [string, PthExtraValue | null][] = [...Object.entries(input.extra ?? {}), [input.key, null]];
    if (input.extra && input.key in input.extra) throw new Error(`writePth: extra entry '${input.key}' clashes with the state dict key`);
    p.items(
      entries,
      ([k, v]) => {
        p.str(k);
        if (k === input.key) stateDict();
        else p.value(v, k);
      },
      OP.SETITEM,
      OP.SETITEMS,
    );
  }
  p.byte(OP.STOP);
  return { pickle: p.result(), storages };
}

const ascii = (s: string) => new TextEncoder().encode(s);

/**
 * Serializes a state dict (optionally nested in a checkpoint dict) to the
 * bytes of a `.pth` file. `archiveName` is the top folder inside the zip,
 * which torch.save takes from the file name.
 */
export function writePth(input: PthWriteInput, archiveName = 'archive'): Uint8Array {
  if (!archiveName || /[\\/]/.test(archiveName)) throw new Error(`writePth: bad archive name '${archiveName}'`);
  const { pickle, storages } = picklePth(input);
  const dir = `${archiveName}/`;
  const entries: ZipWriteEntry[] = [
    { name: `${dir}data.pkl`, data: pickle },
    { name: `${dir}.format_version`, data: ascii('1') },
    { name: `${dir}.storage_alignment`, data: ascii('64') },
    { name: `${dir}byteorder`, data: ascii('little') },
    ...storages.map((data, i) => ({ name: `${dir}data/${i}`, data })),
    { name: `${dir}version`, data: ascii('3\n') },
    { name: `${dir}.data/serialization_id`, data: ascii(serializationId(pickle, storages)) },
  ];
  return writeZip(entries, { align: 64 });
}

/**
 * torch stores a random 40-digit id here; a content hash keeps our output
 * reproducible byte for byte while still telling different files apart.
 */
function serializationId(pickle: Uint8Array, storages: readonly Uint8Array[]): string {
  let digits = '';
  let h = crc32(pickle);
  for (let round = 0; digits.length < 40; round++) {
    const s = storages[round % Math.max(1, storages.length)];
    const mix = new Uint8Array(8 + Math.min(s?.length ?? 0, 4096));
    new DataView(mix.buffer).setUint32(0, h, true);
    new DataView(mix.buffer).setUint32(4, round, true);
    if (s) mix.set(s.subarray(0, 4096), 8);
    h = crc32(mix);
    digits += String(h % 1_000_000_000).padStart(9, '0');
  }
  return digits.slice(0, 40);
}
