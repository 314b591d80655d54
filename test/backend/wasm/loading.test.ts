import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { loadWasmKernels, loadWasmKernelsSync, preferredKernelFile, relaxedSimdSupported } from '../../../src/backend/wasm/kernels.js';
import { defaultKernelBuild, defaultWasmPath, enableRelaxedSimd, loadWasmKernelsFromFile } from '../../../src/backend/wasm/node.js';
import { WasmArena } from '../../../src/backend/wasm/arena.js';
import { testKernels } from './helpers.js';

const path = (() => {
  testKernels(); // builds build/mnv2.wasm when needed
  return new URL('../../../build/mnv2.wasm', import.meta.url);
})();

describe('loading the wasm kernels', () => {
  it('instantiates from bytes, an ArrayBuffer and a compiled module', async () => {
    const bytes = new Uint8Array(readFileSync(path));
    const fromBytes = await loadWasmKernels(bytes);
    const fromBuffer = await loadWasmKernels(bytes.slice().buffer);
    const fromModule = await loadWasmKernels(new WebAssembly.Module(bytes));
    for (const k of [fromBytes, fromBuffer, fromModule, loadWasmKernelsSync(bytes)]) {
      expect(typeof k.exports.gemm).toBe('function');
      expect(k.exports.heapBase()).toBeGreaterThan(0);
    }
  });

  it('rejects bytes that are not the kernel module, naming the source', async () => {
    await expect(loadWasmKernels(new Uint8Array([1, 2, 3, 4]))).rejects.toThrow(/mnv2\.wasm: not a loadable/);
    expect(() => loadWasmKernelsSync(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0]), 'empty.wasm')).toThrow(/empty\.wasm: missing export/);
    expect(() => loadWasmKernelsFromFile('/nonexistent/mnv2.wasm')).toThrow(/\/nonexistent\/mnv2\.wasm: no such file/);
    await expect(loadWasmKernels(path)).rejects.toThrow(/file: URLs/);
  });

  it('arena: persistent allocations are refused while scratch is live, and views follow memory growth', () => {
    const k = loadWasmKernelsSync(new Uint8Array(readFileSync(path)));
    const arena = new WasmArena(k);
    const p = arena.persist(Float32Array.of(1, 2, 3));
    expect(p % 16).toBe(0);
    arena.allocScratch(10);
    expect(() => arena.allocPersistent(4)).toThrow(/scratch/);
    arena.resetScratch();
    const before = k.memory.buffer.byteLength;
    const big = arena.allocScratch(before); // 4x the current memory, forces growth
    expect(k.memory.buffer.byteLength).toBeGreaterThan(before);
    k.f32[(big >> 2) + before - 1] = 5;
    expect(Array.from(k.f32.subarray(p >> 2, (p >> 2) + 3))).toEqual([1, 2, 3]);
  });
});

describe('choosing the kernel build', () => {
  it('Node loads the relaxed-SIMD build by default (switching the V8 flag on where needed), SIMD128 on request', () => {
    testKernels('relaxed');
    expect(enableRelaxedSimd()).toBe(true);
    expect(relaxedSimdSupported()).toBe(true);
    expect(preferredKernelFile()).toBe('mnv2-relaxed.wasm');
    const saved = process.env.MNV2_WASM_SIMD;
    try {
      delete process.env.MNV2_WASM_SIMD;
      expect(defaultKernelBuild()).toBe('relaxed');
      expect(defaultWasmPath()).toMatch(/build\/mnv2-relaxed\.wasm$/);
      expect(loadWasmKernelsFromFile().relaxedSimd).toBe(true);
      process.env.MNV2_WASM_SIMD = 'simd128';
      expect(defaultKernelBuild()).toBe('simd128');
      expect(defaultWasmPath()).toMatch(/build\/mnv2\.wasm$/);
      expect(loadWasmKernelsFromFile().relaxedSimd).toBe(false);
    } finally {
      if (saved === undefined) delete process.env.MNV2_WASM_SIMD;
      else process.env.MNV2_WASM_SIMD = saved;
    }
  });

  it('the two builds export the same kernels, and each says which it is', () => {
    const simd = testKernels('simd128');
    const relaxed = testKernels('relaxed');
    const names = (k: typeof simd) => Object.keys(k.exports).sort();
    expect(names(relaxed)).toEqual(names(simd));
    expect([simd.relaxedSimd, relaxed.relaxedSimd]).toEqual([false, true]);
  });
});
