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
