/**
 * Runtime-safe: Adam's update of the `features` parameters on a data-parallel training worker
 * (rank 0), idle while the main thread runs `opt.step()`.
 *
 * The four arrays of such a parameter all live in shared memory at the parameter's slot offset:
 * its data (the shared parameter buffer), its gradient (the last backward's sums), and its two
 * moments (`exp_avg`, `exp_avg_sq`, moved into a shared buffer after the parameter's first
 * update). `update` then only queues the parameter's chunks and returns; the worker, waiting in
 * `serveAdam` since its backward, takes chunks off the queue while the main thread goes on
 * with the next parameters (the classifier's, which are not shared, it updates itself). Before
 * the step's last update returns, the main thread takes the chunks still queued and waits for
 * those in flight, so `opt.step()` returns with every parameter updated, as with any kernel.
 * Every chunk runs the same wasm kernel as the main thread, so results are bit-identical.
 */
import type { Adam, AdamCoefficients, AdamKernel } from '../../../optim/adam.js';
import type { Parameter } from '../../../nn/parameter.js';
import { Tensor } from '../../../tensor/tensor.js';
import type { ParamSlot } from './protocol.js';

/** Indices into the control Int32Array. */
const POSTED = 0;
const CLAIMED = 1;
const DONE = 2;
const SIGNAL = 3;
const SERVING = 4;
const FAILED = 5;
const CONTROL_INTS = 6;

/** Per job: offset, length, then the coefficients. */
const FIELDS = 10;

/** Floats per chunk: the wasm kernel's own chunk, so a job is one copy-in, update, copy-out. */
const CHUNK = 32768;

/** A parameter below this size is updated on the main thread at once (queueing costs more). */
const MIN_SHARED = 8192;

/** Checks of the queue before an idle worker sleeps, and its longest sleep (each post wakes it). */
const SPINS = 20000;
const WAIT_MS = 1000;

/** How long the main thread waits for chunks in flight before it gives up on the workers. */
const STUCK_MS = 60_000;

/** The shared memory of the queue and the moments, sent to the workers with each backward. */
export interface AdamShared {
  control: SharedArrayBuffer;
  jobs: SharedArrayBuffer;
  /** exp_avg of every `features` parameter at its slot offset, then exp_avg_sq (total floats each). */
  moments: SharedArrayBuffer;
}

export function createAdamShared(total: number, slots: ParamSlot[]): AdamShared {
  const capacity = slots.reduce((n, s) => n + Math.ceil(s.size / CHUNK), 0);
  return {
    control: new SharedArrayBuffer(CONTROL_INTS * 4),
    jobs: new SharedArrayBuffer(capacity * FIELDS * 8),
    moments: new SharedArrayBuffer(2 * total * 4),
  };
}

/** The arrays of the shared slots: parameters, the current gradient sums, the two moments. */
interface Arrays {
  w: Float32Array;
  g: Float32Array;
  m: Float32Array;
  v: Float32Array;
}

class Queue {
  readonly ctl: Int32Array;
  private readonly jobs: Float64Array;
  readonly capacity: number;

  constructor(s: AdamShared) {
    this.ctl = new Int32Array(s.control);
    this.jobs = new Float64Array(s.jobs);
    this.capacity = this.jobs.length / FIELDS;
  }

  /** Runs one queued chunk with `kernel` if there is one left to claim; false if none. */
  runOne(kernel: () => AdamKernel, a: Arrays): boolean {
    const ctl = this.ctl;
    const c = Atomics.load(ctl, CLAIMED);
    if (c >= Atomics.load(ctl, POSTED) || Atomics.compareExchange(ctl, CLAIMED, c, c + 1) !== c) return c < Atomics.load(ctl, POSTED);
    const j = this.jobs.subarray(c * FIELDS, (c + 1) * FIELDS);
    const lo = j[0];
    const hi = lo + j[1];
    try {
      kernel().update(a.w.subarray(lo, hi), a.g.subarray(lo, hi), a.m.subarray(lo, hi), a.v.subarray(lo, hi), {
        lerpCoeff: j[2], b2: j[3], oneMinusB2: j[4], negStepSize: j[5], bc2Sqrt: j[6], eps: j[7], decayMode: j[8] as 0 | 1 | 2, decay: j[9],
      });
    } catch {
      Atomics.store(ctl, FAILED, 1);
    }
    Atomics.add(ctl, DONE, 1);
    return true;
  }

