import { execSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { parallelWorkerScript } from '../../../../src/backend/wasm/parallel/node.js';

const ROOT = fileURLToPath(new URL('../../../../', import.meta.url));

function newest(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newest(p) : statSync(p).mtimeMs);
  }
  return t;
}

/**
 * The compiled worker script. Worker threads run dist's JS, so it is rebuilt (tsc) when missing
 * or older than any source it imports, or these tests would run stale worker code.
 */
export function workerScript(): string {
  const script = parallelWorkerScript();
  let log = '';
  if (!script || statSync(script).mtimeMs < newest(join(ROOT, 'src'))) {
    try {
      execSync('npx tsc -p tsconfig.build.json', { cwd: ROOT, stdio: 'pipe' });
    } catch (e) {
      // tsc still emits when some other file has a type error; only a missing output is fatal.
      log = String((e as { stdout?: Buffer }).stdout ?? e);
    }
  }
  const built = parallelWorkerScript();
  if (!built) throw new Error(`dist/src/backend/wasm/parallel/node_worker.js missing after tsc:\n${log}`);
  return built;
}

/** Deterministic pseudo-random NCHW input in [-2, 2). */
export function randomInput(shape: number[], seed: number): Float32Array {
  let s = seed;
  const data = new Float32Array(shape.reduce((a, b) => a * b));
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = (s / 4294967296) * 4 - 2;
  }
  return data;
}
