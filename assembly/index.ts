// MobileNetV2 inference kernels (NHWC, f32x4). Memory is owned by the JS side: it grows the
// exported memory and passes byte offsets; nothing here allocates.

export { gemm } from './gemm';
export { depthwise3x3 } from './depthwise';
export { conv3x3c3 } from './conv';
export { globalAvgPool } from './pool';

// The optimizer's elementwise update (exact float32, see assembly/optim.ts).
export { adamUpdate } from './optim';

// Training: BN train forward/backward with fused ReLU6, and the backward of every conv.
export {
  channelShiftedSums64, affineClamp, bnBackwardSums, bnBackwardSumsRelu6, bnBackwardDx, bnBackwardDxRelu6,
  relu6Backward, addInPlace, globalAvgPoolBackward,
} from './train/bn';
export { pointwiseWgrad } from './train/pointwise';
export { pointwiseBackward } from './train/pointwise_backward';
export { depthwise3x3Dgrad, depthwise3x3Wgrad } from './train/depthwise';
export { depthwiseBackward } from './train/depthwise_backward';
export { conv3x3c3Wgrad, conv3x3c3Dgrad } from './train/stem';
export { packGemmPanels, packGemmPanelsT, nchwToNhwc } from './train/pack';

/** First byte after this module's static data; the JS arena starts at or above it. */
export function heapBase(): usize {
  return __heap_base;
}

/** True in the relaxed-SIMD build (build/mnv2-relaxed.wasm), whose multiply-adds are fused. */
export function relaxedSimd(): bool {
  return ASC_FEATURE_RELAXED_SIMD;
}
