// MobileNetV2 inference kernels (NHWC, f32x4). Memory is owned by the JS side: it grows the
// exported memory and passes byte offsets; nothing here allocates.

export { gemm } from './gemm';
export { depthwise3x3 } from './depthwise';
export { conv3x3c3 } from './conv';
export { globalAvgPool } from './pool';

/** First byte after this module's static data; the JS arena starts at or above it. */
export function heapBase(): usize {
  return __heap_base;
}
