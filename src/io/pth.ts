import { Tensor, sizeOf } from '../tensor/tensor.js';
import { float16ToFloat32, bfloat16ToFloat32 } from './half.js';
import { PickleDict, PickleGlobal, unpickle } from './pickle.js';
import { isZip, readZip } from './zip.js';

/**
 * Reader for PyTorch `.pth` / `.pt` weight files: the zip format of
 * torch.save (PyTorch >= 1.6) and the legacy format before it. Only
 * tensors, dicts and plain values are rebuilt; see pickle.ts for why
 * nothing in the file can run code.
 */
export interface PthFile {
  stateDict: Map<string, Tensor>;
  /** The torch dtype each tensor had in the file ('float32', 'float16', 'int64', ...). */
  dtypes: Map<string, string>;
  /** Other top-level checkpoint entries (epoch, best_acc, classes, ...) as plain JS. */
  extra: Record<string, unknown>;
  format: 'zip' | 'legacy';
}

export interface ReadPthOptions {
  /** File name for error messages. */
  name?: string;
  /** In a checkpoint dict, the entry that holds the state_dict. */
  key?: string;
}

/** Checkpoint entries tried, in order, when a file holds more than a state_dict. */
export const STATE_DICT_KEYS = ['state_dict', 'model', 'model_state_dict', 'net', 'module'] as const;

interface StorageDType {
  dtype: string;
  width: number;
}

const STORAGE_TYPES: Record<string, StorageDType> = {
  FloatStorage: { dtype: 'float32', width: 4 },
  DoubleStorage: { dtype: 'float64', width: 8 },
  HalfStorage: { dtype: 'float16', width: 2 },
  BFloat16Storage: { dtype: 'bfloat16', width: 2 },
  LongStorage: { dtype: 'int64', width: 8 },
  IntStorage: { dtype: 'int32', width: 4 },
  ShortStorage: { dtype: 'int16', width: 2 },
  CharStorage: { dtype: 'int8', width: 1 },
  ByteStorage: { dtype: 'uint8', width: 1 },
  BoolStorage: { dtype: 'bool', width: 1 },
  UntypedStorage: { dtype: 'uint8', width: 1 },
};

const FLOAT_DTYPES = new Set(['float32', 'float64', 'float16', 'bfloat16']);

const LEGACY_MAGIC = 0x1950a86a20f9469cfc6cn;
const LEGACY_PROTOCOL = 1001;
/** `\x80\x02\x8a\x0a` + the magic number, little-endian: how every legacy file starts. */
export const LEGACY_PREFIX = Uint8Array.of(0x80, 0x02, 0x8a, 0x0a, 0x6c, 0xfc, 0x9c, 0x46, 0xf9, 0x20, 0x6a, 0xa8, 0x50, 0x19);

export function isLegacyPth(bytes: Uint8Array): boolean {
  return bytes.length >= LEGACY_PREFIX.length && LEGACY_PREFIX.every((b, i) => bytes[i] === b);
}

/** A typed storage named by a persistent id; its bytes arrive later for legacy files. */
class StorageRef {
  bytes?: Uint8Array;
  constructor(
    readonly key: string,
    readonly type: StorageDType,
    /** Element count the file declares. */
    readonly numel: number,
    /** Legacy views start this many elements into their root storage. */
    readonly elementOffset = 0,
    readonly root?: StorageRef,
  ) {}

  data(file: string): Uint8Array {
    const root = this.root ?? this;
    if (!root.bytes) throw new Error(`${file}: storage '${root.key}' has no data in the file`);
    const start = this.elementOffset * this.type.width;
    return root.bytes.subarray(Math.min(start, root.bytes.length), Math.min(start + this.numel * this.type.width, root.bytes.length));
  }
}

/** The arguments of `_rebuild_tensor_v2`, turned into a Tensor once the storage bytes are known. */
class TensorRef {
  constructor(
    readonly storage: StorageRef,
    readonly offset: number,
    readonly size: readonly number[],
    readonly stride: readonly number[],
  ) {}
}

