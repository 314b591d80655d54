import { beforeAll, describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { WasmArena } from '../../../../src/backend/wasm/arena.js';
import { convOut, packDepthwiseWeights, packStemWeights } from '../../../../src/backend/wasm/pack.js';
import { trainExports, type WasmTrainExports } from '../../../../src/backend/wasm/train/kernels.js';
import {
  depthwiseGradToTorch, packGemmWeightsTransposed, stemGradToTorch,
} from '../../../../src/backend/wasm/train/pack.js';
import { trainKernels, rand } from './helpers.js';
import { WASM_BUILDS } from '../helpers.js';
import type { WasmKernels, WasmKernelExports } from '../../../../src/backend/wasm/kernels.js';

/**
 * Each training kernel against a plain float64 reference written from the definition (the
 * adjoint of the forward conv, scattered output by output), on random shapes that include
 * channel tails (not multiples of 4 or 8), odd sizes, batches of 1-3 and both strides.
 * The bound is relative to the sum of |terms| of each output element: float32 rounding only.
 */
// Set by each build's describe block before its tests run (vitest runs the blocks in order).
let kernels: WasmKernels;
let k: WasmTrainExports;
let ex: WasmKernelExports;
const RUNS = { numRuns: 40, seed: 20261128 };

class Mem {
  readonly arena = new WasmArena(kernels);
  constructor() {
    this.arena.resetScratch();
  }
  put(a: Float32Array, extra = 0): number {
    const p = this.arena.allocScratch(a.length + extra);
    kernels.f32.set(a, p >> 2);
    return p;
  }
  alloc(n: number): number {
    const p = this.arena.allocScratch(n);
    kernels.f32.fill(NaN, p >> 2, (p >> 2) + n);
    return p;
  }
  get(p: number, n: number): Float32Array {
    return kernels.f32.slice(p >> 2, (p >> 2) + n);
  }
  get64(p: number, n: number): Float64Array {
    return new Float64Array(kernels.memory.buffer, p, n).slice();
  }
}

/** Every |ours - ref| <= 1e-5 * |terms| (+ a denormal floor). */
function expectClose(ours: ArrayLike<number>, ref: ArrayLike<number>, absSum: ArrayLike<number>, label: string): void {
  expect(ours.length, `${label}: length`).toBe(ref.length);
  for (let i = 0; i < ref.length; i++) {
    const err = Math.abs(ours[i] - ref[i]);
    if (!(err <= 1e-5 * absSum[i] + 1e-30)) {
      throw new Error(`${label}[${i}]: ours ${ours[i]}, reference ${ref[i]} (|terms| ${absSum[i]})`);
    }
  }
}

const dims = fc.record({
  N: fc.integer({ min: 1, max: 3 }),
  H: fc.integer({ min: 1, max: 9 }),
  W: fc.integer({ min: 1, max: 9 }),
  C: fc.integer({ min: 1, max: 19 }),
  stride: fc.constantFrom(1, 2),
  seed: fc.integer({ min: 1, max: 1e9 }),
});

describe.each(WASM_BUILDS)('training kernels (%s build) vs float64 references', (build) => {
  beforeAll(() => {
    kernels = trainKernels(build);
    k = trainExports(kernels);
    ex = kernels.exports;
  });

  it('affineClamp: x*scale + shift, clamped, plus an optional residual', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 21 }), fc.boolean(), fc.boolean(), fc.integer({ min: 1, max: 1e9 }),
      (M, C, relu, withRes, seed) => {
        const m = new Mem();
        const x = rand(M * C, seed, -8, 8);
        const sc = rand(C, seed + 1, -2, 2);
        const sh = rand(C, seed + 2, -3, 3);
        const r = rand(M * C, seed + 3);
        const out = m.alloc(M * C);
        const [lo, hi] = relu ? [0, 6] : [-Infinity, Infinity];
        k.affineClamp(M, C, m.put(x), m.put(sc), m.put(sh), out, lo, hi, withRes ? m.put(r) : 0);
        const got = m.get(out, M * C);
        for (let i = 0; i < M * C; i++) {
          const c = i % C;
          let v = Math.fround(Math.fround(x[i] * sc[c]) + sh[c]);
          v = Math.min(hi, Math.max(lo, v));
          if (withRes) v = Math.fround(v + r[i]);
          expect(got[i]).toBe(v);
        }
      }), RUNS);
  });

  it('bnBackwardSums / bnBackwardDx, and the Relu6 variants that mask dy where 0 < x*scale + shift < 6', () => {
    fc.assert(fc.property(fc.integer({ min: 2, max: 40 }), fc.integer({ min: 1, max: 21 }), fc.boolean(), fc.integer({ min: 1, max: 1e9 }), (M, C, masked, seed) => {
      const m = new Mem();
      const dy = rand(M * C, seed);
      const x = rand(M * C, seed + 2, -4, 4);
      const sc = rand(C, seed + 7, -2, 2);
      const sh = rand(C, seed + 8, -3, 9);
      // Exact kinks must block the gradient: channel 0 is the identity affine, with x = 0 and x = 6.
      sc[0] = 1;
      sh[0] = 0;
      x[0] = 0;
      x[C] = 6;
      const mean = rand(C, seed + 3);
      const ca = rand(C, seed + 4);
      const cb = rand(C, seed + 5);
      const cc = rand(C, seed + 6);
      const pdy = m.put(dy), px = m.put(x), pm = m.put(mean), psc = m.put(sc), psh = m.put(sh);
      const s1 = m.alloc(2 * C), s2 = m.alloc(2 * C), dx = m.alloc(M * C);
      if (masked) {
        k.bnBackwardSumsRelu6(M, C, pdy, px, pm, psc, psh, s1, s2);
        k.bnBackwardDxRelu6(M, C, pdy, px, pm, psc, psh, m.put(ca), m.put(cb), m.put(cc), dx);
      } else {
        k.bnBackwardSums(M, C, pdy, px, pm, s1, s2);
        k.bnBackwardDx(M, C, pdy, px, pm, m.put(ca), m.put(cb), m.put(cc), dx);
      }
      const sumDy = m.get64(s1, C), sumDyXc = m.get64(s2, C), got = m.get(dx, M * C);
      const refDy = new Float64Array(C), refXc = new Float64Array(C), absXc = new Float64Array(C);
      const refDx = new Float64Array(M * C), absDx = new Float64Array(M * C);
      let blocked = 0;
      for (let i = 0; i < M * C; i++) {
        const c = i % C;
        // ReLU6's pre-clamp output as the forward (affineClamp) rounds it.
        const v = Math.fround(Math.fround(x[i] * sc[c]) + sh[c]);
        const g = masked && !(v > 0 && v < 6) ? 0 : dy[i];
        if (g === 0) blocked++;
        const xc = x[i] - mean[c];
        refDy[c] += g;
        refXc[c] += g * xc;
        absXc[c] += Math.abs(g * xc);
        refDx[i] = ca[c] * g + cb[c] * xc + cc[c];
        absDx[i] = Math.abs(ca[c] * g) + Math.abs(cb[c] * xc) + Math.abs(cc[c]) + Math.abs(cb[c] * x[i]);
      }
      if (masked) expect(blocked).toBeGreaterThanOrEqual(2);
      expectClose(sumDy, refDy, Array.from(refDy, () => 1e-9), 'sumDy');
      expectClose(sumDyXc, refXc, absXc, 'sumDyXc');
      expectClose(got, refDx, absDx, 'dx');
    }), RUNS);
  });

  it('relu6Backward, addInPlace and globalAvgPoolBackward', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 1, max: 30 }), fc.integer({ min: 1, max: 21 }), fc.integer({ min: 1, max: 1e9 }), (N, HW, C, seed) => {
      const m = new Mem();
      const n = N * HW * C;
      const dy = rand(n, seed), y = rand(n, seed + 1, -1, 7), b = rand(n, seed + 2);
      y[0] = 6;
      const out = m.alloc(n);
      k.relu6Backward(n, m.put(dy), m.put(y), out);
      expect(Array.from(m.get(out, n))).toEqual(Array.from(dy, (g, i) => (y[i] > 0 && y[i] < 6 ? g : 0)));
      const pa = m.put(dy);
      k.addInPlace(n, pa, m.put(b));
      expect(Array.from(m.get(pa, n))).toEqual(Array.from(dy, (v, i) => Math.fround(v + b[i])));
      const g = rand(N * C, seed + 3);
      const dx = m.alloc(n);
      k.globalAvgPoolBackward(N, HW, C, m.put(g), dx);
      const got = m.get(dx, n);
      for (let i = 0; i < n; i++) {
        const nn = Math.floor(i / (HW * C));
        expect(got[i]).toBe(Math.fround(g[nn * C + (i % C)] / HW));
      }
    }), RUNS);
  });

  it('pointwise wgrad (X^T dY into [N][K], reduced over M in blocks) and dgrad (gemm with transposed packed weights)', () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 300 }), fc.integer({ min: 1, max: 21 }), fc.integer({ min: 1, max: 21 }), fc.integer({ min: 1, max: 1e9 }), (M, K, N, seed) => {
      const m = new Mem();
      const x = rand(M * K, seed), dy = rand(M * N, seed + 1), w = rand(N * K, seed + 2);
      const res = rand(M * K, seed + 3);
      const px = m.put(x), pdy = m.put(dy);
      const dw = m.alloc(K * N);
      k.pointwiseWgrad(M, K, N, px, pdy, dw);
      const gotW = m.get(dw, N * K); // PyTorch layout [N][K]
      const refW = new Float64Array(N * K), absW = new Float64Array(N * K);
      for (let r = 0; r < M; r++) for (let n = 0; n < N; n++) for (let kk = 0; kk < K; kk++) {
        const t = x[r * K + kk] * dy[r * N + n];
        refW[n * K + kk] += t;
        absW[n * K + kk] += Math.abs(t);
      }
      expectClose(gotW, refW, absW, 'dW');

      const wT = m.put(packGemmWeightsTransposed(w, N, K));
      const zero = m.put(new Float32Array(Math.ceil(K / 8) * 8));
      const dx = m.alloc(M * K);
      ex.gemm(M, N, K, pdy, wT, zero, dx, -Infinity, Infinity, m.put(res));
      const refX = new Float64Array(M * K), absX = new Float64Array(M * K);
      for (let r = 0; r < M; r++) for (let kk = 0; kk < K; kk++) {
        let s = res[r * K + kk], a = Math.abs(s);
        for (let n = 0; n < N; n++) {
          const t = dy[r * N + n] * w[n * K + kk];
          s += t;
          a += Math.abs(t);
        }
        refX[r * K + kk] = s;
        absX[r * K + kk] = a;
      }
      expectClose(m.get(dx, M * K), refX, absX, 'dX');
    }), RUNS);
  });

  it('pointwise wgrad over several row blocks (long M, and K + N large enough for short blocks)', () => {
    for (const [M, K, N] of [[1100, 5, 9], [530, 150, 203]]) {
      const m = new Mem();
      const x = rand(M * K, M), dy = rand(M * N, K);
      const dw = m.alloc(K * N);
      k.pointwiseWgrad(M, K, N, m.put(x), m.put(dy), dw);
      const refW = new Float64Array(N * K), absW = new Float64Array(N * K);
      for (let r = 0; r < M; r++) for (let n = 0; n < N; n++) for (let kk = 0; kk < K; kk++) {
        const t = x[r * K + kk] * dy[r * N + n];
        refW[n * K + kk] += t;
        absW[n * K + kk] += Math.abs(t);
      }
      expectClose(m.get(dw, N * K), refW, absW, `dW ${M}x${K}x${N}`);
    }
  });

  const checkDepthwise = ({ N, H, W, C, stride, seed }: { N: number; H: number; W: number; C: number; stride: number; seed: number }): void => {
      const m = new Mem();
      const OH = convOut(H, stride), OW = convOut(W, stride);
      const x = rand(N * H * W * C, seed), dy = rand(N * OH * OW * C, seed + 1), w = rand(C * 9, seed + 2);
      const refX = new Float64Array(x.length), absX = new Float64Array(x.length);
      const refW = new Float64Array(C * 9), absW = new Float64Array(C * 9);
      for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        for (let c = 0; c < C; c++) {
          const g = dy[((n * OH + oy) * OW + ox) * C + c];
          const xi = ((n * H + iy) * W + ix) * C + c;
          const tx = g * w[c * 9 + ky * 3 + kx];
          refX[xi] += tx;
          absX[xi] += Math.abs(tx);
          const tw = g * x[xi];
          refW[c * 9 + ky * 3 + kx] += tw;
          absW[c * 9 + ky * 3 + kx] += Math.abs(tw);
        }
      }
      const px = m.put(x), pdy = m.put(dy);
      const dx = m.alloc(x.length);
      k.depthwise3x3Dgrad(N, H, W, C, pdy, m.put(packDepthwiseWeights(w, C)), dx, stride, OH, OW);
      expectClose(m.get(dx, x.length), refX, absX, 'depthwise dX');
      const Cp = Math.ceil(C / 4) * 4;
      const dw = m.alloc(9 * Cp), acc = m.alloc(9 * Cp);
      k.depthwise3x3Wgrad(N, H, W, C, px, pdy, dw, acc, stride, OH, OW);
      expectClose(depthwiseGradToTorch(kernels.f32, dw >> 2, C), refW, absW, 'depthwise dW');
  };

  it('depthwise 3x3 dgrad and wgrad, stride 1 and 2', () => {
    fc.assert(fc.property(dims, checkDepthwise), RUNS);
  });

  it('depthwise 3x3 dgrad and wgrad on rows longer than one pixel tile of the kernels', () => {
    const wide = fc.record({
      N: fc.constant(1), H: fc.integer({ min: 3, max: 5 }), W: fc.integer({ min: 70, max: 140 }),
      C: fc.integer({ min: 1, max: 9 }), stride: fc.constantFrom(1, 2), seed: fc.integer({ min: 1, max: 1e9 }),
    });
    fc.assert(fc.property(wide, checkDepthwise), { numRuns: 12, seed: 20261128 });
  });

  it('stem (3 input channels) wgrad and dgrad, stride 1 and 2', () => {
    fc.assert(fc.property(dims, ({ N, H, W, C: Cout, stride, seed }) => {
      const m = new Mem();
      const OH = convOut(H, stride), OW = convOut(W, stride);
      const x = rand(N * H * W * 3, seed), dy = rand(N * OH * OW * Cout, seed + 1), w = rand(Cout * 27, seed + 2);
      const refX = new Float64Array(x.length), absX = new Float64Array(x.length);
      const refW = new Float64Array(Cout * 27), absW = new Float64Array(Cout * 27);
      for (let n = 0; n < N; n++) for (let oy = 0; oy < OH; oy++) for (let ox = 0; ox < OW; ox++) for (let ky = 0; ky < 3; ky++) for (let kx = 0; kx < 3; kx++) {
        const iy = oy * stride - 1 + ky, ix = ox * stride - 1 + kx;
        if (iy < 0 || iy >= H || ix < 0 || ix >= W) continue;
        for (let o = 0; o < Cout; o++) for (let ci = 0; ci < 3; ci++) {
          const g = dy[((n * OH + oy) * OW + ox) * Cout + o];
          const xi = ((n * H + iy) * W + ix) * 3 + ci;
          const wi = (o * 3 + ci) * 9 + ky * 3 + kx;
          refX[xi] += g * w[wi];
          absX[xi] += Math.abs(g * w[wi]);
          refW[wi] += g * x[xi];
          absW[wi] += Math.abs(g * x[xi]);
        }
      }
      const px = m.put(x), pdy = m.put(dy);
      const Cp = Math.ceil(Cout / 4) * 4;
      const dw = m.alloc(27 * Cp), acc = m.alloc(27 * Cp);
      k.conv3x3c3Wgrad(N, H, W, px, pdy, dw, acc, Cout, stride, OH, OW);
      expectClose(stemGradToTorch(kernels.f32, dw >> 2, Cout), refW, absW, 'stem dW');
      const dx = m.alloc(x.length);
      k.conv3x3c3Dgrad(N, H, W, pdy, m.put(packStemWeights(w, Cout)), dx, Cout, stride, OH, OW);
      expectClose(m.get(dx, x.length), refX, absX, 'stem dX');
    }), RUNS);
  });

  it('a module without the training exports is refused with a clear error', () => {
    const fake = { exports: { gemm: () => {} } } as unknown as Parameters<typeof trainExports>[0];
    expect(() => trainExports(fake)).toThrow(/missing training export\(s\) channelShiftedSums64/);
  });
});
