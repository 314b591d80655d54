import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { crossEntropy } from '../../src/ops/cross_entropy.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';

const TOL = (ref: number) => 1e-4 * Math.max(1, Math.abs(ref));

/** Independent float64 label-smoothed CE of one row (no max shift; inputs in tests are moderate). */
function rowLoss(x: number[], y: number, eps: number): number {
  const lse = Math.log(x.reduce((s, v) => s + Math.exp(v), 0));
  const meanNegLogP = x.reduce((s, v) => s + (lse - v), 0) / x.length;
  return (1 - eps) * (lse - x[y]) + eps * meanNegLogP;
}

describe('crossEntropy vs PyTorch (parity_small_train.safetensors)', () => {
  const f = loadFixture('parity_small_train.safetensors');
  const logits = f.tensors.get('logits')!;
  const target = f.tensors.get('target')!;

  it('plain and label-smoothed loss match F.cross_entropy', () => {
    expect(logits.shape).toEqual([4, 5]);
    expect(target.dtype).toBe('int64');
    const plain = crossEntropy(logits, target.int64!);
    const torchPlain = f.tensors.get('loss')!.data[0];
    expect(Math.abs(plain.loss - torchPlain)).toBeLessThanOrEqual(TOL(torchPlain));
    const ls = crossEntropy(logits, target, { labelSmoothing: 0.1 });
    const torchLs = f.tensors.get('loss_label_smoothing_0.1')!.data[0];
    expect(Math.abs(ls.loss - torchLs)).toBeLessThanOrEqual(TOL(torchLs));
    // The two differ by far more than the tolerance, so a dropped ε would be caught.
    expect(Math.abs(torchPlain - torchLs)).toBeGreaterThan(10 * TOL(torchLs));
  });

  it("the logits gradient summed over the batch equals PyTorch's classifier bias gradient", () => {
    // logits = h W^T + b, so dL/db = sum_i dL/dlogits_i (the fixture grads are from the ε=0.1 loss).
    const { grad } = crossEntropy(logits, target, { labelSmoothing: 0.1 });
    const torchDb = f.tensors.get('grad.classifier.1.bias')!;
    const scale = Math.max(1, ...torchDb.toArray().map(Math.abs));
    for (let c = 0; c < 5; c++) {
      let s = 0;
      for (let i = 0; i < 4; i++) s += grad.data[i * 5 + c];
      expect(Math.abs(s - torchDb.data[c])).toBeLessThanOrEqual(1e-4 * scale);
    }
  });

  it('sum and none reductions agree with mean', () => {
    const mean = crossEntropy(logits, target, { labelSmoothing: 0.1 });
    const sum = crossEntropy(logits, target, { labelSmoothing: 0.1, reduction: 'sum' });
    const none = crossEntropy(logits, target, { labelSmoothing: 0.1, reduction: 'none' });
    expect(sum.loss).toBeCloseTo(4 * mean.loss, 5);
    expect(none.loss.length).toBe(4);
    const x = logits.toArray();
    const y = target.toArray();
    none.loss.forEach((l, i) => expect(l).toBeCloseTo(rowLoss(x.slice(i * 5, i * 5 + 5), y[i], 0.1), 5));
    sum.grad.data.forEach((g, i) => expect(g).toBeCloseTo(4 * mean.grad.data[i], 6));
    expect(Array.from(none.grad.data)).toEqual(Array.from(sum.grad.data));
  });
});

describe('crossEntropy properties', () => {
  const batch = fc
    .record({
      n: fc.integer({ min: 1, max: 4 }),
      c: fc.integer({ min: 2, max: 6 }),
      eps: fc.constantFrom(0, 0.1, 0.35, 1),
      pool: fc.array(fc.float({ min: -8, max: 8, noNaN: true }), { minLength: 24, maxLength: 24 }),
      ys: fc.array(fc.nat(), { minLength: 4, maxLength: 4 }),
    })
    .map(({ n, c, eps, pool, ys }) => ({
      logits: Tensor.from(pool.slice(0, n * c), [n, c]),
      target: ys.slice(0, n).map((v) => v % c),
      n,
      c,
      eps,
    }));

  it('every gradient row sums to 0', () => {
    fc.assert(
      fc.property(batch, ({ logits, target, n, c, eps }) => {
        const { grad } = crossEntropy(logits, target, { labelSmoothing: eps });
        for (let i = 0; i < n; i++) {
          let s = 0;
          for (let k = 0; k < c; k++) s += grad.data[i * c + k];
          expect(Math.abs(s)).toBeLessThan(1e-6);
        }
      }),
      { numRuns: 200 },
    );
  });

  it('the gradient matches central finite differences of the float64 loss', () => {
    fc.assert(
      fc.property(batch, ({ logits, target, n, c, eps }) => {
        const { loss, grad } = crossEntropy(logits, target, { labelSmoothing: eps });
        const x = logits.toArray();
        const ref = target.reduce((s, y, i) => s + rowLoss(x.slice(i * c, i * c + c), y, eps), 0) / n;
        expect(Math.abs(loss - ref)).toBeLessThan(1e-9 * Math.max(1, ref));
        const h = 1e-2;
        for (let j = 0; j < x.length; j++) {
          // Perturb through float32 and divide by the step actually taken.
          const up = logits.clone();
          up.data[j] += h;
          const down = logits.clone();
          down.data[j] -= h;
          const fd =
            (crossEntropy(up, target, { labelSmoothing: eps }).loss - crossEntropy(down, target, { labelSmoothing: eps }).loss) /
            (up.data[j] - down.data[j]);
          expect(Math.abs(fd - grad.data[j])).toBeLessThan(1e-4);
        }
      }),
      { numRuns: 100 },
    );
  });
});

describe('crossEntropy input checks', () => {
  const x = Tensor.from([1, 2, 3, 4, 5, 6], [2, 3]);
  it('rejects targets out of range or of the wrong count', () => {
    expect(() => crossEntropy(x, [0, 3])).toThrow(/crossEntropy: target\[1\] = 3 is not a class index in \[0, 3\)/);
    expect(() => crossEntropy(x, [-1, 0])).toThrow(/target\[0\] = -1/);
    expect(() => crossEntropy(x, [0.5, 0])).toThrow(/target\[0\] = 0.5/);
    expect(() => crossEntropy(x, [0])).toThrow(/1 targets for a batch of 2/);
  });
  it('rejects NaN/Inf logits, bad shapes and options', () => {
    expect(() => crossEntropy(Tensor.from([1, NaN, 3, 4, 5, 6], [2, 3]), [0, 1])).toThrow(/logits\[0, 1\] is NaN/);
    expect(() => crossEntropy(Tensor.from([1, 2, 3, 4, 5, Infinity], [2, 3]), [0, 1])).toThrow(/logits\[1, 2\] is Infinity/);
    expect(() => crossEntropy(Tensor.from([1, 2, 3]), [0])).toThrow(/float32 \[N, C\]/);
    expect(() => crossEntropy(x, [0, 1], { labelSmoothing: 1.5 })).toThrow(/labelSmoothing/);
  });
  it('accepts Int32Array and int64 targets alike', () => {
    const a = crossEntropy(x, Int32Array.of(2, 0)).loss;
    const b = crossEntropy(x, BigInt64Array.of(2n, 0n)).loss;
    expect(a).toBe(b);
    expect(a).toBeCloseTo((rowLoss([1, 2, 3], 2, 0) + rowLoss([4, 5, 6], 0, 0)) / 2, 12);
  });
});
