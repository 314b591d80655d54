import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { readSafetensors, type SafetensorsFile } from '../../src/io/safetensors.js';

export const FIXTURES = fileURLToPath(new URL('../../fixtures/', import.meta.url));

export function fixturePath(...parts: string[]): string {
  return join(FIXTURES, ...parts);
}

const cache = new Map<string, SafetensorsFile>();

/** Reads (once per test file) a safetensors fixture. */
export function loadFixture(name: string): SafetensorsFile {
  let f = cache.get(name);
  if (!f) {
    f = readSafetensors(new Uint8Array(readFileSync(fixturePath(name))), name);
    cache.set(name, f);
  }
  return f;
}
