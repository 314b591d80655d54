/**
 * The runtime entry: tensors, modules, MobileNetV2, optimizers, weight I/O on
 * bytes, preprocessing and the WASM backend. It imports nothing from
 * node_modules and no Node built-ins, so it runs unchanged in browsers and
 * workers. File access, jimp decoding and the CLI live in `mnv2/node`.
 */
export * from './tensor/index.js';
export * from './nn/index.js';
export { MobileNetV2, ConvBNReLU, InvertedResidual, makeDivisible, INVERTED_RESIDUAL_SETTING } from './models/mobilenetv2.js';
export type { MobileNetV2Config } from './models/mobilenetv2.js';
export { conv2d, conv2dBackwardInput, conv2dBackwardWeight, conv2dBackwardBias } from './ops/conv2d.js';
export { relu6, relu6Backward } from './ops/activation.js';
export { linear } from './ops/linear.js';
export { add, flatten } from './ops/elementwise.js';
export { adaptiveAvgPool2d1x1 } from './ops/pooling.js';
export { softmax, logSoftmax } from './ops/softmax.js';
export { crossEntropy } from './ops/cross_entropy.js';
export type { CrossEntropyOptions, Reduction, Target } from './ops/cross_entropy.js';
export * from './optim/index.js';
export { readSafetensors, writeSafetensors } from './io/safetensors.js';
export type { SafetensorsFile } from './io/safetensors.js';
export { readPth } from './io/pth.js';
export type { PthFile } from './io/pth.js';
export { writePth } from './io/pth_writer.js';
export { readWeights } from './io/weights.js';
export type { WeightsFile } from './io/weights.js';
export * from './data/index.js';
export {
  WasmKernels,
  loadWasmKernels,
  loadWasmKernelsSync,
  relaxedSimdSupported,
  preferredKernelFile,
  WasmMobileNetV2,
  compileMobileNetV2,
  createWasmAdamKernel,
  createWasmLinearKernel,
} from './backend/wasm/index.js';
