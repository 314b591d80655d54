/**
 * The project's standard train/val split, runtime-safe (no file system): within each
 * class, file names sorted in byte order (UTF-8, as Python's `sorted` on str for
 * these names), the file at index i goes to val when `i % 5 == 4`, else to train.
 */

const utf8 = new TextEncoder();

/** Orders strings by their UTF-8 bytes (= Unicode code point order, unlike JS's UTF-16 `<`). */
export function compareBytes(a: string, b: string): number {
  if (a === b) return 0;
  const x = utf8.encode(a);
  const y = utf8.encode(b);
  const n = Math.min(x.length, y.length);
  for (let i = 0; i < n; i++) if (x[i] !== y[i]) return x[i] - y[i];
  return x.length - y.length;
}

/** Whether the file at sorted index `i` of its class belongs to the val split. */
export function isValIndex(i: number): boolean {
  return i % 5 === 4;
}

/** Splits one class's file names (sorted here, in byte order) by the standard rule. */
export function standardSplit(names: readonly string[]): { train: string[]; val: string[] } {
  const sorted = [...names].sort(compareBytes);
  const train: string[] = [];
  const val: string[] = [];
  sorted.forEach((n, i) => (isValIndex(i) ? val : train).push(n));
  return { train, val };
}

/** File extensions the decoder reads (JPEG, PNG, BMP); anything else in a class folder is skipped. */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.jpe', '.png', '.bmp'];

export function isImageFileName(name: string): boolean {
  if (name.startsWith('.')) return false;
  const dot = name.lastIndexOf('.');
  return dot > 0 && IMAGE_EXTENSIONS.includes(name.slice(dot).toLowerCase());
}
