import type { WasmKernels } from './kernels.js';

const ALIGN = 16;

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
    const ptr = this.scratchTop;
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
  }

  resetScratch(): void {
    this.scratchTop = this.persistentTop;
  }

  get persistentBytes(): number {
    return this.persistentTop;
  }
}

function align(n: number): number {
  return Math.ceil(n / ALIGN) * ALIGN;
}
