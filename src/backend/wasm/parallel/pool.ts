/**
 * Runtime-safe: the main-thread side of multi-core execution, over any transport that can
 * spawn a worker running worker.ts (node.ts: worker_threads).
 *
 * - `ParallelInference` splits a batch into contiguous shards, one per worker, each running the
 *   folded eval plan; logits come back concatenated in order. Only batches speed up: a batch of
 *   1 runs on one worker.
 * - `ParallelMobileNetV2Executor` is data-parallel training with the single-thread executor's
 *   results: each worker runs `features` on its shard, BatchNorm's batch sums are all-reduced in
 *   float64 (sync.ts) so every shard normalizes with the statistics of the whole batch, and the
 *   head (Dropout + Linear) runs here over the full batch, so dropout draws and the Linear
 *   gradients are exactly the single-thread ones. Its forward and backward are async.
 */
import { Tensor, formatShape } from '../../../tensor/tensor.js';
import type { MobileNetV2 } from '../../../models/mobilenetv2.js';
import type { BatchNorm2d } from '../../../nn/layers/batch_norm.js';
import type { Parameter } from '../../../nn/parameter.js';
import { isGradEnabled } from '../../../nn/grad_mode.js';
import { Dropout } from '../../../nn/layers/dropout.js';
import { Linear } from '../../../nn/layers/linear.js';
import type { Sequential } from '../../../nn/layers/sequential.js';
import { concatRows, sliceRows, splitRows, type ModelShape, type ParamSlot, type Reply, type Request, type WireTensor } from './protocol.js';
import { createReducerBuffers, resetReducer, type ReducerBuffers } from './sync.js';
import { ParallelAdamKernel, createAdamShared, type AdamShared } from './adam.js';
import type { Adam, AdamKernel } from '../../../optim/adam.js';
import { loadWasmKernelsSync } from '../kernels.js';
import { createWasmAdamKernel } from '../optim.js';
import { featureBatchNorms, featureParamSlots } from './worker.js';

type DistributiveOmit<T, K extends PropertyKey> = T extends unknown ? Omit<T, K> : never;
type RequestBody = DistributiveOmit<Request, 'id'>;
type OkReply = Extract<Reply, { ok: true }>;

/** A started worker, as the transport exposes it. */
export interface Endpoint {
  post(msg: Request, transfer: ArrayBuffer[]): void;
  onMessage(cb: (r: Reply) => void): void;
  onError(cb: (e: Error) => void): void;
  /** Called with true while requests are outstanding (Node: ref the worker so the process waits), false when idle. */
  setBusy?(busy: boolean): void;
  terminate(): unknown;
}

export type Spawn = () => Endpoint;

class WorkerFailed extends Error {
  constructor(
    message: string,
    readonly aborted: boolean,
  ) {
    super(message);
  }
}

class Client {
  private nextId = 0;
  private readonly pending = new Map<number, { resolve: (r: OkReply) => void; reject: (e: Error) => void }>();
  private dead: Error | null = null;

  constructor(readonly ep: Endpoint) {
    ep.onMessage((r) => {
      const p = this.pending.get(r.id);
      if (!p) return;
      this.pending.delete(r.id);
      if (!this.pending.size) ep.setBusy?.(false);
      if (r.ok) p.resolve(r);
      else p.reject(new WorkerFailed(r.error, r.aborted));
    });
    ep.onError((e) => {
      this.dead = new Error(`kernel worker crashed: ${e.message}`);
      for (const p of this.pending.values()) p.reject(this.dead);
      this.pending.clear();
      ep.setBusy?.(false);
    });
  }

  request(body: RequestBody, transfer: ArrayBuffer[] = []): Promise<OkReply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ep.setBusy?.(true);
      this.ep.post({ ...body, id } as Request, transfer);
    });
  }
}

