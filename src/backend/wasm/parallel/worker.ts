/**
 * Runtime-safe: what a kernel worker does with each request. Inference workers hold a folded
 * plan; training workers hold a MobileNetV2 whose `features` parameters are views of the shared
 * parameter buffer (the main thread writes the current values before each step) and run the
 * training executor on their shard, with BatchNorm's sums all-reduced across the workers.
 */
import { Tensor } from '../../../tensor/tensor.js';
import { MobileNetV2 } from '../../../models/mobilenetv2.js';
import { BatchNorm2d } from '../../../nn/layers/batch_norm.js';
import { setGradEnabled } from '../../../nn/grad_mode.js';
import type { Parameter } from '../../../nn/parameter.js';
import { loadWasmKernelsSync } from '../kernels.js';
import { compileMobileNetV2, type WasmMobileNetV2 } from '../mobilenetv2.js';
import { WasmMobileNetV2Executor } from '../executor.js';
import { Reducer, WorkerAborted } from './sync.js';
import { serveAdam } from './adam.js';
import { createWasmAdamKernel } from '../optim.js';
import type { AdamKernel } from '../../../optim/adam.js';
import type { ParamSlot, Reply, Request, WireTensor } from './protocol.js';

interface TrainState {
  exec: WasmMobileNetV2Executor;
  reducer: Reducer;
  params: Parameter[];
  slots: ParamSlot[];
  bns: BatchNorm2d[];
  /** Slot indices of the BN weights and biases, whose gradients are all-reduced already. */
  reduced: Set<number>;
  grads: SharedArrayBuffer;
  total: number;
  /** Where this worker's gradients go: the backward's `sums` (rank 0) or its own region of `grads`. */
  mine: Float32Array;
  /** Which slots got a gradient in the current backward. */
  present: Uint8Array;
  /** The whole shared parameter buffer. */
  paramView: Float32Array;
  /** The kernel module's bytes, and an Adam kernel on an instance of its own (made on first use). */
  wasm: Uint8Array;
  adam: AdamKernel | null;
}

/** A reply, and what the worker does once it has been posted. */
export interface Handled {
  reply: Reply;
  transfer: ArrayBuffer[];
  after?: () => void;
}

/** The `features` BatchNorm2d modules in module order (main and workers agree on it). */
export function featureBatchNorms(model: MobileNetV2): BatchNorm2d[] {
  return [...model.features.modules()].filter((m): m is BatchNorm2d => m instanceof BatchNorm2d);
}

/** The `features` parameters in registration order, with their offsets in a flat buffer. */
export function featureParamSlots(model: MobileNetV2): { slots: ParamSlot[]; params: Parameter[]; total: number } {
  const slots: ParamSlot[] = [];
  const params: Parameter[] = [];
  let offset = 0;
  for (const [name, p] of model.features.namedParameters('features')) {
    slots.push({ name, offset, size: p.data.size });
    params.push(p);
    offset += p.data.size;
  }
  return { slots, params, total: offset };
}

export class KernelWorker {
  private plan: WasmMobileNetV2 | null = null;
  private train: TrainState | null = null;

  /** Handles one request; the reply's arrays may be transferred; run `after` once it is posted. */
  handle(req: Request): Handled {
    try {
      return this.dispatch(req);
    } catch (e) {
      this.train?.reducer.abort();
      const aborted = e instanceof WorkerAborted;
      return { reply: { id: req.id, ok: false, error: (e as Error).message ?? String(e), aborted }, transfer: [] };
    }
  }

