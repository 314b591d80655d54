import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { Tensor } from '../../../src/tensor/tensor.js';
import { Linear } from '../../../src/nn/layers/linear.js';
import { Rng } from '../../../src/tensor/rng.js';
import { createWasmLinearKernel } from '../../../src/backend/wasm/linear.js';
import { testKernels, WASM_BUILDS } from './helpers.js';

const floats = (n: number) =>
  fc.array(fc.float({ min: -2, max: 2, noNaN: true, noDefaultInfinity: true }), { minLength: n, maxLength: n }).map((a) => Float32Array.from(a));

/** Every |ours - ref| <= 1e-5 * (sum of |terms|) + 1e-30, refs and term sums in float64. */
function expectClose(ours: Float32Array, ref: Float64Array, terms: Float64Array, what: string): void {
  expect(ours.length, what).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    if (!(Math.abs(ours[i] - ref[i]) <= 1e-5 * terms[i] + 1e-30)) throw new Error(`${what}[${i}]: wasm ${ours[i]}, float64 ${ref[i]}`);
  }
}

describe.each(WASM_BUILDS)('createWasmLinearKernel (%s build) vs float64 references', (build) => {
  const kernel = createWasmLinearKernel(testKernels(build));

  it('forward, input gradient and parameter gradients, any batch and widths (tails of 8 included)', () => {
    const arb = fc.record({ n: fc.integer({ min: 1, max: 9 }), inF: fc.integer({ min: 1, max: 37 }), outF: fc.integer({ min: 1, max: 29 }), bias: fc.boolean() })
      .chain((s) => fc.record({ s: fc.constant(s), x: floats(s.n * s.inF), w: floats(s.outF * s.inF), b: floats(s.outF), g: floats(s.n * s.outF) }));
    fc.assert(fc.property(arb, ({ s: { n, inF, outF, bias }, x, w, b, g }) => {
      const y = kernel.forward(new Tensor(x, [n, inF]), new Tensor(w, [outF, inF]), bias ? new Tensor(b, [outF]) : null);
      expect(y.shape).toEqual([n, outF]);
      const ref = new Float64Array(n * outF), terms = new Float64Array(n * outF);
      for (let r = 0; r < n; r++) for (let o = 0; o < outF; o++) {
        let s = bias ? b[o] : 0, t = Math.abs(s);
        for (let i = 0; i < inF; i++) { s += x[r * inF + i] * w[o * inF + i]; t += Math.abs(x[r * inF + i] * w[o * inF + i]); }
        ref[r * outF + o] = s; terms[r * outF + o] = t;
      }
      expectClose(y.data, ref, terms, 'y');

      const dx = kernel.backwardInput(new Tensor(g, [n, outF]), new Tensor(w, [outF, inF]));
      const rdx = new Float64Array(n * inF), tdx = new Float64Array(n * inF);
      for (let r = 0; r < n; r++) for (let i = 0; i < inF; i++) for (let o = 0; o < outF; o++) {
        rdx[r * inF + i] += g[r * outF + o] * w[o * inF + i]; tdx[r * inF + i] += Math.abs(g[r * outF + o] * w[o * inF + i]);
      }
      expectClose(dx.data, rdx, tdx, 'dx');

      const { gradWeight, gradBias } = kernel.backwardParams(new Tensor(g, [n, outF]), new Tensor(x, [n, inF]));
      const rdw = new Float64Array(outF * inF), tdw = new Float64Array(outF * inF), rdb = new Float64Array(outF), tdb = new Float64Array(outF);
      for (let o = 0; o < outF; o++) for (let r = 0; r < n; r++) {
        rdb[o] += g[r * outF + o]; tdb[o] += Math.abs(g[r * outF + o]);
        for (let i = 0; i < inF; i++) { rdw[o * inF + i] += g[r * outF + o] * x[r * inF + i]; tdw[o * inF + i] += Math.abs(g[r * outF + o] * x[r * inF + i]); }
      }
      expectClose(gradWeight.data, rdw, tdw, 'dW');
      expectClose(gradBias.data, rdb, tdb, 'db');
    }), { numRuns: 60 });
  });

  it('a Linear module with the kernel: the same forward, gradients and input gradient as on the JS ops, to float32 rounding', () => {
    const make = () => new Linear(1280, 1000, { rng: new Rng(3) });
    const js = make();
    const wasm = make();
    wasm.kernel = kernel;
    const rng = new Rng(4);
    const x = Tensor.zeros([8, 1280]);
    for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
    const g = Tensor.zeros([8, 1000]);
    for (let i = 0; i < g.data.length; i++) g.data[i] = rng.normal() * 0.01;
    const pairs: [Float32Array, Float32Array, string][] = [[wasm.forward(x).data, js.forward(x).data, 'y']];
    pairs.push([wasm.backward(g, true)!.data, js.backward(g, true)!.data, 'dx']);
    pairs.push([wasm.weight.grad!.data, js.weight.grad!.data, 'dW'], [wasm.bias!.grad!.data, js.bias!.grad!.data, 'db']);
    for (const [a, b, what] of pairs) {
      let worst = 0;
      let scale = 0;
      for (let i = 0; i < a.length; i++) { worst = Math.max(worst, Math.abs(a[i] - b[i])); scale = Math.max(scale, Math.abs(b[i])); }
      expect(worst, what).toBeLessThanOrEqual(1e-5 * Math.max(1, scale));
      expect(a.some((v, i) => v !== b[i]) || what === 'db', `${what}: expected float32 sums to differ somewhere from the float64-accumulated JS ones`).toBe(true);
    }
  });
});
