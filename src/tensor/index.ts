export { Tensor, sizeOf, sameShape, formatShape } from './tensor.js';
export type { DType, TensorData } from './tensor.js';
export { Rng, defaultRng, manualSeed } from './rng.js';
