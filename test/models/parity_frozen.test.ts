import { describeFrozenParity } from '../suites/frozen_parity.js';
import { jsBackend } from '../helpers/backends.js';

describeFrozenParity(jsBackend);
