/**
 * Adam's update on the WASM kernels: the same float32 operations as src/optim/adam.ts's loop
 * (bit-identical results), four parameters per SIMD lane group and with float32 division and
 * square root, which JS can only do in float64. Runtime-safe.
 */
import type { AdamCoefficients, AdamKernel } from '../../optim/adam.js';
import type { WasmKernels } from './kernels.js';
import { WasmArena } from './arena.js';

interface AdamExports {
  adamUpdate(
    n: number, w: number, g: number, m: number, v: number,
    lerpCoeff: number, b2: number, oneMinusB2: number, negStepSize: number, bc2Sqrt: number, eps: number,
    decayMode: number, decay: number,
  ): void;
}

/**
 * An `AdamKernel` for `adam.kernel`. It copies each parameter, its gradient and its two moment
 * buffers into `kernels`' memory and back, so the optimizer's tensors stay ordinary JS arrays.
 * `kernels` must be an instance of its own: the kernel uses its memory as scratch.
 */
export function createWasmAdamKernel(kernels: WasmKernels): AdamKernel {
  const ex = kernels.exports as unknown as Partial<AdamExports>;
  if (typeof ex.adamUpdate !== 'function') throw new Error('mnv2.wasm: missing export adamUpdate (rebuild with `npm run build:wasm`)');
  const adamUpdate = ex.adamUpdate.bind(ex);
  const arena = new WasmArena(kernels);
  return {
    update(w: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, c: AdamCoefficients): void {
      const n = w.length;
      arena.resetScratch();
      const [pw, pg, pm, pv] = [w, grad, m, v].map((a) => {
        const p = arena.allocScratch(n);
        kernels.f32.set(a, p >> 2);
        return p;
      });
      adamUpdate(n, pw, pg, pm, pv, c.lerpCoeff, c.b2, c.oneMinusB2, c.negStepSize, c.bc2Sqrt, c.eps, c.decayMode, c.decay);
      const f32 = kernels.f32;
      w.set(f32.subarray(pw >> 2, (pw >> 2) + n));
      m.set(f32.subarray(pm >> 2, (pm >> 2) + n));
      v.set(f32.subarray(pv >> 2, (pv >> 2) + n));
    },
  };
}
