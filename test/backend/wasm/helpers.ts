import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadWasmKernelsFromFile, type KernelBuild } from '../../../src/backend/wasm/node.js';
import type { WasmKernels } from '../../../src/backend/wasm/kernels.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Both kernel builds: every wasm test suite runs on each (the relaxed one is what Node 20+ and Chrome load by default). */
export const WASM_BUILDS: readonly KernelBuild[] = ['simd128', 'relaxed'];

export function wasmFile(build: KernelBuild): string {
  return join(ROOT, 'build', build === 'relaxed' ? 'mnv2-relaxed.wasm' : 'mnv2.wasm');
}

function newestMtime(dir: string): number {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Kernels of one build, rebuilt first when missing or older than any assembly/ source. */
export function testKernels(build: KernelBuild = 'simd128'): WasmKernels {
  const newest = Math.max(newestMtime(join(ROOT, 'assembly')), statSync(join(ROOT, 'asconfig.json')).mtimeMs);
  const stale = WASM_BUILDS.some((b) => !existsSync(wasmFile(b)) || statSync(wasmFile(b)).mtimeMs < newest);
  if (stale) execSync('npm run build:wasm', { cwd: ROOT, stdio: 'pipe' });
  const kernels = loadWasmKernelsFromFile(wasmFile(build));
  if (kernels.relaxedSimd !== (build === 'relaxed')) throw new Error(`${wasmFile(build)} is not the ${build} build`);
  return kernels;
}

/** max|ours - ref| and the fixture tolerance 1e-4 * max(1, max|ref|). */
export function maxDiff(ours: ArrayLike<number>, ref: ArrayLike<number>): { diff: number; tol: number; ok: boolean } {
  if (ours.length !== ref.length) return { diff: Infinity, tol: 0, ok: false };
  let diff = 0;
  let mx = 0;
  for (let i = 0; i < ref.length; i++) {
    const d = Math.abs(ours[i] - ref[i]);
    diff = d > diff || Number.isNaN(d) ? d : diff;
    mx = Math.max(mx, Math.abs(ref[i]));
  }
  const tol = 1e-4 * Math.max(1, mx);
  return { diff, tol, ok: diff <= tol };
}
