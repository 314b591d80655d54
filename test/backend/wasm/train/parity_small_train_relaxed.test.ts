import { describeTrainParity } from '../../../suites/train_parity.js';
import { wasmRelaxedBackend } from '../../../helpers/backends.js';

// The same suite on the relaxed-SIMD build (fused multiply-adds round differently).
describeTrainParity(wasmRelaxedBackend);
