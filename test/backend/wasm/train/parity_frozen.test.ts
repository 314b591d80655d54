import { describeFrozenParity } from '../../../suites/frozen_parity.js';
import { wasmBackend } from '../../../helpers/backends.js';

describeFrozenParity(wasmBackend);
