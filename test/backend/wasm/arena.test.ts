import { describe, expect, it } from 'vitest';
import { WasmArena } from '../../../src/backend/wasm/arena.js';
import { testKernels } from './helpers.js';

describe('WasmArena', () => {
  it('starts scratch buffers of a page or more at different cache lines of a 4 KB page (no 4K aliasing between them)', () => {
    const arena = new WasmArena(testKernels());
    arena.resetScratch();
    // Sizes that are whole multiples of 4 KB, as MobileNetV2's activations are.
    const big = Array.from({ length: 64 }, (_, i) => arena.allocScratch(1024 * (1 + (i % 5))));
    const offsets = big.map((p) => p % 4096);
    for (const o of offsets) expect(o % 64).toBe(0);
    expect(new Set(offsets).size).toBe(64);
    // Buffers never overlap.
    for (let i = 1; i < big.length; i++) expect(big[i]).toBeGreaterThanOrEqual(big[i - 1] + 4096 * (1 + ((i - 1) % 5)));
  });

  it('small buffers stay packed, and a reset replays the same addresses (memory stops growing)', () => {
    const kernels = testKernels();
    const arena = new WasmArena(kernels);
    const run = () => {
      arena.resetScratch();
      const a = arena.allocScratch(3);
      const b = arena.allocScratch(5);
      const c = arena.allocScratch(2048);
      const d = arena.allocScratch(7);
      const e = arena.allocScratch(4096);
      return [a, b, c, d, e];
    };
    const first = run();
    expect(first[1] - first[0]).toBe(16);
    expect(first[4] % 4096).not.toBe(first[2] % 4096);
    const bytes = kernels.memory.buffer.byteLength;
    for (let i = 0; i < 10; i++) expect(run()).toEqual(first);
    expect(kernels.memory.buffer.byteLength).toBe(bytes);
  });
});
