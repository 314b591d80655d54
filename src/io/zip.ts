import { inflateRaw } from './inflate.js';

/**
 * A zip reader (stored and deflated entries, ZIP64) and a writer that lays the
 * archive out the way torch.save does: stored entries whose data start on
 * 64-byte boundaries (padded with an 'FB' extra field of 'Z's), data
 * descriptors, and a ZIP64 end record.
 */

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated. */
  method: number;
  compressedSize: number;
  size: number;
  crc32: number;
  localHeaderOffset: number;
}

export interface ZipArchive {
  entries: ZipEntry[];
  /** Looks an entry up by its exact name. */
  get(name: string): ZipEntry | undefined;
  /** The uncompressed bytes of an entry (stored entries are views into the archive). CRC-checked. */
  read(entry: ZipEntry): Uint8Array;
}

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_ZIP64_EOCD = 0x06064b50;
const SIG_ZIP64_LOCATOR = 0x07064b50;
const SIG_DESCRIPTOR = 0x08074b50;

export function isZip(bytes: Uint8Array): boolean {
  return bytes.length >= 4 && bytes[0] === 0x50 && bytes[1] === 0x4b && bytes[2] === 0x03 && bytes[3] === 0x04;
}

export function readZip(bytes: Uint8Array, file = '<bytes>'): ZipArchive {
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const u16 = (o: number) => dv.getUint16(o, true);
  const u32 = (o: number) => dv.getUint32(o, true);
  const u64 = (o: number) => {
    const v = Number(dv.getBigUint64(o, true));
    if (!Number.isSafeInteger(v)) throw new Error(`${file}: zip field too large`);
    return v;
  };
  const damaged = (why: string) => new Error(`${file}: truncated or damaged zip archive (${why})`);

  // The end record sits in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let o = bytes.length - 22; o >= Math.max(0, bytes.length - 22 - 0xffff); o--) {
    if (u32(o) === SIG_EOCD && o + 22 + u16(o + 20) === bytes.length) {
      eocd = o;
      break;
    }
  }
  if (eocd < 0) throw damaged('no end-of-central-directory record; the file was probably cut short');
  let count = u16(eocd + 10);
  let cdSize = u32(eocd + 12);
  let cdOffset = u32(eocd + 16);
  if (eocd >= 20 && u32(eocd - 20) === SIG_ZIP64_LOCATOR) {
    const z64 = u64(eocd - 20 + 8);
    if (z64 + 56 > eocd || u32(z64) !== SIG_ZIP64_EOCD) throw damaged('bad ZIP64 end record');
    count = u64(z64 + 32);
    cdSize = u64(z64 + 40);
    cdOffset = u64(z64 + 48);
  }
  if (cdOffset + cdSize > eocd) throw damaged('central directory lies outside the file');

  const entries: ZipEntry[] = [];
  let p = cdOffset;
  for (let i = 0; i < count; i++) {
    if (p + 46 > bytes.length || u32(p) !== SIG_CENTRAL) throw damaged(`bad central directory entry ${i}`);
    const flags = u16(p + 8);
    if (flags & 1) throw new Error(`${file}: encrypted zip entries are not supported`);
    const nameLen = u16(p + 28);
    const extraLen = u16(p + 30);
    const commentLen = u16(p + 32);
    if (p + 46 + nameLen + extraLen + commentLen > bytes.length) throw damaged(`central directory entry ${i} runs past the end`);
    const name = new TextDecoder().decode(bytes.subarray(p + 46, p + 46 + nameLen));
    let compressedSize = u32(p + 20);
    let size = u32(p + 24);
    let localHeaderOffset = u32(p + 42);
    // ZIP64 extra field: only the fields saturated in the fixed header are present, in this order.
    for (let e = p + 46 + nameLen; e + 4 <= p + 46 + nameLen + extraLen; ) {
      const id = u16(e);
      const len = u16(e + 2);
      if (id === 0x0001) {
        let q = e + 4;
        if (size === 0xffffffff) (size = u64(q)), (q += 8);
        if (compressedSize === 0xffffffff) (compressedSize = u64(q)), (q += 8);
        if (localHeaderOffset === 0xffffffff) localHeaderOffset = u64(q);
      }
      e += 4 + len;
    }
    entries.push({ name, method: u16(p + 10), compressedSize, size, crc32: u32(p + 16), localHeaderOffset });
    p += 46 + nameLen + extraLen + commentLen;
  }

  const byName = new Map(entries.map((e) => [e.name, e]));
  return {
    entries,
    get: (name) => byName.get(name),
    read(entry) {
      const o = entry.localHeaderOffset;
      if (o + 30 > bytes.length || u32(o) !== SIG_LOCAL) throw damaged(`bad local header for '${entry.name}'`);
      const start = o + 30 + u16(o + 26) + u16(o + 28);
      if (start + entry.compressedSize > bytes.length) throw damaged(`entry '${entry.name}' runs past the end`);
      const raw = bytes.subarray(start, start + entry.compressedSize);
      let data: Uint8Array;
      if (entry.method === 0) data = raw;
      else if (entry.method === 8) data = inflateRaw(raw, entry.size, `${file}: entry '${entry.name}'`);
      else throw new Error(`${file}: entry '${entry.name}' uses unsupported zip compression method ${entry.method}`);
      if (data.length !== entry.size) throw damaged(`entry '${entry.name}' has ${data.length} bytes, expected ${entry.size}`);
      if (crc32(data) !== entry.crc32) throw damaged(`CRC mismatch in entry '${entry.name}'`);
      return data;
    },
  };
}

