/**
 * Loading the MobileNetV2 kernel module, compiled from assembly/ in two builds:
 * - build/mnv2.wasm: WebAssembly SIMD128 (every engine with wasm SIMD);
 * - build/mnv2-relaxed.wasm: the same kernels with relaxed SIMD's fused multiply-add, ~1.4x
 *   faster GEMMs where the engine has it (Chrome 114+, Node 22+, Node 20 with
 *   --experimental-wasm-relaxed-simd). Results differ from the SIMD128 build only by rounding.
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
  /** 1 in the relaxed-SIMD build. Absent from modules built before the relaxed build existed. */
  relaxedSimd?(): number;
}

// (module (func (param v128 v128 v128) (result v128) local.get 0 local.get 1 local.get 2 f32x4.relaxed_madd))
const RELAXED_PROBE = new Uint8Array([
  0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
  0x01, 0x08, 0x01, 0x60, 0x03, 0x7b, 0x7b, 0x7b, 0x01, 0x7b,
  0x03, 0x02, 0x01, 0x00,
  0x0a, 0x0d, 0x01, 0x0b, 0x00, 0x20, 0x00, 0x20, 0x01, 0x20, 0x02, 0xfd, 0x85, 0x02, 0x0b,
]);

/** Whether this engine can compile relaxed-SIMD code (and so load build/mnv2-relaxed.wasm). */
export function relaxedSimdSupported(): boolean {
  try {
    return WebAssembly.validate(RELAXED_PROBE);
  } catch {
    return false;
  }
}

/** The kernel file to fetch from a directory holding both builds: the relaxed one where it compiles. */
export function preferredKernelFile(): 'mnv2-relaxed.wasm' | 'mnv2.wasm' {
  return relaxedSimdSupported() ? 'mnv2-relaxed.wasm' : 'mnv2.wasm';
}

/** An instantiated kernel module together with typed views that follow memory growth. */
export class WasmKernels {
  readonly exports: WasmKernelExports;
  readonly memory: WebAssembly.Memory;
  /** True for the relaxed-SIMD build (fused multiply-add). */
  readonly relaxedSimd: boolean;
  private view: Float32Array;

  constructor(instance: WebAssembly.Instance, where = 'mnv2.wasm') {
    const ex = instance.exports as unknown as WasmKernelExports;
    for (const name of ['memory', 'heapBase', 'gemm', 'depthwise3x3', 'conv3x3c3', 'globalAvgPool'] as const) {
      if (!(name in ex)) throw new Error(`${where}: missing export '${name}' (is this the mnv2 kernel module?)`);
    }
    this.exports = ex;
    this.memory = ex.memory;
    this.relaxedSimd = ex.relaxedSimd?.() === 1;
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
      throw new Error(`mnv2.wasm: not a loadable wasm kernel module (${(e as Error).message}); SIMD support is required (and relaxed SIMD for mnv2-relaxed.wasm)`);
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
    throw new Error(`${where}: not a loadable wasm kernel module (${(e as Error).message}); SIMD support is required (and relaxed SIMD for mnv2-relaxed.wasm)`);
  }
}

function toBufferSource(b: Uint8Array | ArrayBuffer): ArrayBuffer | Uint8Array<ArrayBuffer> {
  if (b instanceof ArrayBuffer) return b;
  // A view over a SharedArrayBuffer is not a BufferSource; copy it.
  return b.buffer instanceof ArrayBuffer ? (b as Uint8Array<ArrayBuffer>) : new Uint8Array(b);
}
