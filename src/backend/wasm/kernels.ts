/**
 * Loading the MobileNetV2 kernel module (build/mnv2.wasm, compiled from assembly/ with SIMD).
 * Runtime-safe: no Node built-ins; pass bytes, a compiled module, or a URL to fetch.
 */

/** Raw exports of build/mnv2.wasm. Pointers are byte offsets into `memory`. */
export interface WasmKernelExports {
  memory: WebAssembly.Memory;
  heapBase(): number;
  gemm(M: number, K: number, N: number, a: number, w: number, bias: number, out: number, lo: number, hi: number, res: number): void;
  depthwise3x3(
    N: number, H: number, W: number, C: number,
    inp: number, w: number, bias: number, out: number,
    stride: number, OH: number, OW: number, lo: number, hi: number,
  ): void;
  conv3x3c3(
    N: number, H: number, W: number,
    inp: number, w: number, bias: number, out: number,
    Cout: number, stride: number, OH: number, OW: number, lo: number, hi: number,
  ): void;
  globalAvgPool(N: number, HW: number, C: number, inp: number, out: number): void;
}

/** An instantiated kernel module together with typed views that follow memory growth. */
export class WasmKernels {
  readonly exports: WasmKernelExports;
  readonly memory: WebAssembly.Memory;
  private view: Float32Array;

  constructor(instance: WebAssembly.Instance, where = 'mnv2.wasm') {
    const ex = instance.exports as unknown as WasmKernelExports;
    for (const name of ['memory', 'heapBase', 'gemm', 'depthwise3x3', 'conv3x3c3', 'globalAvgPool'] as const) {
      if (!(name in ex)) throw new Error(`${where}: missing export '${name}' (is this the mnv2 kernel module?)`);
    }
    this.exports = ex;
    this.memory = ex.memory;
    this.view = new Float32Array(this.memory.buffer);
  }

  /** A Float32Array over all of memory; re-created after the memory grows (growth detaches the old buffer). */
  get f32(): Float32Array {
    if (this.view.buffer !== this.memory.buffer) this.view = new Float32Array(this.memory.buffer);
    return this.view;
  }

  /** Grows memory so that byte offsets below `end` are valid. */
  ensure(end: number): void {
    const have = this.memory.buffer.byteLength;
    if (end <= have) return;
    const pages = Math.ceil((end - have) / 65536);
    this.memory.grow(pages);
  }
}

export type WasmSource = Uint8Array | ArrayBuffer | WebAssembly.Module | URL | string;

const IMPORTS: WebAssembly.Imports = {};

/** Instantiates the kernels from bytes, a compiled module, or a URL (fetched). */
export async function loadWasmKernels(source: WasmSource): Promise<WasmKernels> {
  if (source instanceof WebAssembly.Module) {
    return new WasmKernels(await WebAssembly.instantiate(source, IMPORTS));
  }
  if (source instanceof Uint8Array || source instanceof ArrayBuffer) {
    let module: WebAssembly.Module;
    try {
      module = await WebAssembly.compile(toBufferSource(source));
    } catch (e) {
      throw new Error(`mnv2.wasm: not a loadable wasm kernel module (${(e as Error).message}); SIMD support is required`);
    }
    return new WasmKernels(await WebAssembly.instantiate(module, IMPORTS));
  }
  const url = source instanceof URL ? source.href : source;
  if (url.startsWith('file:')) {
    throw new Error(`${url}: fetch cannot read file: URLs; in Node use loadWasmKernelsFromFile from backend/wasm/node.js`);
  }
  const res = await fetch(url);
  if (!res.ok) throw new Error(`${url}: could not fetch the wasm kernels (HTTP ${res.status})`);
  const bytes = new Uint8Array(await res.arrayBuffer());
  try {
    const { instance } = await WebAssembly.instantiate(bytes, IMPORTS);
    return new WasmKernels(instance, url);
  } catch (e) {
    throw new Error(`${url}: not a loadable wasm kernel module (${(e as Error).message})`);
  }
}

/** Synchronous instantiation (fine in Node; browsers limit sync compilation to small modules). */
export function loadWasmKernelsSync(bytes: Uint8Array | ArrayBuffer | WebAssembly.Module, where = 'mnv2.wasm'): WasmKernels {
  const module = bytes instanceof WebAssembly.Module ? bytes : compile(bytes, where);
  return new WasmKernels(new WebAssembly.Instance(module, IMPORTS), where);
}

function compile(bytes: Uint8Array | ArrayBuffer, where: string): WebAssembly.Module {
  try {
    return new WebAssembly.Module(toBufferSource(bytes));
  } catch (e) {
    throw new Error(`${where}: not a loadable wasm kernel module (${(e as Error).message}); SIMD support is required`);
  }
}

function toBufferSource(b: Uint8Array | ArrayBuffer): ArrayBuffer | Uint8Array<ArrayBuffer> {
  if (b instanceof ArrayBuffer) return b;
  // A view over a SharedArrayBuffer is not a BufferSource; copy it.
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}