function intList(v: unknown, what: string, file: string): number[] {
  if (!Array.isArray(v) || !v.every((x) => typeof x === 'number' && Number.isInteger(x) && x >= 0)) {
    throw new Error(`${file}: tensor ${what} is not a tuple of non-negative integers`);
  }
  return v as number[];
}

function makeGlobals(file: string): Map<string, PickleGlobal> {
  const g = new Map<string, PickleGlobal>();
  const add = (module: string, name: string, call?: (args: readonly unknown[]) => unknown) =>
    g.set(`${module}.${name}`, new PickleGlobal(module, name, call));

  add('collections', 'OrderedDict', (args) => {
    const d = new PickleDict('OrderedDict');
    if (args.length && Array.isArray(args[0])) for (const kv of args[0]) if (Array.isArray(kv)) d.map.set(kv[0], kv[1]);
    return d;
  });
  const rebuild = (args: readonly unknown[]): TensorRef => {
    const [storage, offset, size, stride] = args;
    if (!(storage instanceof StorageRef)) throw new Error(`${file}: tensor rebuilt from something that is not a storage`);
    if (typeof offset !== 'number' || !Number.isInteger(offset) || offset < 0) throw new Error(`${file}: bad tensor storage offset`);
    const s = intList(size, 'size', file);
    const st = intList(stride, 'stride', file);
    if (s.length !== st.length) throw new Error(`${file}: tensor size and stride have different lengths`);
    return new TensorRef(storage, offset, s, st);
  };
  add('torch._utils', '_rebuild_tensor_v2', rebuild);
  add('torch._utils', '_rebuild_tensor', rebuild);
  const parameter = (args: readonly unknown[]) => {
    if (!(args[0] instanceof TensorRef)) throw new Error(`${file}: parameter rebuilt from something that is not a tensor`);
    return args[0];
  };
  add('torch._utils', '_rebuild_parameter', parameter);
  add('torch._utils', '_rebuild_parameter_with_state', parameter);
  // A tensor carrying Python attributes is pickled as _rebuild_from_type_v2(func, type, args, state); the attributes are dropped.
  add('torch._tensor', '_rebuild_from_type_v2', (args) => {
    const [func, , inner] = args;
    if (!(func instanceof PickleGlobal) || !func.call || !Array.isArray(inner)) throw new Error(`${file}: malformed _rebuild_from_type_v2`);
    return func.call(inner);
  });
  for (const [module, name] of [['torch', 'Tensor'], ['torch._tensor', 'Tensor'], ['torch.nn.parameter', 'Parameter']]) add(module, name);
  for (const name of Object.keys(STORAGE_TYPES)) add('torch', name);
  return g;
}

function storageType(v: unknown, file: string): StorageDType {
  const t = v instanceof PickleGlobal && v.module === 'torch' ? STORAGE_TYPES[v.name] : undefined;
  if (!t) throw new Error(`${file}: unsupported storage type ${v instanceof PickleGlobal ? v.qualifiedName : String(v)}`);
  return t;
}

function storagePid(pid: unknown, file: string): readonly unknown[] {
  if (!Array.isArray(pid) || pid.length < 5) throw new Error(`${file}: malformed persistent id`);
  if (pid[0] === 'module') {
    throw new Error(`${file}: the file holds a whole pickled model (source of a module class), not weights. Save model.state_dict() instead.`);
  }
  if (pid[0] !== 'storage') throw new Error(`${file}: unknown persistent id type '${String(pid[0])}'`);
  return pid;
}

export function readPth(bytes: Uint8Array, opts: ReadPthOptions = {}): PthFile {
  const file = opts.name ?? '<bytes>';
  if (isZip(bytes)) return readZipPth(bytes, file, opts.key);
  if (isLegacyPth(bytes)) return readLegacyPth(bytes, file, opts.key);
  throw new Error(`${file}: not a PyTorch .pth file (it starts with neither a zip header nor the legacy torch.save magic number)`);
}

