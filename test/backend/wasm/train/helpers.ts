import type { KernelBuild } from '../../../../src/backend/wasm/node.js';
import { testKernels } from '../helpers.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import type { WasmMobileNetV2Executor, Unit } from '../../../../src/backend/wasm/executor.js';

/** Kernels of one build (training exports included), rebuilt first when stale. */
export function trainKernels(build: KernelBuild = 'simd128'): WasmKernels {
  return testKernels(build);
}

/** test/helpers/kinks.ts's `ambiguousUnits`, for the executor: runs `forward`, then lists its near-kink units. */
export function ambiguousUnitsWasm(exec: WasmMobileNetV2Executor, forward: () => void): Unit[] {
  forward();
  return exec.ambiguousUnits();
}

/** Deterministic xorshift floats in [lo, hi) (reproducible kernel inputs without fast-check). */
export function rand(n: number, seed: number, lo = -1, hi = 1): Float32Array {
  let s = seed >>> 0 || 1;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    s ^= s << 13; s >>>= 0; s ^= s >>> 17; s ^= s << 5; s >>>= 0;
    out[i] = lo + ((s >>> 8) / 16777216) * (hi - lo);
  }
  return out;
}
