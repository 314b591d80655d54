import { Tensor, sizeOf } from '../tensor/tensor.js';
import { float16ToFloat32, bfloat16ToFloat32 } from './half.js';

/**
 * safetensors: an 8-byte little-endian header length, a JSON header mapping
 * names to {dtype, shape, data_offsets}, then raw little-endian tensor bytes.
 */
export interface SafetensorsFile {
  tensors: Map<string, Tensor>;
  /** The original dtype of each tensor as stored (F16 and BF16 are widened to float32). */
  dtypes: Map<string, string>;
  metadata: Record<string, string>;
}

const MAX_HEADER = 100 * 1024 * 1024;

export function readSafetensors(bytes: Uint8Array, name = '<bytes>'): SafetensorsFile {
  if (bytes.length < 8) throw new Error(`${name}: not a safetensors file (only ${bytes.length} bytes)`);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLen = Number(view.getBigUint64(0, true));
  if (headerLen > MAX_HEADER || 8 + headerLen > bytes.length) {
    throw new Error(`${name}: not a safetensors file or truncated (header length ${headerLen}, file is ${bytes.length} bytes)`);
  }
  let header: Record<string, unknown>;
  try {
    header = JSON.parse(new TextDecoder().decode(bytes.subarray(8, 8 + headerLen)));
  } catch (e) {
    throw new Error(`${name}: safetensors header is not valid JSON (${(e as Error).message})`);
  }
  const dataStart = 8 + headerLen;
  const tensors = new Map<string, Tensor>();
  const dtypes = new Map<string, string>();
  let metadata: Record<string, string> = {};
  for (const [key, entry] of Object.entries(header)) {
    if (key === '__metadata__') {
      metadata = (entry ?? {}) as Record<string, string>;
      continue;
    }
    const { dtype, shape, data_offsets } = entry as { dtype: string; shape: number[]; data_offsets: [number, number] };
    const [begin, end] = data_offsets;
    if (dataStart + end > bytes.length || begin > end) {
      throw new Error(`${name}: tensor '${key}' lies outside the file (truncated?)`);
    }
    const raw = bytes.subarray(dataStart + begin, dataStart + end);
    const n = sizeOf(shape);
    tensors.set(key, new Tensor(decode(raw, dtype, n, `${name}: tensor '${key}'`), shape));
    dtypes.set(key, dtype);
  }
  return { tensors, dtypes, metadata };
}

function decode(raw: Uint8Array, dtype: string, n: number, where: string): Float32Array | BigInt64Array {
  const width = ({ F32: 4, F16: 2, BF16: 2, F64: 8, I64: 8, I32: 4, U8: 1, I8: 1, BOOL: 1 } as Record<string, number>)[dtype];
  if (width === undefined) throw new Error(`${where}: unsupported dtype ${dtype}`);
  if (raw.length !== n * width) throw new Error(`${where}: ${raw.length} bytes for ${n} elements of ${dtype}`);
  const dv = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  switch (dtype) {
    case 'F32': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat32(4 * i, true);
      return out;
    }
    case 'F16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = float16ToFloat32(dv.getUint16(2 * i, true));
      return out;
    }
    case 'BF16': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = bfloat16ToFloat32(dv.getUint16(2 * i, true));
      return out;
    }
    case 'F64': {
      const out = new Float32Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getFloat64(8 * i, true);
      return out;
    }
    case 'I64': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = dv.getBigInt64(8 * i, true);
      return out;
    }
    case 'I32': {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(dv.getInt32(4 * i, true));
      return out;
    }
    default: {
      const out = new BigInt64Array(n);
      for (let i = 0; i < n; i++) out[i] = BigInt(dtype === 'I8' ? dv.getInt8(i) : dv.getUint8(i));
      return out;
    }
  }
}

/** Serializes float32 and int64 tensors; keys are written in the order given. */
export function writeSafetensors(
  tensors: Map<string, Tensor> | Record<string, Tensor>,
  metadata?: Record<string, string>,
): Uint8Array {
  const entries = tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
  const header: Record<string, unknown> = {};
  if (metadata) header.__metadata__ = metadata;
  let offset = 0;
  for (const [key, t] of entries) {
    const nbytes = t.size * (t.dtype === 'int64' ? 8 : 4);
    header[key] = { dtype: t.dtype === 'int64' ? 'I64' : 'F32', shape: [...t.shape], data_offsets: [offset, offset + nbytes] };
    offset += nbytes;
  }
  let json = JSON.stringify(header);
  // Pad the header with spaces so the data section starts 8-byte aligned, as the reference writer does.
  while ((8 + new TextEncoder().encode(json).length) % 8 !== 0) json += ' ';
  const headerBytes = new TextEncoder().encode(json);
  const out = new Uint8Array(8 + headerBytes.length + offset);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(headerBytes.length), true);
  out.set(headerBytes, 8);
  let pos = 8 + headerBytes.length;
  for (const [, t] of entries) {
    if (t.dtype === 'int64') {
      for (const v of t.int64!) {
        dv.setBigInt64(pos, v, true);
        pos += 8;
      }
    } else {
      for (const v of t.data) {
        dv.setFloat32(pos, v, true);
        pos += 4;
      }
    }
  }
  return out;
}
