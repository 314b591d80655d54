import { readFileSync, renameSync, unlinkSync, writeFileSync } from 'node:fs';
import { readWeights, type WeightsFile } from './weights.js';

/** Node-only file helpers for weights; the readers themselves take bytes and run anywhere. */

export function loadWeightsFile(path: string, opts: { key?: string } = {}): WeightsFile {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new Error(`${path}: cannot read weights file (${why})`);
  }
  return readWeights(bytes, { name: path, key: opts.key });
}

/** Writes via a temporary file and a rename, so a crash never leaves a half-written file at `path`. */
export function saveFileAtomic(path: string, bytes: Uint8Array): void {
  const tmp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(tmp, bytes);
    renameSync(tmp, path);
  } catch (e) {
    try {
      unlinkSync(tmp);
    } catch {
      // The temporary file may never have been created.
    }
    throw new Error(`${path}: cannot write file (${(e as Error).message})`);
  }
}
