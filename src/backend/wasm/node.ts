/** Node-only: loads build/mnv2.wasm from disk. */
import { readFileSync, existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { loadWasmKernelsSync, type WasmKernels } from './kernels.js';

// This file runs from src/backend/wasm (tsx, vitest) or dist/src/backend/wasm (built package).
const CANDIDATES = ['../../../build/mnv2.wasm', '../../../../build/mnv2.wasm'];

/** Path of the built kernel module, or undefined when `npm run build:wasm` has not been run. */
export function defaultWasmPath(): string | undefined {
  for (const rel of CANDIDATES) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  return undefined;
}

export function loadWasmKernelsFromFile(path?: string): WasmKernels {
  const file = path ?? defaultWasmPath();
  if (!file) throw new Error('build/mnv2.wasm not found: run `npm run build:wasm` first');
  if (!existsSync(file)) throw new Error(`${file}: no such file (run \`npm run build:wasm\`?)`);
  return loadWasmKernelsSync(new Uint8Array(readFileSync(file)), file);
}
