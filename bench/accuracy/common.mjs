// Shared bits of the accuracy benchmark: the built library's modules, the reference
// preprocessing (Resize((224, 224)) + Normalize(0.5), as gen_fixtures.py's `flowers`), and timing.
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const IMAGE_SIZE = 224;
export const MEAN = [0.5, 0.5, 0.5];
export const STD = [0.5, 0.5, 0.5];

/** Imports dist/src/<rel>; a clear error when the library has not been built. */
export async function lib(rel) {
  const p = join(ROOT, 'dist', 'src', rel);
  if (!existsSync(p)) throw new Error(`${p} not found: run \`npm run build\` (npm run bench:accuracy does)`);
  return import(p);
}

export const now = () => performance.now() / 1000;

/** A progress line on stderr at most every `everyS` seconds, and at the end. */
export function progressLogger(label, total, everyS = 30) {
  const t0 = now();
  let last = t0;
  return (done) => {
    const t = now();
    if (done < total && t - last < everyS) return;
    last = t;
    const rate = done / Math.max(t - t0, 1e-9);
    const eta = rate > 0 ? (total - done) / rate : NaN;
    process.stderr.write(`${label}: ${done}/${total}  ${(t - t0).toFixed(1)} s  ${rate.toFixed(1)} img/s${done < total ? `  eta ${eta.toFixed(0)} s` : ''}\n`);
  };
}
