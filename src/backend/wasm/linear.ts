/**
 * A Linear layer's products on the WASM kernels (`linear.kernel = createWasmLinearKernel(k)`):
 * the classifier head of a training step is three GEMMs of [batch, 1280] by [1000, 1280], which
 * the register-blocked kernels do in ~1 ms each where the JS ops take 12-19 ms. Sums are float32
 * (fused in the relaxed build), so results agree with the JS ops to float32 rounding, not bit
 * for bit. Runtime-safe.
 */
import { Tensor, formatShape } from '../../tensor/tensor.js';
import type { LinearKernel } from '../../nn/layers/linear.js';
import type { WasmKernels } from './kernels.js';
import { WasmArena } from './arena.js';
import { trainExports } from './train/kernels.js';

/** `kernels` must be an instance of its own: every call uses its memory as scratch. */
export function createWasmLinearKernel(kernels: WasmKernels): LinearKernel {
  const k = trainExports(kernels);
  const gemm = kernels.exports.gemm.bind(kernels.exports);
  const arena = new WasmArena(kernels);
  const put = (a: Float32Array, floats = a.length): number => {
    const p = arena.allocScratch(floats);
    const f32 = kernels.f32;
    f32.set(a, p >> 2);
    if (floats > a.length) f32.fill(0, (p >> 2) + a.length, (p >> 2) + floats);
    return p;
  };
  const take = (p: number, n: number): Float32Array => kernels.f32.slice(p >> 2, (p >> 2) + n);
  const pad8 = (n: number) => Math.ceil(n / 8) * 8;

  /**
   * rows [n, K] . B [K, N] (+ bias) with B packed from the PyTorch-layout weight [out, in]
   * (`transposed`: B = W, as dX = dY W; else B = W^T, as y = x W^T).
   */
  const timesWeight = (rows: Tensor, weight: Tensor, transposed: boolean, bias: Tensor | null): Tensor => {
    const [n, K] = rows.shape;
    const [outF, inF] = weight.shape;
    const N = transposed ? inF : outF;
    arena.resetScratch();
    const pw = put(weight.data);
    const packed = arena.allocScratch(pad8(N) * K);
    if (transposed) k.packGemmPanelsT(pw, outF, inF, packed);
    else k.packGemmPanels(pw, outF, inF, packed);
    const pb = put(bias ? bias.data : new Float32Array(0), pad8(N));
    const pr = put(rows.data);
    const py = arena.allocScratch(n * N);
    gemm(n, K, N, pr, packed, pb, py, -Infinity, Infinity, 0);
    return new Tensor(take(py, n * N), [n, N]);
  };

  return {
    forward(x, weight, bias) {
      if (x.shape.length !== 2 || weight.shape[1] !== x.shape[1]) {
        throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
      }
      return timesWeight(x, weight, false, bias);
    },

    // dX = dY W: a GEMM over K = out of W^T's panels, as the executor's dgrad.
    backwardInput: (gradOut, weight) => timesWeight(gradOut, weight, true, null),

    backwardParams(gradOut, x) {
      const [n, outF] = gradOut.shape;
      const inF = x.shape[1];
      arena.resetScratch();
      const px = put(x.data);
      const pg = put(gradOut.data);
      const pdw = arena.allocScratch(outF * inF);
      k.pointwiseWgrad(n, inF, outF, px, pg, pdw); // [out][in], PyTorch's layout
      const dy = gradOut.data;
      const db = new Float32Array(outF);
      for (let o = 0; o < outF; o++) {
        let s = 0;
        for (let b = 0; b < n; b++) s += dy[b * outF + o];
        db[o] = s;
      }
      return { gradWeight: new Tensor(take(pdw, outF * inF), [outF, inF]), gradBias: new Tensor(db, [outF]) };
    },
  };
}
