import type { WasmKernels } from './kernels.js';

const ALIGN = 16;

// Scratch buffers of a page or more start at staggered offsets within a 4 KB page (multiples of
// a 64-byte cache line, a different one for each of 64 consecutive buffers). MobileNetV2's
// activations are whole multiples of 4 KB, so without the stagger every buffer started at the
// same page offset, and a kernel that loads from one buffer while it stores to another stalls
// on 4K aliasing (the CPU matches a load against earlier stores by their low 12 address bits
// first): the dgrad GEMM of the last block's projection (M=392, K=320, N=960) took 15.7 ms with
// its input and output at the same page offset, 7.8 ms a cache line apart.
const PAGE = 4096;
const LINE = 64;
const STAGGER_STEP = 11; // coprime with PAGE / LINE, so the 64 offsets are all different

function staggered(top: number, index: number): number {
  const base = Math.ceil(top / LINE) * LINE;
  return base + ((index * STAGGER_STEP) % (PAGE / LINE)) * LINE;
}

/**
 * Memory of one kernel instance, split into a persistent region (packed weights, kept for the
 * life of the model) followed by a scratch region that is reset before every forward. Because
 * a forward of a given input shape makes the same allocations each time, memory grows only on
 * the first call of the largest shape.
 */
export class WasmArena {
  readonly kernels: WasmKernels;
  private persistentTop: number;
  private scratchTop: number;
  /** Large scratch allocations since the last reset (see staggered). */
  private scratchCount = 0;

  constructor(kernels: WasmKernels) {
    this.kernels = kernels;
    this.persistentTop = align(kernels.exports.heapBase());
    this.scratchTop = this.persistentTop;
  }

  /** Allocates `floats` float32s that live as long as the arena. Not allowed while scratch is in use. */
  allocPersistent(floats: number): number {
    if (this.scratchTop !== this.persistentTop) {
      throw new Error('WasmArena: persistent allocation while scratch memory is in use (call resetScratch first)');
    }
    const ptr = this.persistentTop;
    this.persistentTop = align(ptr + floats * 4);
    this.scratchTop = this.persistentTop;
    this.kernels.ensure(this.persistentTop);
    return ptr;
  }

  /** Copies `data` into a new persistent allocation (zero-padded to `floats` if longer). */
  persist(data: Float32Array, floats = data.length): number {
    const ptr = this.allocPersistent(floats);
    const f32 = this.kernels.f32;
    f32.fill(0, ptr >> 2, (ptr >> 2) + floats);
    f32.set(data, ptr >> 2);
    return ptr;
  }

  /** Allocates `floats` float32s valid until the next resetScratch(). Contents are undefined. */
  allocScratch(floats: number): number {
    const ptr = floats * 4 >= PAGE ? staggered(this.scratchTop, this.scratchCount++) : this.scratchTop;
    this.scratchTop = align(ptr + floats * 4);
    this.kernels.ensure(this.scratchTop);
    return ptr;
  }

  /**
   * Frees every persistent allocation made after `top` (a previous `persistentBytes`), so the
   * owner of that tail can rebuild it in place. The caller must own everything above `top`.
   */
  truncatePersistent(top: number): void {
    if (top < align(this.kernels.exports.heapBase()) || top > this.persistentTop) {
      throw new Error(`WasmArena: truncatePersistent(${top}) outside the persistent region`);
    }
    this.persistentTop = top;
    this.scratchTop = top;
    this.scratchCount = 0;
  }

  resetScratch(): void {
    this.scratchTop = this.persistentTop;
    this.scratchCount = 0;
  }

  get persistentBytes(): number {
    return this.persistentTop;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
