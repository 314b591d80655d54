/**
 * Adam's update on the WASM kernels: the same float32 operations as src/optim/adam.ts's loop
 * (bit-identical results), four parameters per SIMD lane group and with float32 division and
 * square root, which JS can only do in float64. Runtime-safe.
 */
import type { AdamCoefficients, AdamKernel } from '../../optim/adam.js';
import type { WasmKernels } from './kernels.js';
import { WasmArena } from './arena.js';

/** Floats per array per chunk (a multiple of 4, so only a parameter's last chunk has a SIMD tail). */
const CHUNK = 32768;

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
  // The four arrays go through wasm memory in chunks small enough to stay in L2 (4 x 128 KB):
  // copied in, updated and copied out while hot, instead of three sweeps over main memory.
  const [pw, pg, pm, pv] = [0, 1, 2, 3].map(() => arena.allocPersistent(CHUNK));
  return {
    update(w: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, c: AdamCoefficients): void {
      const f32 = kernels.f32;
      for (let i0 = 0; i0 < w.length; i0 += CHUNK) {
        const n = Math.min(CHUNK, w.length - i0);
        f32.set(w.subarray(i0, i0 + n), pw >> 2);
        f32.set(grad.subarray(i0, i0 + n), pg >> 2);
        f32.set(m.subarray(i0, i0 + n), pm >> 2);
        f32.set(v.subarray(i0, i0 + n), pv >> 2);
        adamUpdate(n, pw, pg, pm, pv, c.lerpCoeff, c.b2, c.oneMinusB2, c.negStepSize, c.bc2Sqrt, c.eps, c.decayMode, c.decay);
        w.set(f32.subarray(pw >> 2, (pw >> 2) + n), i0);
        m.set(f32.subarray(pm >> 2, (pm >> 2) + n), i0);
        v.set(f32.subarray(pv >> 2, (pv >> 2) + n), i0);
      }
    },
  };
}
