import type { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import type { Tensor } from '../../src/tensor/tensor.js';
import { createWasmExecutor } from '../../src/backend/wasm/executor.js';
import { createWasmLinearKernel } from '../../src/backend/wasm/linear.js';
import { Linear } from '../../src/nn/layers/linear.js';
import { ambiguousUnits, flipUnits, type Unit } from './kinks.js';
import { trainKernels } from '../backend/wasm/train/helpers.js';
import type { KernelBuild } from '../../src/backend/wasm/node.js';

/**
 * A model bound to one execution backend, as the shared parity suites see it
 * (the TF.js pattern: one suite, run against every backend).
 */
export interface Net {
  forward(x: Tensor): Tensor;
  backward(gradLogits: Tensor, needInputGrad?: boolean): Tensor | null;
  /** ReLU6 units of the last forward that sat within float32 noise of a kink. */
  lastAmbiguous(): Unit[];
  /** Takes the other side of the kink at these units (gradient routing only). */
  flipUnits(units: readonly Unit[]): void;
}

export interface TrainBackend {
  name: string;
  /** True when backward runs through the module tree (so spies on modules see it). */
  moduleBackward: boolean;
  attach(model: MobileNetV2): Net;
}

export const jsBackend: TrainBackend = {
  name: 'js',
  moduleBackward: true,
  attach(model) {
    let last: Unit[] = [];
    return {
      forward(x) {
        let y!: Tensor;
        last = ambiguousUnits(model, () => (y = model.forward(x)));
        return y;
      },
      backward: (g, needInputGrad = false) => model.backward(g, needInputGrad),
      lastAmbiguous: () => last,
      flipUnits: (units) => flipUnits(model, units),
    };
  },
};

/** The WASM training executor on one kernel build (the SIMD128 one, or relaxed SIMD with fused multiply-adds). */
export function wasmBackendFor(build: KernelBuild): TrainBackend {
  return {
    name: build === 'relaxed' ? 'wasm-relaxed' : 'wasm',
    moduleBackward: false,
    attach(model) {
      const exec = createWasmExecutor(trainKernels(build), model);
      // The head's products on wasm as well, as `mnv2 train` runs them (an instance of its own).
      const linear = model.classifier.at(1);
      if (linear instanceof Linear) linear.kernel = createWasmLinearKernel(trainKernels(build));
      let last: Unit[] = [];
      return {
        forward(x) {
          const y = exec.forward(x);
          last = exec.ambiguousUnits();
          return y;
        },
        backward: (g, needInputGrad = false) => exec.backward(g, needInputGrad),
        lastAmbiguous: () => last,
        flipUnits: (units) => exec.flipUnits(units),
      };
    },
  };
}

export const wasmBackend: TrainBackend = wasmBackendFor('simd128');
export const wasmRelaxedBackend: TrainBackend = wasmBackendFor('relaxed');
