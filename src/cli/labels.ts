/** Node-only: class names from label files, class_indices.json files and checkpoints. */
import { readFileSync } from 'node:fs';

function readText(path: string, what: string): string {
  try {
    return readFileSync(path, 'utf8');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    const why = code === 'ENOENT' ? 'no such file' : code === 'EISDIR' ? 'it is a directory' : (e as Error).message;
    throw new Error(`${path}: cannot read ${what} (${why})`);
  }
}

function checkNames(values: unknown[], path: string): string[] {
  const bad = values.findIndex((v) => typeof v !== 'string');
  if (bad >= 0) throw new Error(`${path}: label ${bad} is not a string (${JSON.stringify(values[bad])})`);
  if (values.length === 0) throw new Error(`${path}: no labels in the file`);
  return values as string[];
}

/**
 * `--labels`: a JSON array of names, or a text file with one name per line. A 1001-line
 * text list starting with "background" (TF-slim's ImageNet order) loses that first entry.
 */
export function loadLabelsFile(path: string): string[] {
  const text = readText(path, 'labels file');
  const trimmed = text.trimStart();
  if (trimmed.startsWith('[') || trimmed.startsWith('{')) {
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      throw new Error(`${path}: invalid JSON in labels file (${(e as Error).message})`);
    }
    if (!Array.isArray(parsed)) return classIndicesToLabels(parsed, path);
    return checkNames(parsed, path);
  }
  const lines = text.split(/\r?\n/);
  while (lines.length && lines[lines.length - 1].trim() === '') lines.pop();
  if (lines.length === 1001 && lines[0].trim().toLowerCase() === 'background') lines.shift();
  return checkNames(lines.map((l) => l.trim()), path);
}

/** `--classes`: the seed's class_indices.json (`{"0": "daisy", ...}`) or a plain array. */
export function loadClassIndicesFile(path: string): string[] {
  const text = readText(path, 'class indices file');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (e) {
    throw new Error(`${path}: invalid JSON in class indices file (${(e as Error).message})`);
  }
  if (Array.isArray(parsed)) return checkNames(parsed, path);
  return classIndicesToLabels(parsed, path);
}

/** `{"0": "daisy", "1": "dandelion"}` -> ['daisy', 'dandelion']; every index 0..n-1 must be present. */
export function classIndicesToLabels(obj: unknown, path: string): string[] {
  if (obj === null || typeof obj !== 'object') throw new Error(`${path}: expected a JSON object {"0": "name", ...} or an array of names`);
  const entries = Object.entries(obj as Record<string, unknown>);
  const out: string[] = new Array(entries.length);
  for (const [k, v] of entries) {
    const i = Number(k);
    if (!/^\d+$/.test(k) || i >= entries.length) {
      throw new Error(`${path}: class index "${k}" is not an integer in 0..${entries.length - 1}`);
    }
    if (typeof v !== 'string') throw new Error(`${path}: class ${k} is not a string (${JSON.stringify(v)})`);
    out[i] = v;
  }
  const missing = out.findIndex((v) => v === undefined);
  if (missing >= 0) throw new Error(`${path}: class index ${missing} is missing`);
  return checkNames(out, path);
}

/** Class names a training checkpoint carries (`classes` as a list, or a class_to_idx/idx_to_class dict). */
export function labelsFromCheckpoint(extra: Record<string, unknown>): string[] | undefined {
  const c = extra.classes;
  if (Array.isArray(c) && c.length > 0 && c.every((v) => typeof v === 'string')) return c as string[];
  if (c && typeof c === 'object' && !Array.isArray(c)) {
    try {
      return classIndicesToLabels(c, 'checkpoint');
    } catch {
      return undefined;
    }
  }
  return undefined;
}
