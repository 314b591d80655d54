export {
  WasmKernels, loadWasmKernels, loadWasmKernelsSync, relaxedSimdSupported, preferredKernelFile, type WasmKernelExports, type WasmSource,
} from './kernels.js';
export { WasmArena } from './arena.js';
export { WasmMobileNetV2, compileMobileNetV2, type MobileNetV2Config, type MobileNetV2Trace } from './mobilenetv2.js';
export { makeDivisible, mobileNetV2Layout, type MobileNetV2Layout, type InvertedResidualSpec } from '../../models/layout.js';
export {
  foldBatchNorm, packGemmWeights, packDepthwiseWeights, packStemWeights, padBias, convOut, nchwToNhwc, nhwcToNchw,
} from './pack.js';
export { WasmMobileNetV2Executor, createWasmExecutor, KINK_AMBIGUITY, type Unit as ReluUnit } from './executor.js';
export { trainExports, type WasmTrainExports } from './train/kernels.js';
export { createWasmAdamKernel } from './optim.js';
export { createWasmLinearKernel } from './linear.js';