  private dispatch(req: Request): Handled {
    switch (req.type) {
      case 'initInference': {
        const kernels = loadWasmKernelsSync(req.wasm);
        const state = new Map(req.state.map(([k, t]) => [k, new Tensor(t.data, t.shape)] as const));
        this.plan = compileMobileNetV2(kernels, state, req.config);
        return { reply: { id: req.id, ok: true, type: 'ready' }, transfer: [] };
      }
      case 'infer': {
        if (!this.plan) throw new Error('worker: infer before initInference');
        const y = own(this.plan.forward(new Tensor(req.x.data, req.x.shape)).data);
        return { reply: { id: req.id, ok: true, type: 'logits', y: { data: y, shape: [req.x.shape[0], y.length / req.x.shape[0]] } }, transfer: [y.buffer as ArrayBuffer] };
      }
      case 'initTraining': {
        const kernels = loadWasmKernelsSync(req.wasm);
        const model = new MobileNetV2({ numClasses: req.config.numClasses, alpha: req.config.alpha, roundNearest: req.config.roundNearest });
        const { slots, params, total } = featureParamSlots(model);
        if (slots.length !== req.slots.length || slots.some((s, i) => s.name !== req.slots[i].name || s.size !== req.slots[i].size)) {
          throw new Error('worker: the parameter layout differs from the main thread model');
        }
        params.forEach((p, i) => {
          p.data = new Tensor(new Float32Array(req.params, req.slots[i].offset * 4, req.slots[i].size), p.data.shape);
        });
        const exec = new WasmMobileNetV2Executor(kernels, model);
        const reducer = new Reducer(req.reducer, req.rank);
        exec.allReduce = reducer.allReduce;
        exec.allGather = reducer.allGather;
        exec.allReduceStart = reducer.allReduceStart;
        // Sharded, a unit's weight gradient is worth more deferred into the next op's all-reduce,
        // where it fills the wait for the other workers, than fused into its backward pass
        // (pointwise units: 460-468 vs 472-478 ms per 2-worker step).
        exec.fusedBackward = false;
        const bns = featureBatchNorms(model);
        const bnParams = new Set<Parameter>(bns.flatMap((b) => [b.weight, b.bias]));
        const reduced = new Set(params.flatMap((p, i) => (bnParams.has(p) ? [i] : [])));
        const slotOf = new Map(params.map((p, i) => [p, i] as const));
        const present = new Uint8Array(slots.length);
        const mine = req.rank > 0 ? new Float32Array(req.grads, (req.rank - 1) * total * 4, total) : new Float32Array(0);
        const paramView = new Float32Array(req.params, 0, total);
        const t: TrainState = { exec, reducer, params, slots, bns, reduced, grads: req.grads, total, mine, present, paramView, wasm: req.wasm, adam: null };
        // Each backward's gradients go straight into shared memory (one per parameter and
        // backward: the main thread accumulates across backward passes).
        exec.accumulate = (p, g) => {
          const i = slotOf.get(p)!;
          t.mine.set(g, slots[i].offset);
          present[i] = 1;
        };
        this.train = t;
        return { reply: { id: req.id, ok: true, type: 'ready' }, transfer: [] };
      }
      case 'forward': {
        const t = this.requireTrain();
        t.reducer.beginStep();
        t.params.forEach((p, i) => (p.requiresGrad = req.requiresGrad[i] === 1));
        let off = 0;
        t.bns.forEach((bn, i) => {
          bn.training = req.training[i] === 1;
          const C = bn.numFeatures;
          bn.runningMean.data.set(req.running.subarray(off, off + C));
          bn.runningVar.data.set(req.running.subarray(off + C, off + 2 * C));
          off += 2 * C;
        });
        setGradEnabled(req.grad);
        const pooledT = t.exec.forwardFeatures(new Tensor(req.x.data, req.x.shape));
        const pooled = { data: own(pooledT.data), shape: pooledT.shape };
        let running: Float32Array | null = null;
        if (req.wantRunning) {
          running = new Float32Array(req.running.length);
          let o = 0;
          for (const bn of t.bns) {
            running.set(bn.runningMean.data, o);
            running.set(bn.runningVar.data, o + bn.numFeatures);
            o += 2 * bn.numFeatures;
          }
        }
        const transfer = [pooled.data.buffer as ArrayBuffer];
        if (running) transfer.push(running.buffer as ArrayBuffer);
        return { reply: { id: req.id, ok: true, type: 'pooled', y: { data: pooled.data, shape: [...pooled.shape] }, running }, transfer };
      }
      case 'backward': {
        const t = this.requireTrain();
        t.reducer.beginStep();
        t.present.fill(0);
        const sums = new Float32Array(req.sums);
        if (t.reducer.rank === 0) t.mine = sums;
        const dx = t.exec.backwardFeatures(new Tensor(req.gPooled.data, req.gPooled.shape), req.needInputGrad);
        const present = t.present.slice();
        sumShards(t, sums, present);
        const wire: WireTensor | null = dx ? { data: own(dx.data), shape: [...dx.shape] } : null;
        const transfer = [present.buffer as ArrayBuffer];
        if (wire) transfer.push(wire.data.buffer as ArrayBuffer);
        const adam = req.adam;
        const kernel = (): AdamKernel => (t.adam ??= createWasmAdamKernel(loadWasmKernelsSync(t.wasm)));
        const after = adam ? () => serveAdam(adam.shared, adam.generation, kernel, t.paramView, sums) : undefined;
        return { reply: { id: req.id, ok: true, type: 'grads', present, dx: wire }, transfer, after };
      }
    }
  }

  private requireTrain(): TrainState {
    if (!this.train) throw new Error('worker: training request before initTraining');
    return this.train;
  }
}

/**
 * Adds the other shards' gradients into `sums`, which holds rank 0's, each worker a contiguous
 * share of the slots (after a barrier: every region is written). Each element adds ranks 0, 1,
 * ... in order, in float32, as a sum on the main thread would. BN parameters are skipped: their
 * gradients are sums that every shard already holds in full.
 */
function sumShards(t: TrainState, sums: Float32Array, present: Uint8Array): void {
  const parties = t.reducer.parties();
  if (parties <= 1) return;
  t.reducer.sync();
  const share = Math.ceil(t.total / parties);
  const lo = t.reducer.rank * share;
  const hi = Math.min(t.total, lo + share);
  if (lo >= hi) return;
  const g0 = sums;
  const others = Array.from({ length: parties - 1 }, (_, r) => new Float32Array(t.grads, r * t.total * 4, t.total));
  t.slots.forEach((s, i) => {
    if (!present[i] || t.reduced.has(i)) return;
    const a = Math.max(lo, s.offset);
    const b = Math.min(hi, s.offset + s.size);
    for (const g of others) for (let j = a; j < b; j++) g0[j] += g[j];
  });
}

/** `a` itself when it owns its whole (transferable) buffer, else a copy: wasm memory cannot be transferred. */
function own(a: Float32Array): Float32Array {
  return a.byteOffset === 0 && a.buffer instanceof ArrayBuffer && a.buffer.byteLength === a.byteLength ? a : a.slice();
}
