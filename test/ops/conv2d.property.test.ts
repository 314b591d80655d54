import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../src/tensor/tensor.js';
import { Rng } from '../../src/tensor/rng.js';
import {
  conv2d,
  conv2dBackwardBias,
  conv2dBackwardInput,
  conv2dBackwardWeight,
  type Conv2dOptions,
} from '../../src/ops/conv2d.js';
import { linear } from '../../src/ops/linear.js';

/**
 * Properties of the reference conv2d and its backward kernels on random small
 * geometries. Tensor contents come from a seeded Rng so that fast-check shrinks
 * the geometry (the part that breaks index arithmetic) and the seed.
 */

interface ConvCase {
  n: number;
  cin: number;
  cout: number;
  groups: number;
  k: number;
  stride: number;
  padding: number;
  h: number;
  w: number;
  seed: number;
}

const divisors = (c: number): number[] => Array.from({ length: c }, (_, i) => i + 1).filter((d) => c % d === 0);

const outSize = (size: number, k: number, stride: number, padding: number): number => Math.floor((size + 2 * padding - k) / stride) + 1;

/** cin, cout in 1..12 with a common divisor as groups; spatial sizes 1..9; only geometries with a non-empty output. */
const convCase = (fixed: Partial<Pick<ConvCase, 'k' | 'stride' | 'padding'>> = {}): fc.Arbitrary<ConvCase> =>
  fc
    .record({
      n: fc.integer({ min: 1, max: 3 }),
      cin: fc.integer({ min: 1, max: 12 }),
      k: fixed.k !== undefined ? fc.constant(fixed.k) : fc.constantFrom(1, 3),
      stride: fixed.stride !== undefined ? fc.constant(fixed.stride) : fc.constantFrom(1, 2),
      padding: fixed.padding !== undefined ? fc.constant(fixed.padding) : fc.constantFrom(0, 1),
      h: fc.integer({ min: 1, max: 9 }),
      w: fc.integer({ min: 1, max: 9 }),
      seed: fc.integer({ min: 0, max: 0x7fffffff }),
    })
    .chain((c) =>
      fc.constantFrom(...divisors(c.cin)).chain((groups) =>
        fc.integer({ min: 1, max: Math.floor(12 / groups) }).map((perGroup) => ({ ...c, groups, cout: groups * perGroup })),
      ),
    )
    .filter((c) => outSize(c.h, c.k, c.stride, c.padding) > 0 && outSize(c.w, c.k, c.stride, c.padding) > 0);

function randn(shape: number[], rng: Rng): Tensor {
  const t = Tensor.zeros(shape);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.normal();
  return t;
}

function tensors(c: ConvCase) {
  const rng = new Rng(c.seed);
  const opts: Conv2dOptions = { stride: c.stride, padding: c.padding, groups: c.groups };
  const x = randn([c.n, c.cin, c.h, c.w], rng);
  const w = randn([c.cout, c.cin / c.groups, c.k, c.k], rng);
  const b = randn([c.cout], rng);
  const y = randn([c.n, c.cout, outSize(c.h, c.k, c.stride, c.padding), outSize(c.w, c.k, c.stride, c.padding)], rng);
  return { opts, x, w, b, y };
}

/** Float64 inner product of two equally long arrays. */
function dot(a: Float32Array, b: Float32Array): number {
  expect(a.length).toBe(b.length);
  let s = 0;
  for (let i = 0; i < a.length; i++) s += a[i] * b[i];
  return s;
}

const abs = (t: Tensor): Tensor => new Tensor(t.data.map(Math.abs), t.shape);

/**
 * Sum over all |w| |x| |y| products that make up <conv(x, w), y>: a rounding
 * error bound for both sides of an adjoint identity, however much they cancel.
 */
function magnitude(x: Tensor, w: Tensor, y: Tensor, opts: Conv2dOptions): number {
  return dot(conv2d(abs(x), abs(w), null, opts).data, abs(y).data);
}

const RUNS = { numRuns: 100 };

