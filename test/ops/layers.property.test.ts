import { describe, expect, it, vi } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/rng.js';
import { relu6, relu6Backward } from '../../src/ops/activation.js';
import { BatchNorm2d, Conv2d, Linear, ReLU6, Sequential } from '../../src/nn/index.js';

/**
 * ReLU6's gradient mask, and module-level backprop: gradient accumulation over
 * several backward calls, zeroGrad, frozen layers, and Sequential stopping at the
 * lowest trainable layer.
 */

function randn(shape: number[], rng: Rng): Tensor {
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
  return t;
}

/** Values on and around ReLU6's kinks, plus any finite or infinite float32. */
const activation = fc.oneof(
  fc.constantFrom(0, -0, 6, Math.fround(6 - 2 ** -21), Math.fround(6 + 2 ** -21), 1e-45, -1e-45, Infinity, -Infinity),
  fc.float({ noNaN: true }),
  fc.float({ min: -1, max: 7, noNaN: true }),
);

describe('ReLU6 backward', () => {
  it('passes the gradient exactly where 0 < x < 6 and is 0 elsewhere (kinks included), from input or output alike', () => {
    fc.assert(
      fc.property(fc.array(fc.tuple(activation, fc.float({ noNaN: true, noDefaultInfinity: true })), { minLength: 1, maxLength: 64 }), (pairs) => {
        const x = Tensor.from(pairs.map(([v]) => v));
        const g = Tensor.from(pairs.map(([, d]) => d));
        const fromInput = relu6Backward(g, x).data;
        const fromOutput = relu6Backward(g, relu6(x)).data;
        pairs.forEach(([v, d], i) => {
          const want = v > 0 && v < 6 ? Math.fround(d) : 0;
          expect(fromInput[i], `x=${v}`).toBe(want);
          expect(fromOutput[i], `x=${v} via relu6(x)`).toBe(want);
        });
      }),
      { numRuns: 200 },
    );
  });

  it('lets the gradient through a NaN input, as hardtanh_backward (x <= 0 || x >= 6 ? 0 : g) does', () => {
    const x = Tensor.from([NaN, -1, 7]);
    const g = Tensor.from([0.5, 0.5, 0.5]);
    expect(Array.from(relu6Backward(g, x).data)).toEqual([0.5, 0, 0]);
    expect(Array.from(relu6Backward(g, relu6(x)).data)).toEqual([0.5, 0, 0]);
  });
});

const layerCase = fc.record({
  n: fc.integer({ min: 1, max: 3 }),
  cin: fc.integer({ min: 1, max: 6 }),
  cout: fc.integer({ min: 1, max: 6 }),
  hw: fc.integer({ min: 3, max: 6 }),
  seed: fc.integer({ min: 0, max: 0x7fffffff }),
});

const copyGrad = (t: Tensor | null): Float32Array => {
  expect(t).not.toBeNull();
  return Float32Array.from(t!.data);
};

function expectSum(acc: Tensor | null, a: Float32Array, b: Float32Array, label: string): void {
  expect(acc, label).not.toBeNull();
  acc!.data.forEach((v, i) => expect(Math.abs(v - Math.fround(a[i] + b[i])), `${label}[${i}]`).toBeLessThanOrEqual(1e-6 * (Math.abs(a[i]) + Math.abs(b[i]))));
}

