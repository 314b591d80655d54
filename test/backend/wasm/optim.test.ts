import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../../src/tensor/tensor.js';
import { Parameter } from '../../../src/nn/parameter.js';
import { Adam, AdamW } from '../../../src/optim/adam.js';
import { createWasmAdamKernel } from '../../../src/backend/wasm/optim.js';
import { testKernels, WASM_BUILDS } from './helpers.js';

// The WASM update must be the JS loop's float32 operations exactly: every weight and moment
// after several steps is compared bit for bit (Object.is), for both kernel builds.

const floats = (n: number) =>
  fc.array(fc.float({ min: -50, max: 50, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n });

const params = (values: number[][]) => values.map((v) => new Parameter(new Tensor(Float32Array.from(v), [v.length])));

function run(make: (ps: Parameter[]) => Adam, init: number[][], grads: number[][][]): Float32Array[] {
  const ps = params(init);
  const opt = make(ps);
  for (const step of grads) {
    ps.forEach((p, k) => (p.grad = new Tensor(Float32Array.from(step[k]), p.shape)));
    opt.step();
  }
  const out = ps.map((p) => p.data.data.slice());
  for (const p of ps) {
    const s = opt.state.get(p)!;
    out.push((s.exp_avg as Tensor).data.slice(), (s.exp_avg_sq as Tensor).data.slice());
  }
  return out;
}

function expectBitIdentical(ours: Float32Array[], ref: Float32Array[]): void {
  expect(ours.length).toBe(ref.length);
  ours.forEach((a, k) => a.forEach((x, i) => {
    if (!Object.is(x, ref[k][i])) throw new Error(`array ${k}[${i}]: wasm ${x}, js ${ref[k][i]}`);
  }));
}

describe.each(WASM_BUILDS)('createWasmAdamKernel (%s build)', (build) => {
  const kernel = createWasmAdamKernel(testKernels(build));

  it('Adam and AdamW steps are bit-identical to the JS loop (sizes with SIMD tails, every decay mode)', () => {
    const sizes = fc.array(fc.integer({ min: 1, max: 23 }), { minLength: 1, maxLength: 3 });
    const arb = sizes.chain((ns) => fc.record({
      init: fc.tuple(...ns.map(floats)),
      grads: fc.array(fc.tuple(...ns.map(floats)), { minLength: 1, maxLength: 3 }),
      lr: fc.double({ min: 1e-5, max: 0.5, noNaN: true }),
      beta1: fc.double({ min: 0.5, max: 0.99, noNaN: true }),
      beta2: fc.double({ min: 0.9, max: 0.9999, noNaN: true }),
      eps: fc.constantFrom(1e-8, 1e-6, 0.1),
      weightDecay: fc.constantFrom(0, 1e-4, 0.05),
      adamw: fc.boolean(),
    }));
    fc.assert(fc.property(arb, ({ init, grads, lr, beta1, beta2, eps, weightDecay, adamw }) => {
      const opts = { lr, betas: [beta1, beta2] as const, eps, weightDecay };
      const make = (withKernel: boolean) => (ps: Parameter[]) => {
        const o = adamw ? new AdamW(ps, opts) : new Adam(ps, opts);
        o.kernel = withKernel ? kernel : null;
        return o;
      };
      expectBitIdentical(run(make(true), init, grads), run(make(false), init, grads));
    }), { numRuns: 150 });
  });

  it('a parameter larger than one copy chunk of the kernel (32768 floats) is updated whole, bit-identically', () => {
    const n = 70001; // two full chunks and a tail that is not a multiple of 4
    const wave = (f: number) => Array.from({ length: n }, (_, i) => Math.fround(Math.sin(i * f) * 2));
    const make = (withKernel: boolean) => (ps: Parameter[]) => {
      const o = new AdamW(ps, { lr: 0.01, weightDecay: 0.05 });
      o.kernel = withKernel ? kernel : null;
      return o;
    };
    const init = [wave(0.37)];
    const grads = [[wave(1.3)], [wave(0.71)]];
    expectBitIdentical(run(make(true), init, grads), run(make(false), init, grads));
  });

  it('a perturbed update is caught: one more step differs', () => {
    const init = [[0.5, -0.25, 1, 2, 3]];
    const g = [[0.1, -0.2, 0.3, 0.4, -0.5]];
    const make = (withKernel: boolean) => (ps: Parameter[]) => {
      const o = new Adam(ps, { lr: 0.01 });
      o.kernel = withKernel ? kernel : null;
      return o;
    };
    expect(() => expectBitIdentical(run(make(true), init, [g, g]), run(make(false), init, [g]))).toThrow(/wasm .*, js /);
  });

  it('amsgrad and maximize keep the JS loop (the kernel is not called)', () => {
    let calls = 0;
    const counting = { update: (...a: Parameters<typeof kernel.update>) => { calls++; kernel.update(...a); } };
    for (const extra of [{ amsgrad: true }, { maximize: true }]) {
      const [p] = params([[1, 2, 3]]);
      const o = new Adam([p], { lr: 0.1, ...extra });
      o.kernel = counting;
      p.grad = Tensor.from([0.1, 0.2, 0.3], [3]);
      o.step();
    }
    expect(calls).toBe(0);
  });
});
