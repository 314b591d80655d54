import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadWasmKernelsFromFile } from '../../../src/backend/wasm/node.js';
import type { WasmKernels } from '../../../src/backend/wasm/kernels.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const WASM = join(ROOT, 'build', 'mnv2.wasm');

/** Kernels from build/mnv2.wasm, rebuilt first when missing or older than assembly/ sources. */
export function testKernels(): WasmKernels {
  const srcDir = join(ROOT, 'assembly');
  const newest = Math.max(...readdirSync(srcDir).map((f) => statSync(join(srcDir, f)).mtimeMs), statSync(join(ROOT, 'asconfig.json')).mtimeMs);
  if (!existsSync(WASM) || statSync(WASM).mtimeMs < newest) {
    execSync('npm run build:wasm', { cwd: ROOT, stdio: 'pipe' });
  }
  return loadWasmKernelsFromFile(WASM);
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