describe('module-level backward', () => {
  it('Linear: two backward calls accumulate gradients, zeroGrad resets them to null', () => {
    fc.assert(
      fc.property(layerCase, ({ n, cin, cout, seed }) => {
        const rng = new Rng(seed);
        const lin = new Linear(cin, cout, { rng });
        const x1 = randn([n, cin], rng);
        const x2 = randn([n, cin], rng);
        const g1 = randn([n, cout], rng);
        const g2 = randn([n, cout], rng);
        expect(lin.weight.grad).toBeNull();

        lin.forward(x1);
        lin.backward(g1, false);
        const w1 = copyGrad(lin.weight.grad);
        const b1 = copyGrad(lin.bias!.grad);
        lin.zeroGrad();
        expect(lin.weight.grad).toBeNull();
        expect(lin.bias!.grad).toBeNull();
        lin.forward(x2);
        lin.backward(g2, false);
        const w2 = copyGrad(lin.weight.grad);
        const b2 = copyGrad(lin.bias!.grad);

        lin.zeroGrad();
        lin.forward(x1);
        lin.backward(g1, false);
        lin.forward(x2);
        lin.backward(g2, false);
        expectSum(lin.weight.grad, w1, w2, 'weight.grad');
        expectSum(lin.bias!.grad, b1, b2, 'bias.grad');
      }),
      { numRuns: 50 },
    );
  });

  it('Conv2d: two backward calls accumulate gradients, zeroGrad resets them; frozen, it gets none but still passes dx', () => {
    fc.assert(
      fc.property(layerCase, fc.constantFrom(1, 2), ({ n, cin, cout, hw, seed }, stride) => {
        const rng = new Rng(seed);
        const conv = new Conv2d(cin, cout, 3, { stride, padding: 1, rng });
        const x1 = randn([n, cin, hw, hw], rng);
        const x2 = randn([n, cin, hw, hw], rng);
        const oh = Math.floor((hw - 1) / stride) + 1;
        const g1 = randn([n, cout, oh, oh], rng);
        const g2 = randn([n, cout, oh, oh], rng);

        conv.forward(x1);
        const dx1 = conv.backward(g1, true)!;
        const w1 = copyGrad(conv.weight.grad);
        const b1 = copyGrad(conv.bias!.grad);
        conv.zeroGrad();
        expect(conv.weight.grad).toBeNull();
        expect(conv.bias!.grad).toBeNull();
        conv.forward(x2);
        conv.backward(g2, false);
        const w2 = copyGrad(conv.weight.grad);
        const b2 = copyGrad(conv.bias!.grad);

        conv.zeroGrad();
        conv.forward(x1);
        conv.backward(g1, false);
        conv.forward(x2);
        conv.backward(g2, false);
        expectSum(conv.weight.grad, w1, w2, 'weight.grad');
        expectSum(conv.bias!.grad, b1, b2, 'bias.grad');

        conv.zeroGrad();
        conv.requiresGrad_(false);
        expect(conv.hasTrainableParameters()).toBe(false);
        conv.forward(x1);
        const dxFrozen = conv.backward(g1, true)!;
        expect(conv.weight.grad).toBeNull();
        expect(conv.bias!.grad).toBeNull();
        // Freezing the weights does not change the gradient flowing through them.
        expect(Array.from(dxFrozen.data)).toEqual(Array.from(dx1.data));
      }),
      { numRuns: 50 },
    );
  });

  it('Sequential with a frozen lower half: null input grad, no backward below the lowest trainable layer', () => {
    fc.assert(
      fc.property(
        fc.record({ frozen: fc.integer({ min: 1, max: 4 }), trainable: fc.integer({ min: 1, max: 3 }), seed: fc.integer({ min: 0, max: 0x7fffffff }) }),
        ({ frozen, trainable, seed }) => {
          const rng = new Rng(seed);
          const c = 3;
          // conv, BN, ReLU6 repeating: the frozen part mixes parameterless and parametrized layers.
          const make = (i: number) => (i % 3 === 0 ? new Conv2d(c, c, 3, { padding: 1, rng }) : i % 3 === 1 ? new BatchNorm2d(c) : new ReLU6());
          const lower = Array.from({ length: frozen }, (_, i) => make(i));
          const upper = Array.from({ length: trainable }, () => new Conv2d(c, c, 1, { rng }));
          const seq = new Sequential(...lower, ...upper);
          for (const m of lower) m.requiresGrad_(false);
          seq.train();
          const spies = lower.map((m) => vi.spyOn(m, 'backward'));
          const upperSpies = upper.map((m) => vi.spyOn(m, 'backward'));

          const x = randn([2, c, 4, 4], rng);
          const y = seq.forward(x);
          const dx = seq.backward(randn([...y.shape], rng), false);
          expect(dx).toBeNull();
          spies.forEach((s, i) => expect(s, `frozen layer ${i} ran backward`).not.toHaveBeenCalled());
          upperSpies.forEach((s) => expect(s).toHaveBeenCalledTimes(1));
          // The lowest trainable layer is asked for its parameter grads only.
          expect(upperSpies[0].mock.calls[0][1]).toBe(false);
          for (const m of lower) for (const p of m.parameters()) expect(p.grad).toBeNull();
          for (const m of upper) for (const p of m.parameters()) expect(p.grad).not.toBeNull();

          // Asking for the input gradient walks every layer.
          seq.zeroGrad();
          const y2 = seq.forward(x);
          const dx2 = seq.backward(randn([...y2.shape], rng), true);
          expect(dx2?.shape).toEqual(x.shape);
          spies.forEach((s) => expect(s).toHaveBeenCalledTimes(1));
          for (const m of lower) for (const p of m.parameters()) expect(p.grad).toBeNull();
        },
      ),
      { numRuns: 30 },
    );
  });
});
