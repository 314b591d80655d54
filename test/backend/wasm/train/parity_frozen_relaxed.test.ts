import { describeFrozenParity } from '../../../suites/frozen_parity.js';
import { wasmRelaxedBackend } from '../../../helpers/backends.js';

// The same suite on the relaxed-SIMD build (fused multiply-adds round differently).
describeFrozenParity(wasmRelaxedBackend);
