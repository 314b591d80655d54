/** What a scheduler needs of an optimizer: its param groups' learning rates. */
export interface SchedulableOptimizer {
  paramGroups: Array<{ lr: number; initialLr?: number }>;
}

export interface LRSchedulerState {
  lastEpoch: number;
  baseLrs: number[];
}

/**
 * Base of the schedulers. Each computes the lr of epoch `lastEpoch` in closed form from
 * the groups' initial lrs (PyTorch's `_get_closed_form_lr`), so a schedule never drifts
 * and can be restored from `lastEpoch` alone. As in PyTorch, constructing a scheduler
 * records each group's `initialLr` (if not already set) and sets the epoch-0 lr.
 */
export abstract class LRScheduler {
  readonly baseLrs: number[];
  lastEpoch = 0;
  private lastLr: number[] = [];

  protected constructor(
    readonly optimizer: SchedulableOptimizer,
    protected readonly name: string,
  ) {
    if (!optimizer || !Array.isArray(optimizer.paramGroups) || optimizer.paramGroups.length === 0) {
      throw new Error(`${name}: expected an optimizer with param groups`);
    }
    for (const g of optimizer.paramGroups) g.initialLr ??= g.lr;
    this.baseLrs = optimizer.paramGroups.map((g) => g.initialLr!);
  }

  /** The lr of param group `group` at epoch `epoch`. */
  abstract lrAt(epoch: number, group: number): number;

  /** Advances one epoch (or iteration) and sets the groups' lr. */
  step(): void {
    this.lastEpoch++;
    this.apply();
  }

  /** The lr of each group, as last set by this scheduler. */
  getLastLr(): number[] {
    return [...this.lastLr];
  }

  stateDict(): LRSchedulerState {
    return { lastEpoch: this.lastEpoch, baseLrs: [...this.baseLrs] };
  }

  /** Restores the epoch and base lrs, and (unlike PyTorch, which waits for the next step) sets that epoch's lr. */
  loadStateDict(sd: LRSchedulerState): void {
    const where = `${this.name}.loadStateDict`;
    if (!sd || !Number.isInteger(sd.lastEpoch) || sd.lastEpoch < 0) throw new Error(`${where}: invalid lastEpoch ${sd?.lastEpoch}`);
    if (!Array.isArray(sd.baseLrs) || sd.baseLrs.length !== this.baseLrs.length || !sd.baseLrs.every(Number.isFinite)) {
      throw new Error(`${where}: expected ${this.baseLrs.length} finite baseLrs, got ${JSON.stringify(sd.baseLrs)}`);
    }
    this.lastEpoch = sd.lastEpoch;
    this.baseLrs.splice(0, this.baseLrs.length, ...sd.baseLrs);
    this.apply();
  }

  /** Sets every group's lr for `lastEpoch`; subclasses call it at the end of their constructor. */
  protected apply(): void {
    this.lastLr = this.optimizer.paramGroups.map((g, i) => (g.lr = this.lrAt(this.lastEpoch, i)));
  }
}

/** `torch.optim.lr_scheduler.StepLR`: lr = base * gamma^floor(epoch / stepSize). */
export class StepLR extends LRScheduler {
  readonly stepSize: number;
  readonly gamma: number;

  constructor(optimizer: SchedulableOptimizer, opts: { stepSize: number; gamma?: number }) {
    super(optimizer, 'StepLR');
    const { stepSize, gamma = 0.1 } = opts;
    if (!Number.isInteger(stepSize) || stepSize <= 0) throw new Error(`StepLR: stepSize must be a positive integer, got ${stepSize}`);
    if (!Number.isFinite(gamma)) throw new Error(`StepLR: invalid gamma ${gamma}`);
    this.stepSize = stepSize;
    this.gamma = gamma;
    this.apply();
  }

  lrAt(epoch: number, group: number): number {
    return this.baseLrs[group] * this.gamma ** Math.floor(epoch / this.stepSize);
  }
}

/** `torch.optim.lr_scheduler.CosineAnnealingLR` in closed form: etaMin + (base - etaMin)(1 + cos(pi t / tMax)) / 2. */
export class CosineAnnealingLR extends LRScheduler {
  readonly tMax: number;
  readonly etaMin: number;

  constructor(optimizer: SchedulableOptimizer, opts: { tMax: number; etaMin?: number }) {
    super(optimizer, 'CosineAnnealingLR');
    const { tMax, etaMin = 0 } = opts;
    if (!Number.isInteger(tMax) || tMax <= 0) throw new Error(`CosineAnnealingLR: tMax must be a positive integer, got ${tMax}`);
    if (!Number.isFinite(etaMin)) throw new Error(`CosineAnnealingLR: invalid etaMin ${etaMin}`);
    this.tMax = tMax;
    this.etaMin = etaMin;
    this.apply();
  }

