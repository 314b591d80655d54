export {
  Optimizer,
  stateTensor,
  type BaseHyperparams,
  type HyperValue,
  type OptimizerStateDict,
  type ParamGroup,
  type ParamGroupInit,
  type ParamState,
} from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { Adam, AdamW, type AdamOptions, type AdamKernel, type AdamCoefficients } from './adam.js';
export {
  LRScheduler,
  StepLR,
  CosineAnnealingLR,
  LinearWarmup,
  SequentialLR,
  warmupCosine,
  type LRSchedulerState,
  type SchedulableOptimizer,
} from './lr_scheduler.js';
