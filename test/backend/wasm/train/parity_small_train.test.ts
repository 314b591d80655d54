import { describeTrainParity } from '../../../suites/train_parity.js';
import { wasmBackend } from '../../../helpers/backends.js';

describeTrainParity(wasmBackend);