  lrAt(epoch: number, group: number): number {
    return this.etaMin + ((this.baseLrs[group] - this.etaMin) * (1 + Math.cos((Math.PI * epoch) / this.tMax))) / 2;
  }
}

/**
 * Linear warmup, as `torch.optim.lr_scheduler.LinearLR`: the factor on the base lr goes
 * linearly from `startFactor` at epoch 0 to `endFactor` at `totalIters`, then stays.
 */
export class LinearWarmup extends LRScheduler {
  readonly startFactor: number;
  readonly endFactor: number;
  readonly totalIters: number;

  constructor(optimizer: SchedulableOptimizer, opts: { startFactor?: number; endFactor?: number; totalIters?: number } = {}) {
    super(optimizer, 'LinearWarmup');
    const { startFactor = 1 / 3, endFactor = 1, totalIters = 5 } = opts;
    if (!(startFactor > 0 && startFactor <= 1)) throw new Error(`LinearWarmup: startFactor must be in (0, 1], got ${startFactor}`);
    if (!(endFactor >= 0 && endFactor <= 1)) throw new Error(`LinearWarmup: endFactor must be in [0, 1], got ${endFactor}`);
    if (!Number.isInteger(totalIters) || totalIters <= 0) throw new Error(`LinearWarmup: totalIters must be a positive integer, got ${totalIters}`);
    this.startFactor = startFactor;
    this.endFactor = endFactor;
    this.totalIters = totalIters;
    this.apply();
  }

  lrAt(epoch: number, group: number): number {
    const t = Math.min(this.totalIters, epoch);
    return this.baseLrs[group] * (this.startFactor + ((this.endFactor - this.startFactor) * t) / this.totalIters);
  }
}

/**
 * `torch.optim.lr_scheduler.SequentialLR`: `schedulers[k]` runs from `milestones[k-1]`
 * (restarted at its own epoch 0 there) until `milestones[k]`. Step only this scheduler,
 * not the ones it chains.
 */
export class SequentialLR extends LRScheduler {
  readonly schedulers: LRScheduler[];
  readonly milestones: number[];

  constructor(optimizer: SchedulableOptimizer, schedulers: LRScheduler[], milestones: number[]) {
    super(optimizer, 'SequentialLR');
    if (!Array.isArray(schedulers) || schedulers.length === 0) throw new Error('SequentialLR: needs at least one scheduler');
    if (!Array.isArray(milestones) || milestones.length !== schedulers.length - 1) {
      throw new Error(`SequentialLR: ${schedulers.length} schedulers need ${schedulers.length - 1} milestones, got ${milestones?.length}`);
    }
    milestones.forEach((m, i) => {
      if (!Number.isInteger(m) || m <= 0 || (i > 0 && m <= milestones[i - 1])) {
        throw new Error(`SequentialLR: milestones must be increasing positive integers, got ${JSON.stringify(milestones)}`);
      }
    });
    for (const s of schedulers) {
      if (s.optimizer !== optimizer) throw new Error('SequentialLR: every scheduler must belong to the same optimizer');
    }
    this.schedulers = [...schedulers];
    this.milestones = [...milestones];
    this.apply();
  }

  lrAt(epoch: number, group: number): number {
    let k = 0;
    while (k < this.milestones.length && this.milestones[k] <= epoch) k++;
    return this.schedulers[k].lrAt(epoch - (k > 0 ? this.milestones[k - 1] : 0), group);
  }

  /** Also gives the restored base lrs to the chained schedulers, whose closed forms use them. */
  override loadStateDict(sd: LRSchedulerState): void {
    super.loadStateDict(sd);
    for (const s of this.schedulers) s.baseLrs.splice(0, s.baseLrs.length, ...this.baseLrs);
    this.apply();
  }
}

/**
 * Linear warmup for `warmupIters` epochs (from `startFactor` x base lr), then cosine
 * annealing to `etaMin` over the remaining `totalIters - warmupIters` epochs.
 */
export function warmupCosine(
  optimizer: SchedulableOptimizer,
  opts: { warmupIters: number; totalIters: number; startFactor?: number; etaMin?: number },
): SequentialLR {
  const { warmupIters, totalIters, startFactor = 1 / 3, etaMin = 0 } = opts;
  if (!Number.isInteger(warmupIters) || !Number.isInteger(totalIters) || warmupIters <= 0 || totalIters <= warmupIters) {
    throw new Error(`warmupCosine: need integers 0 < warmupIters < totalIters, got ${warmupIters} and ${totalIters}`);
  }
  const warm = new LinearWarmup(optimizer, { startFactor, totalIters: warmupIters });
  const cos = new CosineAnnealingLR(optimizer, { tMax: totalIters - warmupIters, etaMin });
  return new SequentialLR(optimizer, [warm, cos], [warmupIters]);
}