  /** Queues the chunks of [offset, offset + n); false when they do not fit (drain first). */
  post(offset: number, n: number, c: AdamCoefficients): boolean {
    const ctl = this.ctl;
    const first = Atomics.load(ctl, POSTED);
    const count = Math.ceil(n / CHUNK);
    if (first + count > this.capacity) return false;
    for (let k = 0; k < count; k++) {
      const lo = k * CHUNK;
      this.jobs.set(
        [offset + lo, Math.min(CHUNK, n - lo), c.lerpCoeff, c.b2, c.oneMinusB2, c.negStepSize, c.bc2Sqrt, c.eps, c.decayMode, c.decay],
        (first + k) * FIELDS,
      );
    }
    Atomics.store(ctl, POSTED, first + count);
    this.wake();
    return true;
  }

  wake(): void {
    Atomics.add(this.ctl, SIGNAL, 1);
    Atomics.notify(this.ctl, SIGNAL);
  }
}

/**
 * Worker side: after a backward, takes queued chunks until the main thread ends the service
 * (before its next request to the workers). Idle, it spins briefly, then sleeps.
 */
export function serveAdam(shared: AdamShared, generation: number, kernel: () => AdamKernel, w: Float32Array, g: Float32Array): void {
  const q = new Queue(shared);
  const total = w.length;
  const moments = new Float32Array(shared.moments);
  const a: Arrays = { w, g, m: moments.subarray(0, total), v: moments.subarray(total, 2 * total) };
  const ctl = q.ctl;
  // Spin only after some activity: the next parameter's chunks usually follow within microseconds.
  let spin = true;
  for (;;) {
    const sig = Atomics.load(ctl, SIGNAL);
    if (Atomics.load(ctl, CLAIMED) < Atomics.load(ctl, POSTED)) {
      q.runOne(kernel, a);
      spin = true;
      continue;
    }
    if (Atomics.load(ctl, SERVING) !== generation) return;
    let i = 0;
    if (spin) while (i < SPINS && Atomics.load(ctl, SIGNAL) === sig) i++;
    if (!spin || i === SPINS) spin = Atomics.wait(ctl, SIGNAL, sig, WAIT_MS) !== 'timed-out';
  }
}

/** What the executor shares with the kernel. */
export interface AdamHost {
  shared: AdamShared;
  slots: ParamSlot[];
  params: Parameter[];
  /** The shared parameter buffer (total floats), and the views of it that the parameters' data are. */
  paramView: Float32Array;
  paramViews: Float32Array[];
  /** The last backward's gradient sums (total floats), or null before the first. */
  sums(): Float32Array | null;
}

export class ParallelAdamKernel implements AdamKernel {
  private readonly q: Queue;
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private readonly slotOf: Map<Parameter, number>;
  /** Each parameter of the optimizer by its data array: its group and place in it. */
  private where = new Map<Float32Array, { p: Parameter; group: number; index: number }>();
  private pending = false;
  private generation = 0;

  constructor(
    private readonly host: AdamHost,
    private readonly opt: Adam,
    /** The main thread's kernel: parameters that are not shared, and chunks it takes itself. */
    private readonly local: AdamKernel,
  ) {
    this.q = new Queue(host.shared);
    const total = host.paramView.length;
    const moments = new Float32Array(host.shared.moments);
    this.m = moments.subarray(0, total);
    this.v = moments.subarray(total, 2 * total);
    this.slotOf = new Map(host.params.map((p, i) => [p, i] as const));
  }

