import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { softmax, logSoftmax } from '../../src/ops/softmax.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';

/** Independent float64 reference: exp(x) / sum(exp(x)) per row, with no max shift (inputs kept small). */
function naiveSoftmax(x: number[], c: number): number[] {
  const out: number[] = [];
  for (let r = 0; r < x.length; r += c) {
    const e = x.slice(r, r + c).map(Math.exp);
    const s = e.reduce((a, b) => a + b, 0);
    out.push(...e.map((v) => v / s));
  }
  return out;
}

describe('softmax', () => {
  it('matches a hand-computed row', () => {
    // softmax([0, ln 2, ln 3]) = [1, 2, 3] / 6
    const p = softmax(Tensor.from([0, Math.log(2), Math.log(3)], [1, 3]));
    expect(p.data[0]).toBeCloseTo(1 / 6, 7);
    expect(p.data[1]).toBeCloseTo(2 / 6, 7);
    expect(p.data[2]).toBeCloseTo(3 / 6, 7);
  });

  it('is stable for huge logits where a naive exp overflows', () => {
    const p = softmax(Tensor.from([1000, 1001, -1000], [1, 3]));
    expect(p.data[0]).toBeCloseTo(1 / (1 + Math.E), 7);
    expect(p.data[1]).toBeCloseTo(Math.E / (1 + Math.E), 7);
    expect(p.data[2]).toBe(0);
    const lp = logSoftmax(Tensor.from([1000, 1000], [1, 2]));
    expect(lp.data[0]).toBeCloseTo(-Math.LN2, 6);
  });

  it('agrees with the fixture logits probabilities (rows sum to 1, log matches)', () => {
    const logits = loadFixture('parity_small_train.safetensors').tensors.get('logits')!;
    const p = softmax(logits);
    const ref = naiveSoftmax(logits.toArray(), 5);
    const lp = logSoftmax(logits);
    for (let i = 0; i < ref.length; i++) {
      expect(Math.abs(p.data[i] - ref[i])).toBeLessThan(1e-6);
      expect(Math.abs(lp.data[i] - Math.log(ref[i]))).toBeLessThan(1e-5);
    }
  });

  it('property: rows are probability vectors equal to the float64 definition', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 4 }),
        fc.integer({ min: 1, max: 7 }),
        fc.array(fc.float({ min: -20, max: 20, noNaN: true }), { minLength: 28, maxLength: 28 }),
        (n, c, pool) => {
          const x = pool.slice(0, n * c);
          const p = softmax(Tensor.from(x, [n, c]));
          const ref = naiveSoftmax(Array.from(Float32Array.from(x)), c);
          for (let r = 0; r < n; r++) {
            let s = 0;
            for (let k = 0; k < c; k++) s += p.data[r * c + k];
            expect(Math.abs(s - 1)).toBeLessThan(1e-6);
          }
          ref.forEach((v, i) => expect(Math.abs(p.data[i] - v)).toBeLessThanOrEqual(1e-6 * Math.max(1, v)));
        },
      ),
      { numRuns: 200 },
    );
  });

  it('rejects non-float or rank-0 input', () => {
    expect(() => softmax(Tensor.scalarInt64(3n))).toThrow(/softmax: expected a float32 tensor/);
    expect(() => logSoftmax(Tensor.zeros([2, 0]))).toThrow(/logSoftmax: last dimension/);
  });
});