describe('conv2d properties (random geometries)', () => {
  it('input gradient is the adjoint of the convolution: <conv(x, w), y> = <x, dX(y)>', () => {
    fc.assert(
      fc.property(convCase(), (c) => {
        const { opts, x, w, y } = tensors(c);
        const lhs = dot(conv2d(x, w, null, opts).data, y.data);
        const dx = conv2dBackwardInput(y, w, x.shape, opts);
        expect(dx.shape).toEqual(x.shape);
        const rhs = dot(x.data, dx.data);
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-5 * magnitude(x, w, y, opts) + 1e-30);
      }),
      RUNS,
    );
  });

  it('weight gradient is the adjoint in w: <conv(x, w), y> = <w, dW(x, y)>', () => {
    fc.assert(
      fc.property(convCase(), (c) => {
        const { opts, x, w, y } = tensors(c);
        const lhs = dot(conv2d(x, w, null, opts).data, y.data);
        const dw = conv2dBackwardWeight(y, x, w.shape, opts);
        expect(dw.shape).toEqual(w.shape);
        const rhs = dot(w.data, dw.data);
        expect(Math.abs(lhs - rhs)).toBeLessThanOrEqual(1e-5 * magnitude(x, w, y, opts) + 1e-30);
      }),
      RUNS,
    );
  });

  it('bias adds a per-channel constant, and its gradient is y summed over batch and pixels', () => {
    fc.assert(
      fc.property(convCase(), (c) => {
        const { opts, x, w, b, y } = tensors(c);
        const [n, cout, oh, ow] = y.shape;
        const withBias = conv2d(x, w, b, opts).data;
        const without = conv2d(x, w, null, opts).data;
        const db = conv2dBackwardBias(y);
        expect(db.shape).toEqual([cout]);
        for (let co = 0; co < cout; co++) {
          let sum = 0;
          let sumAbs = 0;
          for (let bi = 0; bi < n; bi++) {
            for (let p = 0; p < oh * ow; p++) {
              const i = (bi * cout + co) * oh * ow + p;
              sum += y.data[i];
              sumAbs += Math.abs(y.data[i]);
              expect(Math.abs(withBias[i] - without[i] - b.data[co])).toBeLessThanOrEqual(1e-6 * (Math.abs(without[i]) + Math.abs(b.data[co])));
            }
          }
          expect(Math.abs(db.data[co] - sum)).toBeLessThanOrEqual(1e-6 * sumAbs);
        }
      }),
      RUNS,
    );
  });

  it('depthwise conv (groups = C) is the per-channel single-channel convs, concatenated', () => {
    const depthwise = convCase()
      .map((c) => ({ ...c, groups: c.cin, cout: c.cin * (1 + (c.seed % 2)) }))
      .filter((c) => c.cout <= 24);
    fc.assert(
      fc.property(depthwise, (c) => {
        const { opts, x, w } = tensors(c);
        const mult = c.cout / c.cin;
        const y = conv2d(x, w, null, opts);
        const [, , oh, ow] = y.shape;
        const hw = c.h * c.w;
        const k2 = c.k * c.k;
        for (let ch = 0; ch < c.cin; ch++) {
          const xc = Tensor.zeros([c.n, 1, c.h, c.w]);
          for (let bi = 0; bi < c.n; bi++) xc.data.set(x.data.subarray((bi * c.cin + ch) * hw, (bi * c.cin + ch + 1) * hw), bi * hw);
          const wc = new Tensor(w.data.slice(ch * mult * k2, (ch + 1) * mult * k2), [mult, 1, c.k, c.k]);
          const yc = conv2d(xc, wc, null, { stride: c.stride, padding: c.padding });
          for (let bi = 0; bi < c.n; bi++) {
            for (let m = 0; m < mult; m++) {
              const ours = y.data.subarray((bi * c.cout + ch * mult + m) * oh * ow, (bi * c.cout + ch * mult + m + 1) * oh * ow);
              const single = yc.data.subarray((bi * mult + m) * oh * ow, (bi * mult + m + 1) * oh * ow);
              // Same products in the same order: bit-identical.
              expect(Array.from(ours)).toEqual(Array.from(single));
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('3x3 convs with padding 1 (the direct depthwise and im2col stem paths) follow the definition at strides 1-3', () => {
    // Stride 3 is not a MobileNetV2 layer, but it must not take the stride-2 path.
    const case3x3 = fc
      .record({
        n: fc.integer({ min: 1, max: 2 }),
        c: fc.integer({ min: 1, max: 5 }),
        depthwise: fc.boolean(),
        stride: fc.constantFrom(1, 2, 3),
        h: fc.integer({ min: 1, max: 11 }),
        w: fc.integer({ min: 1, max: 11 }),
        seed: fc.integer({ min: 0, max: 0x7fffffff }),
      })
      .map((c) => ({ ...c, cin: c.depthwise ? c.c : Math.min(c.c, 4), cout: c.depthwise ? c.c : 1 + (c.seed % 6) }));
    fc.assert(
      fc.property(case3x3, (c) => {
        const rng = new Rng(c.seed);
        const groups = c.depthwise ? c.cin : 1;
        const x = randn([c.n, c.cin, c.h, c.w], rng);
        const w = randn([c.cout, c.cin / groups, 3, 3], rng);
        const y = conv2d(x, w, null, { stride: c.stride, padding: 1, groups });
        const oh = outSize(c.h, 3, c.stride, 1);
        const ow = outSize(c.w, 3, c.stride, 1);
        expect(y.shape).toEqual([c.n, c.cout, oh, ow]);
        const cinG = c.cin / groups;
        for (let b = 0; b < c.n; b++) {
          for (let co = 0; co < c.cout; co++) {
            const ci0 = c.depthwise ? co : 0;
            for (let oy = 0; oy < oh; oy++) {
              for (let ox = 0; ox < ow; ox++) {
                let sum = 0;
                let bound = 0;
                for (let j = 0; j < cinG; j++) {
                  for (let ky = 0; ky < 3; ky++) {
                    for (let kx = 0; kx < 3; kx++) {
                      const iy = oy * c.stride - 1 + ky;
                      const ix = ox * c.stride - 1 + kx;
                      if (iy < 0 || iy >= c.h || ix < 0 || ix >= c.w) continue;
                      const term = w.data[((co * cinG + j) * 3 + ky) * 3 + kx] * x.data[((b * c.cin + ci0 + j) * c.h + iy) * c.w + ix];
                      sum += term;
                      bound += Math.abs(term);
                    }
                  }
                }
                const got = y.data[((b * c.cout + co) * oh + oy) * ow + ox];
                expect(Math.abs(got - sum)).toBeLessThanOrEqual(1e-6 * bound + 1e-30);
              }
            }
          }
        }
      }),
      RUNS,
    );
  });

  it('a 1x1 conv (groups 1) is a linear map over channels at every (strided) pixel', () => {
    fc.assert(
      fc.property(
        convCase({ k: 1, padding: 0 }).map((c) => ({ ...c, groups: 1 })),
        (c) => {
          const { opts, x, w, b } = tensors(c);
          const y = conv2d(x, w, b, opts);
          const [n, cout, oh, ow] = y.shape;
          const pixels = Tensor.zeros([n * oh * ow, c.cin]);
          for (let bi = 0; bi < n; bi++)
            for (let oy = 0; oy < oh; oy++)
              for (let ox = 0; ox < ow; ox++)
                for (let ci = 0; ci < c.cin; ci++) {
                  const src = ((bi * c.cin + ci) * c.h + oy * c.stride) * c.w + ox * c.stride;
                  pixels.data[((bi * oh + oy) * ow + ox) * c.cin + ci] = x.data[src];
                }
          const lin = linear(pixels, new Tensor(w.data, [cout, c.cin]), b);
          for (let bi = 0; bi < n; bi++)
            for (let co = 0; co < cout; co++)
              for (let p = 0; p < oh * ow; p++) {
                const row = bi * oh * ow + p;
                let scale = Math.abs(b.data[co]);
                for (let ci = 0; ci < c.cin; ci++) scale += Math.abs(w.data[co * c.cin + ci] * pixels.data[row * c.cin + ci]);
                const ours = y.data[(bi * cout + co) * oh * ow + p];
                expect(Math.abs(ours - lin.data[row * cout + co])).toBeLessThanOrEqual(1e-6 * scale);
              }
        },
      ),
      RUNS,
    );
  });
});