function readZipPth(bytes: Uint8Array, file: string, key: string | undefined): PthFile {
  const zip = readZip(bytes, file);
  const pkl = zip.entries.find((e) => e.name === 'data.pkl' || e.name.endsWith('/data.pkl'));
  if (!pkl) throw new Error(`${file}: zip archive has no data.pkl, so it is not a torch.save file`);
  const prefix = pkl.name.slice(0, pkl.name.length - 'data.pkl'.length);
  const order = zip.get(`${prefix}byteorder`);
  const byteOrder = order ? new TextDecoder().decode(zip.read(order)).trim() : 'little';
  if (byteOrder !== 'little' && byteOrder !== 'big') throw new Error(`${file}: unknown byteorder '${byteOrder}'`);

  const storages = new Map<string, StorageRef>();
  const persistentLoad = (raw: unknown): StorageRef => {
    const pid = storagePid(raw, file);
    const k = String(pid[2]);
    let s = storages.get(k);
    if (!s) {
      const entry = zip.get(`${prefix}data/${k}`);
      if (!entry) throw new Error(`${file}: storage '${k}' is missing from the archive (${prefix}data/${k})`);
      s = new StorageRef(k, storageType(pid[1], file), Number(pid[4]));
      s.bytes = zip.read(entry);
      storages.set(k, s);
    }
    return s;
  };
  const { value } = unpickle(zip.read(pkl), { name: file, globals: makeGlobals(file), persistentLoad });
  return finish(value, file, key, 'zip', byteOrder === 'little');
}

function readLegacyPth(bytes: Uint8Array, file: string, key: string | undefined): PthFile {
  try {
    const globals = makeGlobals(file);
    const plain = new Map<string, PickleGlobal>();
    let at = 0;
    const next = (g: ReadonlyMap<string, PickleGlobal>, persistentLoad?: (pid: unknown) => unknown): unknown => {
      const r = unpickle(bytes, { name: file, globals: g, persistentLoad, offset: at });
      at = r.end;
      return r.value;
    };
    if (next(plain) !== LEGACY_MAGIC) throw new Error(`${file}: bad legacy magic number`);
    const protocol = next(plain);
    if (protocol !== LEGACY_PROTOCOL) throw new Error(`${file}: unsupported legacy protocol version ${String(protocol)}`);
    const sysInfo = next(plain);
    const littleEndian = !(sysInfo instanceof PickleDict) || sysInfo.map.get('little_endian') !== false;

    const roots = new Map<string, StorageRef>();
    const persistentLoad = (raw: unknown): StorageRef => {
      const pid = storagePid(raw, file);
      const type = storageType(pid[1], file);
      const k = String(pid[2]);
      let root = roots.get(k);
      if (!root) roots.set(k, (root = new StorageRef(k, type, Number(pid[4]))));
      const view = pid[5];
      if (Array.isArray(view)) return new StorageRef(String(view[0]), type, Number(view[2]), Number(view[1]), root);
      return root;
    };
    const value = next(globals, persistentLoad);
    const keys = next(plain);
    if (!Array.isArray(keys)) throw new Error(`${file}: legacy storage key list is missing`);
    const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
    for (const k of keys) {
      const root = roots.get(String(k));
      if (!root) throw new Error(`${file}: storage '${String(k)}' is listed but never used, so its element size is unknown`);
      if (at + 8 > bytes.length) throw new Error(`${file}: truncated legacy .pth file (storage '${root.key}' header missing)`);
      const numel = Number(dv.getBigInt64(at, littleEndian));
      const nbytes = numel * root.type.width;
      at += 8;
      if (numel < 0 || at + nbytes > bytes.length) {
        throw new Error(`${file}: truncated legacy .pth file (storage '${root.key}' needs ${nbytes} bytes, ${bytes.length - at} left)`);
      }
      root.bytes = bytes.subarray(at, at + nbytes);
      at += nbytes;
    }
    return finish(value, file, key, 'legacy', littleEndian);
  } catch (e) {
    const msg = (e as Error).message;
    if (msg.includes('truncated') && !msg.includes('truncated legacy')) throw new Error(msg.replace(/^.*?: /, `${file}: truncated legacy .pth file: `));
    throw e;
  }
}