/** Waits for every request; rethrows the first real failure (not another worker's abort). */
async function all<T>(ps: Promise<T>[]): Promise<T[]> {
  const rs = await Promise.allSettled(ps);
  const failed = rs.filter((r): r is PromiseRejectedResult => r.status === 'rejected').map((r) => r.reason as Error);
  if (failed.length) throw failed.find((e) => !(e instanceof WorkerFailed && e.aborted)) ?? failed[0];
  return rs.map((r) => (r as PromiseFulfilledResult<T>).value);
}

function checkThreads(threads: number, what: string): void {
  if (!Number.isInteger(threads) || threads < 1) throw new Error(`${what}: threads must be a positive integer, got ${threads}`);
}

function checkInput(x: Tensor, what: string): void {
  if (x.dtype !== 'float32' || x.ndim !== 4 || x.shape[1] !== 3 || x.shape[0] < 1) {
    throw new Error(`${what}: input must be float32 NCHW [N, 3, H, W] with N >= 1, got ${x.dtype} ${formatShape(x.shape)}`);
  }
}

class Group {
  private closed = false;

  constructor(readonly clients: Client[]) {}

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(this.clients.map((c) => c.ep.terminate()));
  }

  check(what: string): void {
    if (this.closed) throw new Error(`${what}: closed`);
  }
}

async function startGroup(spawn: Spawn, threads: number, init: (rank: number) => RequestBody): Promise<Group> {
  const clients: Client[] = [];
  const group = new Group(clients);
  try {
    for (let i = 0; i < threads; i++) clients.push(new Client(spawn()));
    await all(clients.map((c, rank) => c.request(init(rank))));
  } catch (e) {
    await group.close();
    throw e;
  }
  return group;
}

export interface ParallelOptions {
  threads: number;
  /** The kernel module's bytes (build/mnv2.wasm). */
  wasm: Uint8Array;
}

export interface ParallelInference {
  readonly threads: number;
  /** Logits [N, numClasses]; rows are split over min(threads, N) workers. */
  forward(x: Tensor): Promise<Tensor>;
  close(): Promise<void>;
}

export async function createParallelInferenceWith(
  spawn: Spawn,
  stateDict: Map<string, Tensor>,
  config: ModelShape,
  opts: ParallelOptions,
): Promise<ParallelInference> {
  checkThreads(opts.threads, 'createParallelInference');
  const state: [string, WireTensor][] = [];
  for (const [k, t] of stateDict) if (t.dtype === 'float32') state.push([k, { data: t.data, shape: [...t.shape] }]);
  const group = await startGroup(spawn, opts.threads, () => ({ type: 'initInference', wasm: opts.wasm, config, state }));
  let busy = false;
  return {
    threads: opts.threads,
    async forward(x: Tensor): Promise<Tensor> {
      group.check('ParallelInference.forward');
      checkInput(x, 'ParallelInference.forward');
      if (busy) throw new Error('ParallelInference.forward: the previous forward has not finished');
      busy = true;
      try {
        const shards = splitRows(x.shape[0], opts.threads);
        const replies = await all(
          shards.map((s, i) => {
            const xs = sliceRows(x, s.start, s.count);
            return group.clients[i].request({ type: 'infer', x: xs }, [xs.data.buffer as ArrayBuffer]);
          }),
        );
        const y = concatRows(replies.map((r) => (r as Extract<OkReply, { type: 'logits' }>).y));
        return new Tensor(y.data, y.shape);
      } finally {
        busy = false;
      }
    },
    close: () => group.close(),
  };
}

