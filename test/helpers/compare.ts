import { expect } from 'vitest';
import type { Tensor } from '../../src/tensor/tensor.js';

export interface Parity {
  maxAbsErr: number;
  bound: number;
  ok: boolean;
}

/** The project's tolerance: max|ours - torch| <= 1e-4 * max(1, max|torch|). */
export function parity(ours: Tensor | Float32Array, ref: Tensor | Float32Array): Parity {
  const a = 'data' in ours && !(ours instanceof Float32Array) ? ours.data : (ours as Float32Array);
  const b = 'data' in ref && !(ref instanceof Float32Array) ? ref.data : (ref as Float32Array);
  if (a.length !== b.length) return { maxAbsErr: Infinity, bound: 0, ok: false };
  let maxAbsErr = 0;
  let maxRef = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i] - b[i]);
    // NaN must fail, so compare with !(d <= ...) semantics.
    maxAbsErr = Number.isNaN(d) ? Infinity : Math.max(maxAbsErr, d);
    maxRef = Math.max(maxRef, Math.abs(b[i]));
  }
  const bound = 1e-4 * Math.max(1, maxRef);
  return { maxAbsErr, bound, ok: maxAbsErr <= bound };
}

/** Gradient tolerance from the training issue: 1e-4 * max|torch| + 1e-7 when the magnitude is below 1. */
export function gradParity(ours: Tensor | Float32Array, ref: Tensor | Float32Array): Parity {
  const p = parity(ours, ref);
  const b = 'data' in ref && !(ref instanceof Float32Array) ? ref.data : (ref as Float32Array);
  let maxRef = 0;
  for (const v of b) maxRef = Math.max(maxRef, Math.abs(v));
  if (maxRef < 1) {
    const bound = 1e-4 * maxRef + 1e-7;
    return { maxAbsErr: p.maxAbsErr, bound, ok: p.maxAbsErr <= bound };
  }
  return p;
}

/** Worst error/bound ratio seen by this test process, for the issue notes. */
export const worst = { ratio: 0, label: '' };

export function expectParity(ours: Tensor, ref: Tensor, label: string, kind: 'value' | 'grad' = 'value'): Parity {
  expect(ours.shape, `${label}: shape`).toEqual(ref.shape);
  const p = kind === 'grad' ? gradParity(ours, ref) : parity(ours, ref);
  if (p.maxAbsErr / p.bound > worst.ratio) {
    worst.ratio = p.maxAbsErr / p.bound;
    worst.label = `${label}: err ${p.maxAbsErr.toExponential(3)} vs bound ${p.bound.toExponential(3)}`;
  }
  expect(p.maxAbsErr, `${label}: max|ours - torch| = ${p.maxAbsErr} exceeds ${p.bound}`).toBeLessThanOrEqual(p.bound);
  return p;
}
