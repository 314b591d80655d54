/** Node-only: loads the kernel module (build/mnv2-relaxed.wasm or build/mnv2.wasm) from disk. */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { loadWasmKernelsSync, relaxedSimdSupported, type WasmKernels } from './kernels.js';

// This file runs from src/backend/wasm (tsx, vitest) or dist/src/backend/wasm (built package).
const BUILD_DIRS = ['../../../build/', '../../../../build/'];

/**
 * Which build to load by default. `MNV2_WASM_SIMD=simd128` forces the SIMD128 build (for A/B
 * runs, or to keep results bit-identical to engines without FMA); anything else prefers relaxed.
 */
export type KernelBuild = 'relaxed' | 'simd128';

/**
 * Relaxed SIMD is on by default from V8 11.4 (Node 22); Node 20's V8 has it behind
 * --experimental-wasm-relaxed-simd, which can still be switched on before the first relaxed
 * module compiles. The flag only makes more wasm valid; it changes no existing behaviour.
 */
export function enableRelaxedSimd(): boolean {
  if (relaxedSimdSupported()) return true;
  try {
    setFlagsFromString('--experimental-wasm-relaxed-simd');
  } catch {
    return false;
  }
  return relaxedSimdSupported();
}

/** The build to load: relaxed where this Node can run it, unless MNV2_WASM_SIMD=simd128. */
export function defaultKernelBuild(): KernelBuild {
  if (process.env.MNV2_WASM_SIMD === 'simd128') return 'simd128';
  return enableRelaxedSimd() ? 'relaxed' : 'simd128';
}

/** Path of a built kernel module, or undefined when `npm run build:wasm` has not been run. */
export function defaultWasmPath(build: KernelBuild = defaultKernelBuild()): string | undefined {
  const names = build === 'relaxed' ? ['mnv2-relaxed.wasm', 'mnv2.wasm'] : ['mnv2.wasm'];
  for (const name of names) {
    for (const dir of BUILD_DIRS) {
      const p = fileURLToPath(new URL(dir + name, import.meta.url));
      if (existsSync(p)) return p;
    }
  }
  return undefined;
}

export function loadWasmKernelsFromFile(path?: string): WasmKernels {
  const file = path ?? defaultWasmPath();
  if (!file) throw new Error('build/mnv2.wasm not found: run `npm run build:wasm` first');
  if (!existsSync(file)) throw new Error(`${file}: no such file (run \`npm run build:wasm\`?)`);
  // An explicit relaxed build needs the flag as well.
  if (/relaxed/.test(file)) enableRelaxedSimd();
  return loadWasmKernelsSync(new Uint8Array(readFileSync(file)), file);
}