function isTensorDict(v: unknown): boolean {
  if (!(v instanceof PickleDict) || v.map.size === 0) return false;
  for (const [k, x] of v.map) if (typeof k !== 'string' || !(x instanceof TensorRef)) return false;
  return true;
}

function finish(value: unknown, file: string, key: string | undefined, format: 'zip' | 'legacy', littleEndian: boolean): PthFile {
  if (!(value instanceof PickleDict)) {
    throw new Error(`${file}: expected a state_dict (a dict of tensors), found ${describe(value)}`);
  }
  const cache = new Map<TensorRef, { tensor: Tensor; dtype: string }>();
  const materialize = (ref: TensorRef, where: string) => {
    let m = cache.get(ref);
    if (!m) cache.set(ref, (m = toTensor(ref, file, where, littleEndian)));
    return m;
  };

  let sd: PickleDict;
  let sdKey: string | undefined;
  const topKeys = () => [...value.map.keys()].slice(0, 20).map(String).join(', ');
  if (key !== undefined) {
    if (!value.map.has(key)) throw new Error(`${file}: no entry '${key}' in the checkpoint (top-level keys: ${topKeys()})`);
    const v = value.map.get(key);
    if (!isTensorDict(v)) throw new Error(`${file}: entry '${key}' is not a state_dict (a dict of tensors), it is ${describe(v)}`);
    sd = v as PickleDict;
    sdKey = key;
  } else if (value.map.size === 0 || isTensorDict(value)) {
    sd = value;
  } else {
    sdKey = STATE_DICT_KEYS.find((k) => isTensorDict(value.map.get(k)));
    sdKey ??= [...value.map.keys()].find((k): k is string => typeof k === 'string' && isTensorDict(value.map.get(k)));
    if (sdKey !== undefined) {
      sd = value.map.get(sdKey) as PickleDict;
    } else {
      // Tensors mixed with plain values at the top level: the tensors are the weights.
      sd = new PickleDict();
      for (const [k, v] of value.map) if (typeof k === 'string' && v instanceof TensorRef) sd.map.set(k, v);
      if (sd.map.size === 0) throw new Error(`${file}: found no state_dict (no dict of tensors) in the checkpoint (top-level keys: ${topKeys()})`);
    }
  }

  const stateDict = new Map<string, Tensor>();
  const dtypes = new Map<string, string>();
  const names = [...sd.map.keys()] as string[];
  const strip = names.length > 0 && names.every((n) => n.startsWith('module.'));
  for (const n of names) {
    const { tensor, dtype } = materialize(sd.map.get(n) as TensorRef, n);
    const k = strip ? n.slice('module.'.length) : n;
    stateDict.set(k, tensor);
    dtypes.set(k, dtype);
  }

  const extra: Record<string, unknown> = {};
  if (sd !== value) {
    for (const [k, v] of value.map) {
      if (k === sdKey || (sdKey === undefined && sd.map.has(k))) continue;
      extra[String(k)] = toPlain(v, String(k), materialize);
    }
  }
  return { stateDict, dtypes, extra, format };
}

function toPlain(v: unknown, where: string, materialize: (r: TensorRef, where: string) => { tensor: Tensor }): unknown {
  if (v instanceof TensorRef) return materialize(v, where).tensor;
  if (v instanceof PickleDict) {
    const o: Record<string, unknown> = {};
    for (const [k, x] of v.map) o[String(k)] = toPlain(x, `${where}.${String(k)}`, materialize);
    return o;
  }
  if (Array.isArray(v)) return v.map((x, i) => toPlain(x, `${where}[${i}]`, materialize));
  if (v instanceof Set) return new Set([...v].map((x) => toPlain(x, where, materialize)));
  if (v instanceof PickleGlobal) return v.qualifiedName;
  if (v instanceof StorageRef) throw new Error(`bare storage at '${where}' is not supported`);
  return v;
}

