/** Plain-text formatting helpers for the CLI's human-readable output. */

/** 3504872 -> "3,504,872" without depending on the locale. */
export function groupDigits(n: number): string {
  return String(n).replace(/\B(?=(\d{3})+(?!\d))/g, ',');
}

/** Left-aligned columns separated by two spaces; `right` marks columns to right-align. */
export function table(rows: string[][], right: readonly number[] = []): string[] {
  const widths: number[] = [];
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)));
  return rows.map((r) =>
    r
      .map((c, i) => (right.includes(i) ? c.padStart(widths[i]) : i === r.length - 1 ? c : c.padEnd(widths[i])))
      .join('  ')
      .trimEnd(),
  );
}

export function formatMs(ms: number): string {
  return ms >= 100 ? `${ms.toFixed(0)} ms` : `${ms.toFixed(1)} ms`;
}

/** Comma-separated numbers for --mean/--std: exactly three finite values. */
export function parseTriple(value: string, flag: string): [number, number, number] {
  const parts = value.split(',').map((s) => s.trim());
  const nums = parts.map(Number);
  if (nums.length !== 3 || parts.some((p) => p === '') || nums.some((v) => !Number.isFinite(v))) {
    throw new Error(`${flag} must be three comma-separated numbers like 0.5,0.5,0.5, got '${value}'`);
  }
  return nums as [number, number, number];
}

export function parsePositiveInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n) || n < 1) {
    throw new Error(`${flag} must be a positive integer, got '${value}'`);
  }
  return n;
}

export function parsePositiveNumber(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n <= 0) throw new Error(`${flag} must be a positive number, got '${value}'`);
  return n;
}
