import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { loadWasmKernelsFromFile } from '../../../../src/backend/wasm/node.js';
import type { WasmKernels } from '../../../../src/backend/wasm/kernels.js';
import type { WasmMobileNetV2Executor, Unit } from '../../../../src/backend/wasm/executor.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));
const WASM = join(ROOT, 'build', 'mnv2.wasm');

function newestMtime(dir: string): number {
  let t = statSync(dir).mtimeMs;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

/** Kernels from build/mnv2.wasm, rebuilt first when missing or older than any assembly/ source (train/ included). */
export function trainKernels(): WasmKernels {
  const newest = Math.max(newestMtime(join(ROOT, 'assembly')), statSync(join(ROOT, 'asconfig.json')).mtimeMs);
  if (!existsSync(WASM) || statSync(WASM).mtimeMs < newest) execSync('npm run build:wasm', { cwd: ROOT, stdio: 'pipe' });
  return loadWasmKernelsFromFile(WASM);
}

/** test/helpers/kinks.ts's `ambiguousUnits`, for the executor: runs `forward`, then lists its near-kink units. */
export function ambiguousUnitsWasm(exec: WasmMobileNetV2Executor, forward: () => void): Unit[] {
  forward();
  return exec.ambiguousUnits();
}