let crcTable: Uint32Array | undefined;

export function crc32(data: Uint8Array): number {
  if (!crcTable) {
    crcTable = new Uint32Array(256);
    for (let n = 0; n < 256; n++) {
      let c = n;
      for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
      crcTable[n] = c >>> 0;
    }
  }
  const t = crcTable;
  let c = 0xffffffff;
  for (let i = 0; i < data.length; i++) c = t[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
}

export interface ZipWriteEntry {
  name: string;
  /** The uncompressed bytes. */
  data: Uint8Array;
  /** Raw DEFLATE bytes of `data`, to store the entry deflated (method 8) instead of stored. */
  deflated?: Uint8Array;
}

export interface ZipWriteOptions {
  /** Data of every entry starts at a multiple of this (torch uses 64 so storages can be mapped in place). */
  align?: number;
}

/** Writes a zip archive in torch.save's layout. */
export function writeZip(entries: readonly ZipWriteEntry[], opts: ZipWriteOptions = {}): Uint8Array {
  const align = opts.align ?? 64;
  const enc = new TextEncoder();
  const chunks: Uint8Array[] = [];
  let offset = 0;
  const push = (b: Uint8Array) => {
    chunks.push(b);
    offset += b.length;
  };
  const central: { name: Uint8Array; crc: number; csize: number; size: number; method: number; offset: number }[] = [];

  for (const e of entries) {
    const name = enc.encode(e.name);
    const body = e.deflated ?? e.data;
    const method = e.deflated ? 8 : 0;
    const crc = crc32(e.data);
    if (body.length > 0xfffffffe || e.data.length > 0xfffffffe) throw new Error(`writeZip: entry '${e.name}' is too large (4 GiB limit)`);
    const headerEnd = offset + 30 + name.length;
    const pad = align > 1 ? (align - ((headerEnd + 4) % align)) % align : -4;
    const extraLen = pad + 4;
    const h = new Uint8Array(30 + name.length + extraLen);
    const hv = new DataView(h.buffer);
    hv.setUint32(0, SIG_LOCAL, true);
    hv.setUint16(6, 0x0808, true); // sizes in a data descriptor; UTF-8 names
    hv.setUint16(8, method, true);
    hv.setUint16(26, name.length, true);
    hv.setUint16(28, extraLen, true);
    h.set(name, 30);
    if (extraLen > 0) {
      hv.setUint16(30 + name.length, 0x4246, true); // 'FB'
      hv.setUint16(32 + name.length, pad, true);
      h.fill(0x5a, 34 + name.length); // 'Z'
    }
    central.push({ name, crc, csize: body.length, size: e.data.length, method, offset });
    push(h);
    push(body);
    const d = new Uint8Array(16);
    const dd = new DataView(d.buffer);
    dd.setUint32(0, SIG_DESCRIPTOR, true);
    dd.setUint32(4, crc, true);
    dd.setUint32(8, body.length, true);
    dd.setUint32(12, e.data.length, true);
    push(d);
  }

  const cdOffset = offset;
  for (const c of central) {
    const big = c.offset >= 0xffffffff;
    const h = new Uint8Array(46 + c.name.length + (big ? 12 : 0));
    const hv = new DataView(h.buffer);
    hv.setUint32(0, SIG_CENTRAL, true);
    hv.setUint16(8, 0x0808, true);
    hv.setUint16(10, c.method, true);
    hv.setUint32(16, c.crc, true);
    hv.setUint32(20, c.csize, true);
    hv.setUint32(24, c.size, true);
    hv.setUint16(28, c.name.length, true);
    hv.setUint16(30, big ? 12 : 0, true);
    hv.setUint32(42, big ? 0xffffffff : c.offset, true);
    h.set(c.name, 46);
    if (big) {
      hv.setUint16(46 + c.name.length, 0x0001, true);
      hv.setUint16(48 + c.name.length, 8, true);
      hv.setBigUint64(50 + c.name.length, BigInt(c.offset), true);
    }
    push(h);
  }
  const cdSize = offset - cdOffset;
  const z64At = offset;
  const tail = new Uint8Array(56 + 20 + 22);
  const tv = new DataView(tail.buffer);
  tv.setUint32(0, SIG_ZIP64_EOCD, true);
  tv.setBigUint64(4, 44n, true);
  tv.setUint16(12, 0x031e, true);
  tv.setUint16(14, 45, true);
  tv.setBigUint64(24, BigInt(central.length), true);
  tv.setBigUint64(32, BigInt(central.length), true);
  tv.setBigUint64(40, BigInt(cdSize), true);
  tv.setBigUint64(48, BigInt(cdOffset), true);
  tv.setUint32(56, SIG_ZIP64_LOCATOR, true);
  tv.setBigUint64(64, BigInt(z64At), true);
  tv.setUint32(72, 1, true);
  tv.setUint32(76, SIG_EOCD, true);
  tv.setUint16(84, Math.min(central.length, 0xffff), true);
  tv.setUint16(86, Math.min(central.length, 0xffff), true);
  tv.setUint32(88, Math.min(cdSize, 0xffffffff), true);
  tv.setUint32(92, Math.min(cdOffset, 0xffffffff), true);
  push(tail);

  const out = new Uint8Array(offset);
  let p = 0;
  for (const c of chunks) {
    out.set(c, p);
    p += c.length;
  }
  return out;
}