/** Data-parallel training of `model` (see the file comment). Create with createParallelExecutor. */
export class ParallelMobileNetV2Executor {
  readonly model: MobileNetV2;
  readonly threads: number;
  private readonly group: Group;
  private readonly reducer: ReducerBuffers;
  private readonly paramView: Float32Array;
  /**
   * Each `features` parameter's view of the shared parameter buffer, which the executor made its
   * `data`: the optimizer updates the workers' copy in place. A parameter whose `data` was
   * replaced since is copied in before each forward.
   */
  private readonly paramViews: Float32Array[];
  private readonly slots: ParamSlot[];
  private readonly params: Parameter[];
  private readonly bns: BatchNorm2d[];
  private readonly total: number;
  private readonly wasm: Uint8Array;
  /** The last backward's gradient sums. */
  private sums: Float32Array | null = null;
  /**
   * Two gradient-sum buffers, used by alternate backward passes: the gradients handed out view
   * one of them until the backward after next (a fresh buffer each time would cost page faults,
   * ~10 ms for MobileNetV2's 2.2M floats).
   */
  private readonly sumsBuffers: SharedArrayBuffer[] = [];
  private backwards = 0;
  private input: Float32Array | null = null;
  private adam: { kernel: ParallelAdamKernel; shared: AdamShared } | null = null;
  private pass: { parties: number; N: number } | null = null;
  private busy = false;

  /** @internal use createParallelExecutorWith */
  constructor(model: MobileNetV2, threads: number, group: Group, reducer: ReducerBuffers, params: SharedArrayBuffer, wasm: Uint8Array) {
    this.model = model;
    this.wasm = wasm;
    this.threads = threads;
    this.group = group;
    this.reducer = reducer;
    this.paramView = new Float32Array(params);
    const s = featureParamSlots(model);
    this.slots = s.slots;
    this.params = s.params;
    this.total = s.total;
    this.paramViews = s.params.map((p, i) => {
      const view = this.paramView.subarray(s.slots[i].offset, s.slots[i].offset + s.slots[i].size);
      view.set(p.data.data);
      p.data = new Tensor(view, p.data.shape);
      return view;
    });
    this.bns = featureBatchNorms(model);
  }

  /** Logits [N, numClasses]; in train mode the BN running statistics are updated once, from the whole batch. */
  async forward(x: Tensor): Promise<Tensor> {
    const pooled = await this.forwardFeatures(x);
    return this.model.classifier.forward(pooled);
  }

  /** The pooled features [N, lastChannels] (features + avgpool + flatten on the workers), as forward without the head. */
  async forwardFeatures(x: Tensor): Promise<Tensor> {
    return this.exclusive('forward', async () => {
      checkInput(x, 'ParallelMobileNetV2Executor.forward');
      this.pass = null;
      const N = x.shape[0];
      const shards = splitRows(N, this.threads);
      const parties = shards.length;
      this.params.forEach((p, i) => {
        if (p.data.data !== this.paramViews[i]) this.paramViews[i].set(p.data.data);
      });
      const requiresGrad = Uint8Array.from(this.params, (p) => (p.requiresGrad ? 1 : 0));
      const training = Uint8Array.from(this.bns, (b) => (b.training ? 1 : 0));
      const running = new Float32Array(this.bns.reduce((n, b) => n + 2 * b.numFeatures, 0));
      let o = 0;
      for (const b of this.bns) {
        running.set(b.runningMean.data, o);
        running.set(b.runningVar.data, o + b.numFeatures);
        o += 2 * b.numFeatures;
      }
      const anyTraining = training.includes(1);
      const grad = isGradEnabled();
      resetReducer(this.reducer, parties);
      const input = this.inputView(x.data.length);
      input.set(x.data);
      const row = x.data.length / N;
      const replies = (await all(
        shards.map((s, i) => {
          const xs = { data: input.subarray(s.start * row, (s.start + s.count) * row), shape: [s.count, ...x.shape.slice(1)] };
          return this.group.clients[i].request({ type: 'forward', x: xs, grad, requiresGrad, training, running, wantRunning: i === 0 && anyTraining });
        }),
      )) as Extract<OkReply, { type: 'pooled' }>[];
      const r0 = replies[0].running;
      if (r0) {
        // Every worker computed the same global statistics; rank 0's update is the one the model keeps.
        let off = 0;
        for (const b of this.bns) {
          const C = b.numFeatures;
          if (b.training) {
            b.runningMean.data.set(r0.subarray(off, off + C));
            b.runningVar.data.set(r0.subarray(off + C, off + 2 * C));
            b.getBuffer('num_batches_tracked').int64![0] += 1n;
          }
          off += 2 * C;
        }
      }
      const pooled = concatRows(replies.map((r) => r.y));
      if (grad) this.pass = { parties, N };
      return new Tensor(pooled.data, pooled.shape);
    });
  }

