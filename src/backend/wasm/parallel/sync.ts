/**
 * Runtime-safe: the all-reduce that data-parallel training workers use for BatchNorm's batch
 * sums. Each worker writes its partial sums into its own slot of a SharedArrayBuffer, waits on an
 * Atomics barrier, then every worker adds the slots up in rank order, so all of them get
 * bit-identical totals (and the executor code stays synchronous and sequential). The forward's
 * statistics use allGather (every slot, in rank order, combined by the caller); backward uses the
 * two-phase allReduceStart, to compute while the other workers catch up.
 */

/** Indices into the control Int32Array. */
const ARRIVED = 0;
const GENERATION = 1;
const PARTIES = 2;
const ABORT = 3;
export const CONTROL_INTS = 4;

/** Checks of the barrier before a waiting worker sleeps (about 0.1-0.5 ms). */
const SPINS = 20000;

/** How long a waiting worker sleeps between checks of the abort flag. */
const WAIT_MS = 200;

export class WorkerAborted extends Error {}

const done = (): void => {};

/** Shared memory of one reducer group: `threads` workers, each call at most `maxLength` float64s. */
export interface ReducerBuffers {
  control: SharedArrayBuffer;
  slots: SharedArrayBuffer;
  threads: number;
  maxLength: number;
}

export function createReducerBuffers(threads: number, maxLength: number): ReducerBuffers {
  return {
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
    // Two banks, used alternately: a worker can only write a bank again two calls later, after
    // the next barrier, when every worker has finished reading it. One barrier per call.
    slots: new SharedArrayBuffer(2 * threads * maxLength * 8),
    threads,
    maxLength,
  };
}

/** Main thread: before a step, sets how many workers take part and clears a previous abort. */
export function resetReducer(b: ReducerBuffers, parties: number): void {
  const ctl = new Int32Array(b.control);
  Atomics.store(ctl, ARRIVED, 0);
  Atomics.store(ctl, ABORT, 0);
  Atomics.store(ctl, PARTIES, parties);
}

/** One worker's side of the group. */
export class Reducer {
  private readonly ctl: Int32Array;
  private readonly slots: Float64Array;
  private calls = 0;

  constructor(
    private readonly b: ReducerBuffers,
    readonly rank: number,
  ) {
    this.ctl = new Int32Array(b.control);
    this.slots = new Float64Array(b.slots);
  }

  /** At the start of every step (all parties start from bank 0). */
  beginStep(): void {
    this.calls = 0;
  }

  /** Makes the others' barrier waits throw, so a failing worker does not leave them hanging. */
  abort(): void {
    Atomics.store(this.ctl, ABORT, 1);
    Atomics.notify(this.ctl, GENERATION);
  }

  /** Sums `values` in place over the workers of this step, in rank order. */
  allReduce = (values: Float64Array): void => {
    this.allReduceStart(values)();
  };

  /**
   * allReduce in two phases: publishes `values` and returns at once; the returned function
   * waits for the other workers and then sums into `values`. Work done in between overlaps the
   * wait (it must not use `values`).
   */
  allReduceStart = (values: Float64Array): (() => void) => {
    const parties = Atomics.load(this.ctl, PARTIES);
    if (parties <= 1) return done;
    const { threads, maxLength } = this.b;
    if (values.length > maxLength) throw new Error(`allReduce: ${values.length} values, the buffers hold ${maxLength}`);
    const bank = this.calls++ & 1;
    this.slots.set(values, (bank * threads + this.rank) * maxLength);
    const gen = this.arrive(parties);
    return () => {
      this.waitFor(gen);
      for (let i = 0; i < values.length; i++) {
        let acc = 0;
        for (let r = 0; r < parties; r++) acc += this.slots[(bank * threads + r) * maxLength + i];
        values[i] = acc;
      }
    };
  };

  /**
   * Every worker's `values` (the same length on each), in rank order: views of the shared slots,
   * valid until this worker's next allReduce or allGather call but one (the banks alternate).
   */
  allGather = (values: Float64Array): Float64Array[] => {
    const parties = Atomics.load(this.ctl, PARTIES);
    if (parties <= 1) return [values];
    const { threads, maxLength } = this.b;
    if (values.length > maxLength) throw new Error(`allGather: ${values.length} values, the buffers hold ${maxLength}`);
    const bank = this.calls++ & 1;
    this.slots.set(values, (bank * threads + this.rank) * maxLength);
    this.barrier(parties);
    const out: Float64Array[] = [];
    for (let r = 0; r < parties; r++) {
      const o = (bank * threads + r) * maxLength;
      out.push(this.slots.subarray(o, o + values.length));
    }
    return out;
  };

  /** Waits until every worker of this step has called it (no data exchanged). */
  sync(): void {
    const parties = Atomics.load(this.ctl, PARTIES);
    if (parties > 1) this.barrier(parties);
  }

  /** The number of workers taking part in this step. */
  parties(): number {
    return Math.max(1, Atomics.load(this.ctl, PARTIES));
  }

  private barrier(parties: number): void {
    this.waitFor(this.arrive(parties));
  }

  /** Counts this worker in at the barrier (the last one opens it); returns the generation to await. */
  private arrive(parties: number): number {
    const ctl = this.ctl;
    const gen = Atomics.load(ctl, GENERATION);
    if (Atomics.add(ctl, ARRIVED, 1) === parties - 1) {
      Atomics.store(ctl, ARRIVED, 0);
      Atomics.add(ctl, GENERATION, 1);
      Atomics.notify(ctl, GENERATION);
    }
    return gen;
  }

  /** Waits until the barrier of generation `gen` has opened. */
  private waitFor(gen: number): void {
    const ctl = this.ctl;
    // Spin briefly first: the other workers usually arrive within tens of microseconds, and
    // sleeping in Atomics.wait costs a futex wake-up and a reschedule at each of the ~100
    // barriers of a step.
    for (let i = 0; i < SPINS && Atomics.load(ctl, GENERATION) === gen; i++);
    while (Atomics.load(ctl, GENERATION) === gen) {
      if (Atomics.load(ctl, ABORT)) throw new WorkerAborted('allReduce: another worker failed');
      Atomics.wait(ctl, GENERATION, gen, WAIT_MS);
    }
  }
}
