import { describeTrainParity } from '../suites/train_parity.js';
import { jsBackend } from '../helpers/backends.js';

describeTrainParity(jsBackend);
