import type { WasmKernels } from '../kernels.js';

/** Training exports of build/mnv2.wasm (assembly/train/). Pointers are byte offsets; 0 means absent. */
export interface WasmTrainExports {
  channelShiftedSums64(M: number, C: number, x: number, out64: number): void;
  affineClamp(M: number, C: number, x: number, scale: number, shift: number, out: number, lo: number, hi: number, res: number): void;
  bnBackwardSums(M: number, C: number, dy: number, x: number, mean: number, sumDy64: number, sumDyXc64: number): void;
  bnBackwardSumsRelu6(
    M: number, C: number, dy: number, x: number, mean: number, scale: number, shift: number, sumDy64: number, sumDyXc64: number,
  ): void;
  bnBackwardDx(M: number, C: number, dy: number, x: number, mean: number, ca: number, cb: number, cc: number, dx: number): void;
  bnBackwardDxRelu6(
    M: number, C: number, dy: number, x: number, mean: number, scale: number, shift: number, ca: number, cb: number, cc: number, dx: number,
  ): void;
  relu6Backward(n: number, dy: number, y: number, dx: number): void;
  addInPlace(n: number, a: number, b: number): void;
  globalAvgPoolBackward(N: number, HW: number, C: number, g: number, dx: number): void;
  pointwiseWgrad(M: number, K: number, N: number, x: number, dy: number, dw: number): void;
  /**
   * A pointwise conv + BN (+ ReLU6) unit's backward after BN's sums, in one pass (see
   * assembly/train/pointwise_backward.ts): dz from gy, then gx = dz W^T (+ res) unless wT is 0,
   * and dw = dz^T x unless dw is 0. `gz` is scratch of POINTWISE_BACKWARD_BLOCK_ROWS * Cout floats.
   */
  pointwiseBackward(
    M: number, Cout: number, Cin: number,
    gy: number, z: number, mean: number, scale: number, shift: number, ca: number, cb: number, cc: number, relu6: number,
    wT: number, zeroBias: number, gx: number, res: number,
    x: number, dw: number, gz: number,
  ): void;
  /**
   * A depthwise conv + BN (+ ReLU6) unit's backward after BN's sums, image by image (see
   * assembly/train/depthwise_backward.ts): dz from gy, then gx unless w is 0, and dw ([9][Cp], as
   * depthwise3x3Wgrad) unless dw is 0. `gz` is scratch of OH * OW * C floats.
   */
  depthwiseBackward(
    N: number, H: number, W: number, C: number,
    gy: number, z: number, mean: number, scale: number, shift: number, ca: number, cb: number, cc: number, relu6: number,
    w: number, gx: number, x: number, dw: number, rowAcc: number, gz: number,
    stride: number, OH: number, OW: number,
  ): void;
  depthwise3x3Dgrad(N: number, H: number, W: number, C: number, dy: number, w: number, dx: number, stride: number, OH: number, OW: number): void;
  depthwise3x3Wgrad(
    N: number, H: number, W: number, C: number,
    x: number, dy: number, dw: number, rowAcc: number, stride: number, OH: number, OW: number,
  ): void;
  conv3x3c3Wgrad(
    N: number, H: number, W: number,
    x: number, dy: number, dw: number, rowAcc: number, Cout: number, stride: number, OH: number, OW: number,
  ): void;
  conv3x3c3Dgrad(N: number, H: number, W: number, dy: number, w: number, dx: number, Cout: number, stride: number, OH: number, OW: number): void;
  packGemmPanels(w: number, N: number, K: number, dst: number): void;
  packGemmPanelsT(w: number, N: number, K: number, dst: number): void;
  nchwToNhwc(N: number, C: number, HW: number, src: number, dst: number): void;
}

/** Rows of pointwiseBackward's longest block (pointwiseWgrad's MB_MAX and DIRECT_MB_MAX). */
export const POINTWISE_BACKWARD_BLOCK_ROWS = 128;

const NAMES: readonly (keyof WasmTrainExports)[] = [
  'channelShiftedSums64', 'affineClamp', 'bnBackwardSums', 'bnBackwardSumsRelu6', 'bnBackwardDx', 'bnBackwardDxRelu6', 'relu6Backward', 'addInPlace',
  'globalAvgPoolBackward', 'pointwiseWgrad', 'pointwiseBackward', 'depthwiseBackward', 'depthwise3x3Dgrad', 'depthwise3x3Wgrad', 'conv3x3c3Wgrad', 'conv3x3c3Dgrad',
  'packGemmPanels', 'packGemmPanelsT', 'nchwToNhwc',
];

/** The training kernels of an instance, or a clear error when the module predates them. */
export function trainExports(kernels: WasmKernels): WasmTrainExports {
  const ex = kernels.exports as unknown as Record<string, unknown>;
  const missing = NAMES.filter((n) => typeof ex[n] !== 'function');
  if (missing.length) {
    throw new Error(`mnv2.wasm: missing training export(s) ${missing.join(', ')} (rebuild with \`npm run build:wasm\`)`);
  }
  return ex as unknown as WasmTrainExports;
}

/** A Float64Array over the instance's memory (re-created after growth). */
export function f64View(kernels: WasmKernels): Float64Array {
  return new Float64Array(kernels.memory.buffer);
}