  /**
   * Backprop of `gradLogits`: the head here, `features` on the workers; gradients are summed
   * over the shards into each trainable Parameter's grad (accumulating, as the single-thread
   * executor). Returns dL/dinput (NCHW) when `needInputGrad`, else null.
   *
   * A `features` gradient this creates (where grad was null) views shared memory that the
   * backward after next reuses, as PyTorch DDP's gradient_as_bucket_view: a parameter still
   * holding it then gets a copy, but a gradient kept elsewhere must be copied to outlive it.
   */
  async backward(gradLogits: Tensor, needInputGrad = false): Promise<Tensor | null> {
    return this.exclusive('backward', async () => {
      const pass = this.pass;
      if (!pass) throw new Error('ParallelMobileNetV2Executor.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
      this.pass = null;
      const featuresTrainable = this.model.features.hasTrainableParameters();
      const needPooled = needInputGrad || featuresTrainable;
      const head = needPooled ? dropoutLinear(this.model.classifier) : null;
      let gPooled: Tensor | null;
      if (head) {
        // The head's input gradient first, with the very functions its modules use, so that the
        // workers start on features while the Linear's parameter gradients are computed here.
        gPooled = head.dropout.backward(head.linear.backwardInput(gradLogits), true);
      } else {
        gPooled = this.model.classifier.backward(gradLogits, needPooled);
      }
      if (!gPooled) return null;
      const shards = splitRows(pass.N, this.threads);
      resetReducer(this.reducer, pass.parties);
      // The gradients handed out below view this buffer (nothing is copied out of it).
      const sums = this.sumsBuffer();
      // With adamKernel's kernel, rank 0 then takes the optimizer's updates along with this
      // thread: two threads fill two cores, and the update is partly bound by memory bandwidth.
      const adam = this.adam ? { shared: this.adam.shared, generation: this.adam.kernel.start() } : null;
      const pending = all(
        shards.map((s, i) => {
          const g = sliceRows(gPooled, s.start, s.count);
          const serve = i === 0 ? adam : null;
          return this.group.clients[i].request({ type: 'backward', gPooled: g, needInputGrad, sums, adam: serve }, [g.data.buffer as ArrayBuffer]);
        }),
      );
      try {
        head?.linear.backward(gradLogits, false);
      } finally {
        // Settle the workers' step before any error here surfaces.
        await Promise.allSettled([pending]);
      }
      const replies = (await pending) as Extract<OkReply, { type: 'grads' }>[];
      // The workers summed the shards' gradients into `sums` (BN's are all-reduced sums already);
      // a parameter without a gradient takes its view as is.
      const sumView = new Float32Array(sums);
      this.sums = sumView;
      this.params.forEach((p, i) => {
        if (!p.requiresGrad || !replies[0].present[i]) return;
        const { offset, size } = this.slots[i];
        const g = sumView.subarray(offset, offset + size);
        if (p.grad === null) p.grad = new Tensor(g, p.data.shape);
        else p.accumulateGrad(g);
      });
      if (!needInputGrad || replies.some((r) => !r.dx)) return null;
      const dx = concatRows(replies.map((r) => r.dx!));
      return new Tensor(dx.data, dx.shape);
    });
  }

  /**
   * An Adam kernel for `opt` (set it as `opt.kernel`) that updates the `features` parameters on
   * the workers, which are otherwise idle during `opt.step()`, and the rest on this thread, all
   * with the wasm kernel (bit-identical to `createWasmAdamKernel`'s; see adam.ts). From each
   * parameter's second update on: its first moves the moments into shared memory.
   */
  adamKernel(opt: Adam): AdamKernel {
    this.group.check('ParallelMobileNetV2Executor.adamKernel');
    if (this.busy) throw new Error('ParallelMobileNetV2Executor.adamKernel: a forward/backward is running');
    if (this.adam) throw new Error('ParallelMobileNetV2Executor.adamKernel: this executor has one already');
    const shared = createAdamShared(this.total, this.slots);
    const host = { shared, slots: this.slots, params: this.params, paramView: this.paramView, paramViews: this.paramViews, sums: () => this.sums };
    const kernel = new ParallelAdamKernel(host, opt, createWasmAdamKernel(loadWasmKernelsSync(this.wasm)));
    this.adam = { kernel, shared };
    return kernel;
  }

  /**
   * `n` floats of shared memory for a forward's input, whose shards the workers read in place
   * (slices of it, fresh transferable arrays, would cost page faults every step). A pass's
   * workers keep reading it until its backward, which ends before the next forward writes.
   */
  private inputView(n: number): Float32Array {
    if (!this.input || this.input.length < n) this.input = new Float32Array(new SharedArrayBuffer(n * 4));
    return this.input.subarray(0, n);
  }

  /**
   * The gradient-sum buffer of this backward: the one of the backward before last, after any
   * parameter whose gradient still views it (accumulated since) has been given a copy.
   */
  private sumsBuffer(): SharedArrayBuffer {
    const i = this.backwards++ & 1;
    const buffer = (this.sumsBuffers[i] ??= new SharedArrayBuffer(this.total * 4));
    for (const p of this.params) {
      if (p.grad !== null && p.grad.data.buffer === buffer) p.grad = new Tensor(p.grad.data.slice(), p.grad.shape);
    }
    return buffer;
  }

  /** Stops the workers. */
  close(): Promise<void> {
    this.adam?.kernel.end();
    return this.group.close();
  }

  private async exclusive<T>(what: string, fn: () => Promise<T>): Promise<T> {
    this.group.check(`ParallelMobileNetV2Executor.${what}`);
    if (this.busy) throw new Error(`ParallelMobileNetV2Executor.${what}: the previous forward/backward has not finished (await it)`);
    // The workers take no request while they serve the optimizer.
    this.adam?.kernel.stop();
    this.busy = true;
    try {
      return await fn();
    } finally {
      this.busy = false;
    }
  }
}

/** The MobileNetV2 head, Dropout then Linear, or null for any other classifier (then run as one module). */
function dropoutLinear(head: Sequential): { dropout: Dropout; linear: Linear } | null {
  if (head.length !== 2) return null;
  const dropout = head.at(0);
  const linear = head.at(1);
  return dropout instanceof Dropout && linear instanceof Linear ? { dropout, linear } : null;
}

export async function createParallelExecutorWith(spawn: Spawn, model: MobileNetV2, opts: ParallelOptions): Promise<ParallelMobileNetV2Executor> {
  checkThreads(opts.threads, 'createParallelExecutor');
  const { slots, total } = featureParamSlots(model);
  const params = new SharedArrayBuffer(total * 4);
  const grads = new SharedArrayBuffer((opts.threads - 1) * total * 4);
  const maxC = Math.max(...featureBatchNorms(model).map((b) => b.numFeatures));
  // Backward all-reduces 2C + 1 values per BN; forward gathers 3C + 1 (channelShiftedSums64 and the count).
  const reducer = createReducerBuffers(opts.threads, 3 * maxC + 1);
  const config: ModelShape = { numClasses: model.numClasses, alpha: model.alpha, roundNearest: model.roundNearest };
  const group = await startGroup(spawn, opts.threads, (rank) => ({
    type: 'initTraining', wasm: opts.wasm, config, rank, params, grads, slots, reducer,
  }));
  return new ParallelMobileNetV2Executor(model, opts.threads, group, reducer, params, opts.wasm);
}