function describe(v: unknown): string {
  if (v === null) return 'None';
  if (v instanceof TensorRef) return 'a single tensor';
  if (v instanceof PickleDict) return 'a dict with non-tensor values';
  if (Array.isArray(v)) return Object.isFrozen(v) ? 'a tuple' : 'a list';
  return typeof v;
}

const HOST_LITTLE_ENDIAN = new Uint8Array(Uint16Array.of(1).buffer)[0] === 1;

/** Gathers the (possibly strided, offset) view into a contiguous float32 or int64 tensor. */
function toTensor(ref: TensorRef, file: string, where: string, littleEndian: boolean): { tensor: Tensor; dtype: string } {
  const { storage, offset, size, stride } = ref;
  const { dtype, width } = storage.type;
  const raw = storage.data(file);
  const available = Math.floor(raw.length / width);
  const n = sizeOf(size);
  let last = offset;
  for (let d = 0; d < size.length; d++) if (size[d] > 0) last += (size[d] - 1) * stride[d];
  if (n > 0 && last >= available) {
    throw new Error(
      `${file}: tensor '${where}' of size [${size.join(', ')}] needs ${last + 1} elements of storage '${storage.key}', which holds only ${available} (truncated or corrupt file)`,
    );
  }

  // Storage element index of each output element, in row-major order.
  let contiguous = true;
  for (let d = size.length - 1, expect = 1; d >= 0; d--) {
    if (size[d] !== 1 && stride[d] !== expect) contiguous = false;
    expect *= size[d];
  }
  const indexAt = contiguous ? null : stridedIndices(size, stride, offset, n);
  const idx = (i: number) => (indexAt ? indexAt[i] : offset + i);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);

  if (FLOAT_DTYPES.has(dtype)) {
    const out = new Float32Array(n);
    if (dtype === 'float32') {
      const byteStart = raw.byteOffset + offset * 4;
      if (contiguous && littleEndian === HOST_LITTLE_ENDIAN && byteStart % 4 === 0) out.set(new Float32Array(raw.buffer, byteStart, n));
      else for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * idx(i), littleEndian);
    } else if (dtype === 'float64') for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * idx(i), littleEndian);
    else if (dtype === 'float16') for (let i = 0; i < n; i++) out[i] = float16ToFloat32(dv.getUint16(2 * idx(i), littleEndian));
    else for (let i = 0; i < n; i++) out[i] = bfloat16ToFloat32(dv.getUint16(2 * idx(i), littleEndian));
    return { tensor: new Tensor(out, size), dtype };
  }
  const out = new BigInt64Array(n);
  const read: (i: number) => bigint =
    dtype === 'int64'
      ? (j) => dv.getBigInt64(8 * j, littleEndian)
      : dtype === 'int32'
        ? (j) => BigInt(dv.getInt32(4 * j, littleEndian))
        : dtype === 'int16'
          ? (j) => BigInt(dv.getInt16(2 * j, littleEndian))
          : dtype === 'int8'
            ? (j) => BigInt(dv.getInt8(j))
            : dtype === 'bool'
              ? (j) => (dv.getUint8(j) ? 1n : 0n)
              : (j) => BigInt(dv.getUint8(j));
  for (let i = 0; i < n; i++) out[i] = read(idx(i));
  return { tensor: new Tensor(out, size), dtype };
}

function stridedIndices(size: readonly number[], stride: readonly number[], offset: number, n: number): Float64Array {
  const out = new Float64Array(n);
  const pos = new Array<number>(size.length).fill(0);
  let at = offset;
  for (let i = 0; i < n; i++) {
    out[i] = at;
    for (let d = size.length - 1; d >= 0; d--) {
      if (++pos[d] < size[d]) {
        at += stride[d];
        break;
      }
      at -= (size[d] - 1) * stride[d];
      pos[d] = 0;
    }
  }
  return out;
}
