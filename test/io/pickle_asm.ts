/**
 * A tiny pickle assembler for tests: every opcode is spelled out here, so
 * hand-built (and hostile) pickles do not depend on the writer under test.
 */
export class PickleAsm {
  private out: number[] = [];

  raw(...bytes: number[]): this {
    this.out.push(...bytes);
    return this;
  }

  ascii(s: string): this {
    for (const c of s) this.out.push(c.charCodeAt(0));
    return this;
  }

  proto(n: number): this {
    return this.raw(0x80, n);
  }

  /** GLOBAL 'module\nname\n' (protocols 0-3). */
  global(module: string, name: string): this {
    return this.raw(0x63).ascii(`${module}\n${name}\n`);
  }

  /** SHORT_BINUNICODE module, SHORT_BINUNICODE name, STACK_GLOBAL (protocol 4). */
  stackGlobal(module: string, name: string): this {
    return this.shortStr(module).shortStr(name).raw(0x93);
  }

  str(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(0x58, b.length & 255, (b.length >> 8) & 255, 0, 0, ...b);
  }

  shortStr(s: string): this {
    const b = new TextEncoder().encode(s);
    return this.raw(0x8c, b.length, ...b);
  }

  int(n: number): this {
    if (n >= 0 && n < 256) return this.raw(0x4b, n);
    if (n >= 0 && n < 65536) return this.raw(0x4d, n & 255, n >> 8);
    return this.raw(0x4a, n & 255, (n >> 8) & 255, (n >> 16) & 255, (n >>> 24) & 255);
  }

  mark(): this {
    return this.raw(0x28);
  }

  tuple(): this {
    return this.raw(0x74);
  }

  emptyTuple(): this {
    return this.raw(0x29);
  }

  reduce(): this {
    return this.raw(0x52);
  }

  put(i: number): this {
    return this.raw(0x71, i);
  }

  get(i: number): this {
    return this.raw(0x68, i);
  }

  persid(): this {
    return this.raw(0x51);
  }

  stop(): this {
    return this.raw(0x2e);
  }

  /** `_rebuild_tensor_v2(('storage', torch.<type>, key, 'cpu', numel), offset, size, stride, False, OrderedDict())`. */
  tensorV2(storageType: string, key: string, numel: number, offset: number, size: number[], stride: number[], pidExtra?: (a: this) => void): this {
    this.global('torch._utils', '_rebuild_tensor_v2').mark();
    this.mark().str('storage').global('torch', storageType).str(key).str('cpu').int(numel);
    pidExtra?.(this);
    this.tuple().persid().int(offset);
    this.mark();
    for (const s of size) this.int(s);
    this.tuple().mark();
    for (const s of stride) this.int(s);
    this.tuple();
    this.raw(0x89).global('collections', 'OrderedDict').emptyTuple().reduce();
    return this.tuple().reduce();
  }

  bytes(): Uint8Array {
    return Uint8Array.from(this.out);
  }
}

/** Little-endian float32 bytes. */
export function f32Bytes(values: number[]): Uint8Array {
  const b = new Uint8Array(values.length * 4);
  values.forEach((v, i) => new DataView(b.buffer).setFloat32(4 * i, v, true));
  return b;
}