  update(w: Float32Array, grad: Float32Array, m: Float32Array, v: Float32Array, c: AdamCoefficients): void {
    const at = this.locate(w);
    const slot = at ? this.slotOf.get(at.p) : undefined;
    if (slot !== undefined && w.length >= MIN_SHARED && this.isShared(slot, w, grad, m, v)) {
      const { offset, size } = this.host.slots[slot];
      if (!this.q.post(offset, size, c)) {
        // The queue holds one step's chunks: this is another step's (e.g. a second step()).
        this.drain();
        this.q.post(offset, size, c);
      }
      this.pending = true;
    } else {
      this.local.update(w, grad, m, v, c);
      if (at && slot !== undefined) this.shareMoments(at.p, slot);
    }
    if (this.pending && !(at && this.moreInGroup(at.group, at.index))) this.drain();
  }

  /** Ends the workers' serveAdam (after every queued chunk has run): before any other request to them. */
  stop(): void {
    this.drain();
    this.end();
  }

  /** Ends the service without waiting (the executor is closing). */
  end(): void {
    Atomics.store(this.q.ctl, SERVING, 0);
    this.q.wake();
  }

  /** Before a backward: the number its workers serve under, until the next stop(). */
  start(): number {
    this.generation = (this.generation % 0x3fffffff) + 1;
    Atomics.store(this.q.ctl, SERVING, this.generation);
    return this.generation;
  }

  /** Takes the queued chunks and waits for those in flight; then the queue is empty again. */
  drain(): void {
    if (!this.pending) return;
    const ctl = this.q.ctl;
    const a = this.arrays();
    const local = (): AdamKernel => this.local;
    while (this.q.runOne(local, a));
    const t0 = Date.now();
    for (let i = 0; Atomics.load(ctl, DONE) < Atomics.load(ctl, POSTED); i++) {
      if ((i & 0xffff) === 0 && Date.now() - t0 > STUCK_MS) throw new Error('parallel Adam: the workers stopped taking updates');
    }
    // Nothing is queued or running: reset, POSTED first (a worker comparing CLAIMED < POSTED
    // mid-reset sees no job).
    Atomics.store(ctl, POSTED, 0);
    Atomics.store(ctl, CLAIMED, 0);
    Atomics.store(ctl, DONE, 0);
    this.pending = false;
    if (Atomics.exchange(ctl, FAILED, 0)) throw new Error('parallel Adam: an update failed on a worker');
  }

  private arrays(): Arrays {
    return { w: this.host.paramView, g: this.host.sums()!, m: this.m, v: this.v };
  }

  private isShared(slot: number, w: Float32Array, g: Float32Array, m: Float32Array, v: Float32Array): boolean {
    const sums = this.host.sums();
    const off = this.host.slots[slot].offset * 4;
    return (
      sums !== null && w === this.host.paramViews[slot] && g.buffer === sums.buffer && g.byteOffset === off &&
      m.buffer === this.m.buffer && m.byteOffset === off && v.buffer === this.v.buffer && v.byteOffset === this.v.byteOffset + off
    );
  }

  /** Moves `p`'s moments into the shared buffer (same values), so its next updates can be queued. */
  private shareMoments(p: Parameter, slot: number): void {
    const s = this.opt.state.get(p);
    const { offset, size } = this.host.slots[slot];
    const pairs = [['exp_avg', this.m], ['exp_avg_sq', this.v]] as const;
    if (!s || pairs.some(([key]) => !(s[key] instanceof Tensor) || (s[key] as Tensor).size !== size)) return;
    for (const [key, moments] of pairs) {
      const t = s[key] as Tensor;
      const view = moments.subarray(offset, offset + size);
      if (t.data === view) continue;
      view.set(t.data);
      s[key] = new Tensor(view, t.shape);
    }
  }

  private locate(w: Float32Array): { p: Parameter; group: number; index: number } | undefined {
    let at = this.where.get(w);
    if (!at || at.p.data.data !== w) {
      this.where = new Map();
      this.opt.paramGroups.forEach((g, group) => g.params.forEach((p, index) => this.where.set(p.data.data, { p, group, index })));
      at = this.where.get(w);
    }
    return at;
  }

  /** Whether step() will update another parameter of the group after this one (with this kernel: same group, same settings). */
  private moreInGroup(group: number, index: number): boolean {
    const params = this.opt.paramGroups[group].params;
    for (let j = index + 1; j < params.length; j++) if (params[j].grad !== null && params[j].requiresGrad) return true;
    return false;
  }
}

