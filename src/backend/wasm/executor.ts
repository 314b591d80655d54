/**
 * MobileNetV2 training on the wasm kernels, with the interface of the module itself:
 * `forward(x)` and `backward(gradLogits, needInputGrad)`. The executor owns no weights: every
 * forward reads (and packs) the current values of the model's Parameters, which optimizers
 * change in place, and it updates the model's BN buffers as the reference engine does. Gradients
 * are accumulated into each `Parameter.grad` with `accumulateGrad`, so `requiresGrad` and
 * gradient accumulation across backward passes behave as in the module tree.
 *
 * `features` runs on wasm (NHWC, BN unfolded so each BatchNorm2d's own `training` flag is
 * honoured); the head (Dropout + Linear on the pooled [N, C] features) is tiny and runs through
 * the model's own `classifier` modules, so an injected dropout mask and the Linear gradients are
 * exactly the reference engine's.
 *
 * All of its memory is scratch of its arena (reset by every forward, allocated in the same order
 * each step, so memory grows only on the first step of the largest shape). Arenas do not know of
 * each other: use one executor or inference plan per kernel instance at a time.
 */
import { Tensor, formatShape } from '../../tensor/tensor.js';
import type { MobileNetV2 } from '../../models/mobilenetv2.js';
import { mobileNetV2Layout } from '../../models/layout.js';
import { Conv2d } from '../../nn/layers/conv2d.js';
import { BatchNorm2d } from '../../nn/layers/batch_norm.js';
import { ReLU6 } from '../../nn/layers/activation.js';
import { isGradEnabled } from '../../nn/grad_mode.js';
import type { Parameter } from '../../nn/parameter.js';
import { updateRunningStats } from '../../ops/batch_norm.js';
import { WasmArena } from './arena.js';
import type { WasmKernels } from './kernels.js';
import {
  convOut, nhwcToNchw, packDepthwiseWeightsInto, packedGemmFloats, packStemWeights, roundUp,
} from './pack.js';
import { POINTWISE_BACKWARD_BLOCK_ROWS, trainExports, type WasmTrainExports } from './train/kernels.js';
import { WasmMobileNetV2 } from './mobilenetv2.js';
import { depthwiseGradToTorch, stemGradToTorch } from './train/pack.js';

/** A ReLU6 unit: the module path and the flat index of its output in NCHW order (as test/helpers/kinks.ts). */
export type Unit = readonly [module: string, index: number];

/** Units closer than this to a ReLU6 kink can fall on either side in two correct float32 implementations. */
export const KINK_AMBIGUITY = 1e-5;

type Kind = 'stem' | 'pointwise' | 'depthwise';

/** A conv + BatchNorm2d (+ ReLU6) unit of `features`. */
interface ConvBnOp {
  kind: Kind;
  conv: Conv2d;
  bn: BatchNorm2d;
  /** Module path of the ReLU6, or null for a linear projection. */
  relu: string | null;
  cin: number;
  cout: number;
  stride: 1 | 2;
  /** Position in forward order: ops with a smaller order lie below. */
  order: number;
}

interface Block {
  ops: ConvBnOp[];
  shortcut: boolean;
}

/** An NHWC activation at byte offset `ptr`. */
interface Act {
  ptr: number;
  N: number;
  H: number;
  W: number;
  C: number;
}

/** What one op's forward leaves for its backward (pointers into this forward's scratch). */
interface OpCache {
  x: Act;
  /** Conv output = BN input. */
  z: number;
  y: Act;
  /** Pointwise only: this forward's copy of the weight in PyTorch's layout, from which backward packs W^T. */
  wRaw: number;
  meanPtr: number;
  /** The invStd BN's backward uses: the batch one (float32) in train mode, the running one (float64) in eval. */
  invStd: Float64Array;
  /**
   * Per-channel affine of the forward in wasm memory (y = z*scale + shift before the clamp): the
   * ReLU6 backward recomputes its mask from z with it, and the kink scan its pre-activations.
   */
  scalePtr: number;
  shiftPtr: number;
  train: boolean;
  /** flipUnits moved some of this op's ReLU6 outputs across a kink: its mask must come from y. */
  flipped: boolean;
}

/**
 * Sums per-channel float64 statistics in place across the shards of one batch (data-parallel
 * training); the identity on a single executor. Every caller of a step must call it the same
 * number of times with the same lengths, and must get identical results back.
 */
export type AllReduce = (values: Float64Array) => void;

/**
 * Every shard's copy of `values` (the same length on each), in shard order; `[values]` on a
 * single executor. The arrays may be views that the next all-reduce or all-gather overwrites.
 */
export type AllGather = (values: Float64Array) => Float64Array[];

const RELU6_LO = 0;
const RELU6_HI = 6;

export class WasmMobileNetV2Executor {
  readonly kernels: WasmKernels;
  readonly model: MobileNetV2;
  readonly arena: WasmArena;
  private readonly k: WasmTrainExports;
  private readonly stem: ConvBnOp;
  private readonly blocks: Block[];
  private readonly last: ConvBnOp;
  private readonly ops: ConvBnOp[];
  private readonly byRelu = new Map<string, ConvBnOp>();
  private readonly maxC: number;
  private caches: OpCache[] = [];
  private pass: Pass | null = null;
  /** The last op's weight gradient, deferred until the next op's all-reduce (see allReduceStart). */
  private pendingWgrad: (() => void) | null = null;
  /** The folded-BN inference plan used while `features` is frozen (see forwardFolded). */
  private folded: FoldedPlan | null = null;
  /**
   * Applied to the BN batch sums (forward: sum(z) and count, then sum((z - mean)^2); backward:
   * sum(dy), sum(dy*(z - mean)) and count), so that shards of a batch on several executors
   * normalize with the statistics of the whole batch, as PyTorch does (see parallel/).
   */
  allReduce: AllReduce = () => {};
  /**
   * allReduce in two phases: publish, then (the returned function) wait and sum. Backward runs
   * the previous op's deferred weight gradient in between, so that shards compute instead of
   * waiting at the barrier. The default is the synchronous allReduce.
   */
  allReduceStart: (values: Float64Array) => () => void = (values) => {
    this.allReduce(values);
    return () => {};
  };
  /** Gathers each shard's shifted BN forward sums (see channelShiftedSums64), combined in shard order. */
  allGather: AllGather = (values) => [values];
  /**
   * Where backward puts each gradient of a `requiresGrad` parameter (`g` may be a view of wasm
   * memory, valid only during the call): `p.accumulateGrad(g)`, or (data-parallel workers) a
   * shared buffer that the shards' gradients are summed in.
   */
  accumulate: (p: Parameter, g: Float32Array) => void = (p, g) => p.accumulateGrad(g);
  /**
   * Conv units backpropagate in one pass after BN's sums (pointwiseBackward, depthwiseBackward),
   * with dL/dz kept in cache, instead of BN's dx, the conv's input gradient and a weight gradient
   * deferred to the next op's all-reduce (see allReduceStart).
   */
  fusedBackward = true;

  constructor(kernels: WasmKernels, model: MobileNetV2, arena = new WasmArena(kernels)) {
    if (arena.kernels !== kernels) throw new Error('WasmMobileNetV2Executor: the arena belongs to another kernel instance');
    this.kernels = kernels;
    this.model = model;
    this.arena = arena;
    this.k = trainExports(kernels);
    const layout = mobileNetV2Layout(model.alpha, model.roundNearest);
    if (model.features.length !== layout.numFeatures) {
      throw new Error(`WasmMobileNetV2Executor: model.features has ${model.features.length} entries, the MobileNetV2 layout has ${layout.numFeatures}`);
    }
    const ops: ConvBnOp[] = [];
    const op = (kind: Kind, convPath: string, bnPath: string, relu: string | null, cin: number, cout: number, stride: 1 | 2): ConvBnOp => {
      const conv = model.getSubmodule(convPath);
      const bn = model.getSubmodule(bnPath);
      if (!(conv instanceof Conv2d) || !(bn instanceof BatchNorm2d)) {
        throw new Error(`WasmMobileNetV2Executor: expected Conv2d at ${convPath} and BatchNorm2d at ${bnPath}`);
      }
      const groups = kind === 'depthwise' ? cin : 1;
      const ks = kind === 'pointwise' ? 1 : 3;
      if (conv.inChannels !== cin || conv.outChannels !== cout || conv.groups !== groups || conv.kernelSize !== ks || conv.stride !== stride || conv.bias) {
        throw new Error(`WasmMobileNetV2Executor: ${convPath} is not the ${kind} conv ${cin}->${cout} (stride ${stride}) of the MobileNetV2 layout`);
      }
      if (bn.numFeatures !== cout) throw new Error(`WasmMobileNetV2Executor: ${bnPath} has ${bn.numFeatures} channels, expected ${cout}`);
      if (relu !== null && !(model.getSubmodule(relu) instanceof ReLU6)) throw new Error(`WasmMobileNetV2Executor: expected ReLU6 at ${relu}`);
      const o: ConvBnOp = { kind, conv, bn, relu, cin, cout, stride, order: ops.length };
      ops.push(o);
      if (relu) this.byRelu.set(relu, o);
      return o;
    };
    this.stem = op('stem', 'features.0.0', 'features.0.1', 'features.0.2', 3, layout.stemChannels, 2);
    this.blocks = layout.blocks.map((b) => {
      const p = `features.${b.index}.conv`;
      const list: ConvBnOp[] = [];
      let i = 0;
      if (b.expandRatio !== 1) {
        list.push(op('pointwise', `${p}.0.0`, `${p}.0.1`, `${p}.0.2`, b.cin, b.hidden, 1));
        i = 1;
      }
      list.push(op('depthwise', `${p}.${i}.0`, `${p}.${i}.1`, `${p}.${i}.2`, b.hidden, b.hidden, b.stride));
      list.push(op('pointwise', `${p}.${i + 1}`, `${p}.${i + 2}`, null, b.hidden, b.cout, 1));
      return { ops: list, shortcut: b.useShortcut };
    });
    const li = layout.numFeatures - 1;
    this.last = op('pointwise', `features.${li}.0`, `features.${li}.1`, `features.${li}.2`, layout.blocks[layout.blocks.length - 1].cout, layout.lastChannels, 1);
    this.ops = ops;
    this.maxC = Math.max(...ops.map((o) => o.cout), 3);
  }

  /** Logits [N, numClasses] for an NCHW input [N, 3, H, W]; in train mode BN running stats are updated. */
  forward(x: Tensor): Tensor {
    if (x.dtype !== 'float32' || x.ndim !== 4 || x.shape[1] !== 3) {
      throw new Error(`WasmMobileNetV2Executor: input must be float32 NCHW [N, 3, H, W], got ${x.dtype} ${formatShape(x.shape)}`);
    }
    const [N, , H, W] = x.shape;
    if (N < 1 || H < 1 || W < 1) throw new Error(`WasmMobileNetV2Executor: empty input ${formatShape(x.shape)}`);
    return this.model.classifier.forward(this.forwardFeatures(x));
  }

  /** The pooled features [N, lastChannels] (features + avgpool + flatten), keeping activations in grad mode. */
  forwardFeatures(x: Tensor): Tensor {
    if (x.dtype !== 'float32' || x.ndim !== 4 || x.shape[1] !== 3) {
      throw new Error(`WasmMobileNetV2Executor: input must be float32 NCHW [N, 3, H, W], got ${x.dtype} ${formatShape(x.shape)}`);
    }
    const [N, , H, W] = x.shape;
    if (N < 1 || H < 1 || W < 1) throw new Error(`WasmMobileNetV2Executor: empty input ${formatShape(x.shape)}`);
    try {
      if (this.foldable()) return this.forwardFolded(x, N, H, W);
      return this.forwardImpl(x, N, H, W);
    } catch (e) {
      throw outOfMemory(e, `forward of ${formatShape(x.shape)}`);
    }
  }

  /**
   * With no trainable parameter in `features` and every BN there on running statistics, the
   * features are a fixed function with no side effects, so they run as the inference plan:
   * BN folded into the convs and weights packed once, not on every step. The plan is rebuilt
   * when any features parameter or BN buffer changed since (new arrays or new values).
   */
  private foldable(): boolean {
    if (this.model.features.hasTrainableParameters()) return false;
    const eps = this.ops[0].bn.eps;
    return this.ops.every((o) => !o.bn.training && o.bn.eps === eps);
  }

  private forwardFolded(x: Tensor, N: number, H: number, W: number): Tensor {
    const arrays = this.foldSources();
    const f = this.folded;
    const same = f !== null && f.arrays.length === arrays.length && f.arrays.every((a, i) => a === arrays[i]);
    const hash = hashArrays(arrays);
    if (!same || f.hash !== hash) {
      const arena = this.arena;
      arena.resetScratch();
      if (f) arena.truncatePersistent(f.base);
      const base = arena.persistentBytes;
      const sd = this.model.stateDict();
      const fc = sd.get('classifier.1.weight');
      const plan = new WasmMobileNetV2(this.kernels, sd, {
        numClasses: fc ? fc.shape[0] : 1, alpha: this.model.alpha, roundNearest: this.model.roundNearest, eps: this.ops[0].bn.eps,
      }, arena);
      this.folded = { plan, arrays, hash, base };
    }
    this.pass = null;
    this.caches = [];
    const pooled = this.folded!.plan.forwardPooled(x);
    // Activations are materialized only if a backward through features is asked for (needInputGrad).
    if (isGradEnabled()) this.pass = { N, H, W, x: { ptr: 0, N, H, W, C: 3 }, out: { ptr: 0, N, H: 0, W: 0, C: pooled.shape[1] }, zeroBias: 0, input: x };
    return pooled;
  }

  /** Every array the folded plan is computed from, in a fixed order. */
  private foldSources(): Float32Array[] {
    const out: Float32Array[] = [];
    for (const o of this.ops) {
      out.push(o.conv.weight.data.data, o.bn.weight.data.data, o.bn.bias.data.data, o.bn.runningMean.data, o.bn.runningVar.data);
    }
    return out;
  }

  /** After a folded forward: the unfolded one on the same input (eval BN, so no side effects), for backward or the kink tools. */
  private materialize(): void {
    const p = this.pass;
    if (!p?.input) return;
    this.forwardImpl(p.input, p.N, p.H, p.W, true);
  }

  private forwardImpl(x: Tensor, N: number, H: number, W: number, keep = isGradEnabled()): Tensor {
    const arena = this.arena;
    arena.resetScratch();
    this.pass = null;
    this.caches = [];
    const x0 = arena.allocScratch(N * H * W * 3);
    // The NCHW input is copied in as it is (a memcpy) and transposed by the kernels.
    const xIn = arena.allocScratch(N * H * W * 3);
    this.kernels.f32.set(x.data, xIn >> 2);
    this.k.nchwToNhwc(N, 3, H * W, xIn, x0);
    const zeroBias = arena.allocScratch(roundUp(this.maxC, 8));
    this.kernels.f32.fill(0, zeroBias >> 2, (zeroBias >> 2) + roundUp(this.maxC, 8));
    const input: Act = { ptr: x0, N, H, W, C: 3 };

    let cur = this.runOp(this.stem, input, 0, zeroBias);
    for (const b of this.blocks) {
      const blockIn = cur;
      for (const op of b.ops) cur = this.runOp(op, cur, b.shortcut && op === b.ops[b.ops.length - 1] ? blockIn.ptr : 0, zeroBias);
    }
    cur = this.runOp(this.last, cur, 0, zeroBias);

    const C = cur.C;
    const pooledPtr = arena.allocScratch(N * C);
    this.kernels.exports.globalAvgPool(N, cur.H * cur.W, C, cur.ptr, pooledPtr);
    const pooled = new Tensor(this.kernels.f32.slice(pooledPtr >> 2, (pooledPtr >> 2) + N * C), [N, C]);
    // Same rule as the module tree: activations are kept for backward only in grad mode.
    if (keep) this.pass = { N, H, W, x: input, out: cur, zeroBias };
    return pooled;
  }

  /**
   * Backprop of `gradLogits` through the head and features, accumulating into each trainable
   * Parameter's grad. Work stops below the lowest trainable layer unless `needInputGrad`, which
   * returns dL/dinput (NCHW); otherwise null.
   */
  backward(gradLogits: Tensor, needInputGrad = false): Tensor | null {
    if (!this.pass) throw new Error('WasmMobileNetV2Executor.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    const featuresTrainable = this.model.features.hasTrainableParameters();
    const gPooled = this.model.classifier.backward(gradLogits, needInputGrad || featuresTrainable);
    if (!gPooled) {
      this.pass = null;
      return null;
    }
    return this.backwardFeatures(gPooled, needInputGrad);
  }

  /** Backprop of dL/d(pooled features) [N, lastChannels] through `features` (see backward). */
  backwardFeatures(gPooled: Tensor, needInputGrad = false): Tensor | null {
    if (!this.pass) throw new Error('WasmMobileNetV2Executor.backward: no activations kept (forward ran without grad mode, or backward ran twice)');
    this.materialize();
    const pass = this.pass;
    this.pass = null;
    if (gPooled.ndim !== 2 || gPooled.shape[0] !== pass.N || gPooled.shape[1] !== pass.out.C) {
      throw new Error(`WasmMobileNetV2Executor.backwardFeatures: expected a gradient of shape [${pass.N}, ${pass.out.C}], got ${formatShape(gPooled.shape)}`);
    }
    try {
      return this.backwardImpl(pass, gPooled, needInputGrad);
    } catch (e) {
      this.pendingWgrad = null;
      throw outOfMemory(e, `backward of batch ${pass.N} at ${pass.H}x${pass.W}`);
    }
  }

  private backwardImpl(pass: Pass, gPooled: Tensor, needInputGrad: boolean): Tensor | null {

    const k = this.k;
    const arena = this.arena;
    const { N, out } = pass;
    const trainableBelow: boolean[] = [];
    let seen = false;
    for (const op of this.ops) {
      trainableBelow.push(seen);
      seen ||= opTrainable(op);
    }

    // Scratch for the whole backward, allocated in the same order every time so memory stops
    // growing after the first step.
    let maxAct = N * pass.H * pass.W * 3;
    let maxW = 0;
    for (const c of this.caches) maxAct = Math.max(maxAct, c.x.N * c.x.H * c.x.W * c.x.C, c.y.N * c.y.H * c.y.W * c.y.C);
    let maxDwImage = 0;
    for (const op of this.ops) {
      maxW = Math.max(maxW, weightFloats(op));
      const y = this.caches[op.order]?.y;
      if (op.kind === 'depthwise' && y) maxDwImage = Math.max(maxDwImage, y.H * y.W * y.C);
    }
    const pool = new BufferPool([0, 1, 2, 3, 4].map(() => arena.allocScratch(maxAct)));
    const scratch: BackwardScratch = {
      sumDy: arena.allocScratch(this.maxC * 2),
      sumDyXc: arena.allocScratch(this.maxC * 2),
      gzBlock: arena.allocScratch(POINTWISE_BACKWARD_BLOCK_ROWS * this.maxC),
      gzImage: arena.allocScratch(maxDwImage),
      ca: arena.allocScratch(roundUp(this.maxC, 4)),
      cb: arena.allocScratch(roundUp(this.maxC, 4)),
      cc: arena.allocScratch(roundUp(this.maxC, 4)),
      dw: arena.allocScratch(maxW),
      rowAcc: arena.allocScratch(maxW),
      wPack: arena.allocScratch(maxW),
      zeroBias: pass.zeroBias,
      pool,
      needInputGrad,
      trainableBelow,
    };

    const gPooledPtr = arena.allocScratch(N * out.C);
    this.kernels.f32.set(gPooled.data, gPooledPtr >> 2);
    const gLast = pool.take();
    k.globalAvgPoolBackward(N, out.H * out.W, out.C, gPooledPtr, gLast);

    let g = this.backOp(this.last, gLast, 0, scratch);
    pool.release(gLast);
    for (let bi = this.blocks.length - 1; bi >= 0 && g; bi--) {
      const b = this.blocks[bi];
      const gOut = g;
      let gy = gOut;
      for (let oi = b.ops.length - 1; oi >= 0; oi--) {
        const op = b.ops[oi];
        // The shortcut's gradient joins the branch's in the first conv's dgrad epilogue when it is a GEMM.
        const res = b.shortcut && oi === 0 && op.kind === 'pointwise' ? gOut : 0;
        const gx = this.backOp(op, gy, res, scratch);
        if (gy !== gOut) pool.release(gy);
        gy = gx;
        if (!gy) break;
      }
      if (gy && b.shortcut && b.ops[0].kind !== 'pointwise') {
        const c = this.caches[b.ops[0].order].x;
        k.addInPlace(c.N * c.H * c.W * c.C, gy, gOut);
      }
      pool.release(gOut);
      g = gy;
    }
    if (!g) {
      this.runPendingWgrad();
      return null;
    }
    const gx = this.backOp(this.stem, g, 0, scratch);
    pool.release(g);
    this.runPendingWgrad();
    if (!needInputGrad || !gx) return null;
    return new Tensor(nhwcToNchw(this.kernels.f32, gx >> 2, N, 3, pass.H, pass.W), [N, 3, pass.H, pass.W]);
  }

  /** Module paths of the ReLU6 layers, in forward order. */
  reluNames(): string[] {
    return [...this.byRelu.keys()];
  }

  /**
   * The ReLU6 units of the last forward whose input lay within `tolerance` of 0 or 6, as
   * [module path, NCHW flat index] in forward order, ascending index.
   */
  ambiguousUnits(tolerance = KINK_AMBIGUITY): Unit[] {
    this.requirePass('ambiguousUnits');
    const found: Unit[] = [];
    for (const name of this.byRelu.keys()) {
      const x = this.preActivation(name);
      for (let i = 0; i < x.length; i++) {
        if (Math.abs(x[i]) < tolerance || Math.abs(x[i] - 6) < tolerance) found.push([name, i]);
      }
    }
    return found;
  }

  /** The input of a ReLU6 (its BN's output) in the last forward, NCHW, recomputed exactly as the kernel did. */
  preActivation(name: string): Float32Array {
    this.requirePass('preActivation');
    const op = this.byRelu.get(name);
    if (!op) throw new Error(`preActivation: ${name} is not a ReLU6 of this model`);
    const c = this.caches[op.order];
    const { N, H, W, C } = c.y;
    const HW = H * W;
    const f32 = this.kernels.f32;
    const base = c.z >> 2;
    const scale = f32.subarray(c.scalePtr >> 2, (c.scalePtr >> 2) + C);
    const shift = f32.subarray(c.shiftPtr >> 2, (c.shiftPtr >> 2) + C);
    const out = new Float32Array(N * C * HW);
    for (let n = 0; n < N; n++) {
      for (let i = 0; i < HW; i++) {
        const src = base + (n * HW + i) * C;
        // The kernel's own float32 arithmetic: round(round(z * scale) + shift).
        for (let ch = 0; ch < C; ch++) out[(n * C + ch) * HW + i] = Math.fround(f32[src + ch] * scale[ch]) + shift[ch];
      }
    }
    return out;
  }

  /**
   * After a forward, puts each unit on the other side of its ReLU6 kink (as test/helpers/kinks.ts
   * does on the module tree): only which gradients pass changes, by at most ~1e-5 in value.
   */
  flipUnits(units: readonly Unit[]): void {
    this.requirePass('flipUnits');
    const f32 = this.kernels.f32;
    for (const [name, i] of units) {
      const op = this.byRelu.get(name);
      if (!op) throw new Error(`flipUnits: ${name} is not a ReLU6 of this model`);
      const c = this.caches[op.order];
      const j = this.nhwcIndex(c.y, i, name);
      c.flipped = true;
      const v = f32[j];
      f32[j] = v > 0 && v < 6 ? 0 : v >= 6 ? 6 - 1e-7 : 1e-30;
    }
  }

  /** The cached ReLU6 output (NCHW flat index) of the last forward. */
  reluOutput(name: string, index: number): number {
    this.requirePass('reluOutput');
    const op = this.byRelu.get(name);
    if (!op) throw new Error(`reluOutput: ${name} is not a ReLU6 of this model`);
    return this.kernels.f32[this.nhwcIndex(this.caches[op.order].y, index, name)];
  }

  private nhwcIndex(a: Act, i: number, name: string): number {
    const HW = a.H * a.W;
    if (!Number.isInteger(i) || i < 0 || i >= a.N * a.C * HW) throw new Error(`${name}: unit index ${i} out of range`);
    const n = Math.floor(i / (a.C * HW));
    const r = i - n * a.C * HW;
    const ch = Math.floor(r / HW);
    return (a.ptr >> 2) + (n * HW + (r - ch * HW)) * a.C + ch;
  }

  private requirePass(what: string): void {
    if (!this.pass) throw new Error(`WasmMobileNetV2Executor.${what}: needs a forward in grad mode whose backward has not run yet`);
    this.materialize();
  }

  private runOp(op: ConvBnOp, x: Act, res: number, zeroBias: number): Act {
    const ex = this.kernels.exports;
    const k = this.k;
    const arena = this.arena;
    const { N } = x;
    const OH = op.kind === 'pointwise' ? x.H : convOut(x.H, op.stride);
    const OW = op.kind === 'pointwise' ? x.W : convOut(x.W, op.stride);
    const M = N * OH * OW;
    const C = op.cout;
    const w = op.conv.weight.data.data;
    const packedFloats = op.kind === 'pointwise' ? packedGemmFloats(C, op.cin) : op.kind === 'depthwise' ? 9 * roundUp(C, 4) : 27 * roundUp(C, 8);
    const wPtr = arena.allocScratch(packedFloats);
    const z = arena.allocScratch(M * C);
    const y = arena.allocScratch(M * C);
    const perC = roundUp(C, 4);
    const meanPtr = arena.allocScratch(perC);
    const scalePtr = arena.allocScratch(perC);
    const shiftPtr = arena.allocScratch(perC);
    const s64 = arena.allocScratch(C * 6);
    const wRaw = op.kind === 'pointwise' ? arena.allocScratch(C * op.cin) : 0;
    // Packed in wasm memory: no per-step temporary arrays (GC), and the pointwise weight is copied
    // once and packed by the kernels (forward panels here, W^T for dgrad in backward).
    const f32w = this.kernels.f32;
    if (op.kind === 'pointwise') {
      f32w.set(w, wRaw >> 2);
      k.packGemmPanels(wRaw, C, op.cin, wPtr);
    } else if (op.kind === 'depthwise') packDepthwiseWeightsInto(f32w, wPtr >> 2, w, C);
    else f32w.set(packStemWeights(w, C), wPtr >> 2);
    if (op.kind === 'pointwise') ex.gemm(M, op.cin, C, x.ptr, wPtr, zeroBias, z, -Infinity, Infinity, 0);
    else if (op.kind === 'depthwise') ex.depthwise3x3(N, x.H, x.W, C, x.ptr, wPtr, zeroBias, z, op.stride, OH, OW, -Infinity, Infinity);
    else ex.conv3x3c3(N, x.H, x.W, x.ptr, wPtr, zeroBias, z, C, op.stride, OH, OW, -Infinity, Infinity);

    const bn = op.bn;
    const mean = new Float32Array(C);
    const invStd32 = new Float32Array(C);
    const invStd = new Float64Array(C);
    if (bn.training) {
      // Mean and biased variance in float64 from each shard's one-pass shifted sums (k, s1, s2
      // per channel, see channelShiftedSums64), combined over the whole batch in shard order.
      k.channelShiftedSums64(M, C, z, s64);
      const local = new Float64Array(3 * C + 1);
      local.set(new Float64Array(this.kernels.memory.buffer, s64, 3 * C));
      local[3 * C] = M;
      const parts = this.allGather(local);
      let count = 0;
      for (const p of parts) count += p[3 * C];
      if (count <= 1) {
        throw new Error(`BatchNorm2d: expected more than 1 value per channel when training, got input size [${count / (OH * OW)}, ${C}, ${OH}, ${OW}]`);
      }
      const varBiased = new Float32Array(C);
      for (let c = 0; c < C; c++) {
        let sum = 0;
        for (const p of parts) sum += p[3 * C] * p[c] + p[C + c];
        const m = sum / count;
        let sq = 0;
        for (const p of parts) {
          const d = p[c] - m;
          sq += p[2 * C + c] + 2 * d * p[C + c] + p[3 * C] * d * d;
        }
        const v = Math.max(0, sq) / count;
        mean[c] = m;
        varBiased[c] = v;
        invStd32[c] = 1 / Math.sqrt(v + bn.eps);
        invStd[c] = invStd32[c];
      }
      updateRunningStats(bn.runningMean, bn.runningVar, { mean, varBiased, invStd: invStd32, count }, bn.momentum);
      bn.getBuffer('num_batches_tracked').int64![0] += 1n;
    } else {
      const rm = bn.runningMean.data;
      const rv = bn.runningVar.data;
      for (let c = 0; c < C; c++) {
        mean[c] = rm[c];
        invStd32[c] = 1 / Math.sqrt(rv[c] + bn.eps);
        invStd[c] = 1 / Math.sqrt(rv[c] + bn.eps);
      }
    }
    const gamma = bn.weight.data.data;
    const beta = bn.bias.data.data;
    const scale = new Float32Array(C);
    const shift = new Float32Array(C);
    for (let c = 0; c < C; c++) {
      const s = invStd32[c] * gamma[c];
      scale[c] = s;
      shift[c] = beta[c] - mean[c] * s;
    }
    const f32 = this.kernels.f32;
    f32.set(mean, meanPtr >> 2);
    f32.set(scale, scalePtr >> 2);
    f32.set(shift, shiftPtr >> 2);
    const relu = op.relu !== null;
    k.affineClamp(M, C, z, scalePtr, shiftPtr, y, relu ? RELU6_LO : -Infinity, relu ? RELU6_HI : Infinity, res);
    const yAct: Act = { ptr: y, N, H: OH, W: OW, C };
    this.caches[op.order] = { x, z, y: yAct, wRaw, meanPtr, invStd, scalePtr, shiftPtr, train: bn.training, flipped: false };
    return yAct;
  }

  /** Backward of one op from dL/dy at `gy`; returns dL/dx (a pool buffer) or 0 when backprop stops here. */
  private backOp(op: ConvBnOp, gy: number, res: number, s: BackwardScratch): number {
    const needDx = s.needInputGrad || s.trainableBelow[op.order];
    if (!needDx && !opTrainable(op)) return 0;
    const c = this.caches[op.order];
    const k = this.k;
    const ex = this.kernels.exports;
    const { N, H: OH, W: OW, C } = c.y;
    const mLocal = N * OH * OW;
    const bn = op.bn;

    // ReLU6's mask comes from z and the forward's affine (not from the stored output y): both
    // passes read z anyway, and they are memory-bound. After flipUnits (a test tool) it is y's.
    let relu6 = op.relu !== null;
    if (relu6 && c.flipped) {
      maskByRelu6Output(this.kernels.f32, gy >> 2, c.y.ptr >> 2, mLocal * C);
      relu6 = false;
    }
    if (relu6) k.bnBackwardSumsRelu6(mLocal, C, gy, c.z, c.meanPtr, c.scalePtr, c.shiftPtr, s.sumDy, s.sumDyXc);
    else k.bnBackwardSums(mLocal, C, gy, c.z, c.meanPtr, s.sumDy, s.sumDyXc);
    const buf = this.kernels.memory.buffer;
    // [sum(dy), sum(dy*(z - mean)), count], over the whole batch when it is sharded.
    const sums = new Float64Array(2 * C + 1);
    sums.set(new Float64Array(buf, s.sumDy, C));
    sums.set(new Float64Array(buf, s.sumDyXc, C), C);
    sums[2 * C] = mLocal;
    const finish = this.allReduceStart(sums);
    this.runPendingWgrad();
    finish();
    const sumDy = sums.subarray(0, C);
    const sumDyXc = sums.subarray(C, 2 * C);
    const M = sums[2 * C];
    const gradWeight = new Float32Array(C);
    const gradBias = new Float32Array(C);
    const sumDyXhat = new Float64Array(C);
    for (let ch = 0; ch < C; ch++) {
      sumDyXhat[ch] = sumDyXc[ch] * c.invStd[ch];
      gradWeight[ch] = sumDyXhat[ch];
      gradBias[ch] = sumDy[ch];
    }
    if (bn.weight.requiresGrad) this.accumulate(bn.weight, gradWeight);
    if (bn.bias.requiresGrad) this.accumulate(bn.bias, gradBias);
    const wTrain = op.conv.weight.requiresGrad;
    if (!needDx && !wTrain) return 0;

    // dL/dz = ca*g + cb*(z - mean) + cc (see bnBackwardDx).
    const gamma = bn.weight.data.data;
    const ca = new Float32Array(C);
    const cb = new Float32Array(C);
    const cc = new Float32Array(C);
    for (let ch = 0; ch < C; ch++) {
      const is = c.invStd[ch];
      if (c.train) {
        const k1 = (gamma[ch] * is) / M;
        ca[ch] = k1 * M;
        cb[ch] = -k1 * sumDyXhat[ch] * is;
        cc[ch] = -k1 * sumDy[ch];
      } else {
        ca[ch] = gamma[ch] * is;
      }
    }
    const f32 = this.kernels.f32;
    f32.set(ca, s.ca >> 2);
    f32.set(cb, s.cb >> 2);
    f32.set(cc, s.cc >> 2);
    if (op.kind === 'depthwise' && this.fusedBackward) {
      // dL/dz goes through one image of scratch: see depthwiseBackward.
      const x = c.x;
      let gx = 0;
      if (needDx) {
        gx = s.pool.take();
        packDepthwiseWeightsInto(f32, s.wPack >> 2, op.conv.weight.data.data, C);
      }
      k.depthwiseBackward(
        N, x.H, x.W, C, gy, c.z, c.meanPtr, c.scalePtr, c.shiftPtr, s.ca, s.cb, s.cc, relu6 ? 1 : 0,
        needDx ? s.wPack : 0, gx, x.ptr, wTrain ? s.dw : 0, s.rowAcc, s.gzImage, op.stride, OH, OW,
      );
      if (wTrain) this.accumulate(op.conv.weight, depthwiseGradToTorch(f32, s.dw >> 2, C));
      return gx;
    }
    if (op.kind === 'pointwise' && this.fusedBackward) {
      // dL/dz never goes to memory: see pointwiseBackward.
      let gx = 0;
      if (needDx) {
        gx = s.pool.take();
        k.packGemmPanelsT(c.wRaw, C, op.cin, s.wPack);
      }
      k.pointwiseBackward(
        mLocal, C, op.cin, gy, c.z, c.meanPtr, c.scalePtr, c.shiftPtr, s.ca, s.cb, s.cc, relu6 ? 1 : 0,
        needDx ? s.wPack : 0, s.zeroBias, gx, res, c.x.ptr, wTrain ? s.dw : 0, s.gzBlock,
      );
      if (wTrain) this.accumulate(op.conv.weight, f32.subarray(s.dw >> 2, (s.dw >> 2) + C * op.cin));
      return gx;
    }
    const gz = s.pool.take();
    if (relu6) k.bnBackwardDxRelu6(mLocal, C, gy, c.z, c.meanPtr, c.scalePtr, c.shiftPtr, s.ca, s.cb, s.cc, gz);
    else k.bnBackwardDx(mLocal, C, gy, c.z, c.meanPtr, s.ca, s.cb, s.cc, gz);

    const x = c.x;
    const w = op.conv.weight.data.data;
    let gx = 0;
    if (needDx) {
      gx = s.pool.take();
      if (op.kind === 'pointwise') {
        k.packGemmPanelsT(c.wRaw, C, op.cin, s.wPack);
        ex.gemm(mLocal, C, op.cin, gz, s.wPack, s.zeroBias, gx, -Infinity, Infinity, res);
      } else if (op.kind === 'depthwise') {
        packDepthwiseWeightsInto(this.kernels.f32, s.wPack >> 2, w, C);
        k.depthwise3x3Dgrad(N, x.H, x.W, C, gz, s.wPack, gx, op.stride, OH, OW);
      } else {
        this.kernels.f32.set(packStemWeights(w, C), s.wPack >> 2);
        k.conv3x3c3Dgrad(N, x.H, x.W, gz, s.wPack, gx, C, op.stride, OH, OW);
      }
    }
    if (!wTrain) {
      s.pool.release(gz);
      return gx;
    }
    // The weight gradient is needed by nothing below: it runs during the next op's all-reduce.
    this.pendingWgrad = () => {
      let g: Float32Array;
      if (op.kind === 'pointwise') {
        // Already in PyTorch's [Cout, Cin] layout; accumulate copies it out of wasm memory.
        k.pointwiseWgrad(mLocal, op.cin, C, x.ptr, gz, s.dw);
        g = this.kernels.f32.subarray(s.dw >> 2, (s.dw >> 2) + C * op.cin);
      } else if (op.kind === 'depthwise') {
        k.depthwise3x3Wgrad(N, x.H, x.W, C, x.ptr, gz, s.dw, s.rowAcc, op.stride, OH, OW);
        g = depthwiseGradToTorch(this.kernels.f32, s.dw >> 2, C);
      } else {
        k.conv3x3c3Wgrad(N, x.H, x.W, x.ptr, gz, s.dw, s.rowAcc, C, op.stride, OH, OW);
        g = stemGradToTorch(this.kernels.f32, s.dw >> 2, C);
      }
      this.accumulate(op.conv.weight, g);
      s.pool.release(gz);
    };
    return gx;
  }

  private runPendingWgrad(): void {
    const run = this.pendingWgrad;
    this.pendingWgrad = null;
    run?.();
  }
}

interface Pass {
  N: number;
  H: number;
  W: number;
  x: Act;
  out: Act;
  zeroBias: number;
  /** Set after a folded forward: its input (kept by reference, as the module tree keeps inputs), until activations are materialized. */
  input?: Tensor;
}

interface FoldedPlan {
  plan: WasmMobileNetV2;
  arrays: Float32Array[];
  hash: number;
  /** Arena persistent top before the plan's weights: the plan owns everything above it. */
  base: number;
}

/**
 * FNV-1a over the bits of every float (in-place updates keep array identities, so values are
 * hashed), in four interleaved lanes so the multiply chains overlap (~4 ms for 3.5M floats).
 */
function hashArrays(arrays: readonly Float32Array[]): number {
  let h0 = 0x811c9dc5, h1 = 0x01000193, h2 = 0x050c5d1f, h3 = 0x2f2f2f2f;
  for (const a of arrays) {
    const u = new Int32Array(a.buffer, a.byteOffset, a.length);
    const n4 = u.length & ~3;
    let i = 0;
    for (; i < n4; i += 4) {
      h0 = Math.imul(h0 ^ u[i], 16777619);
      h1 = Math.imul(h1 ^ u[i + 1], 16777619);
      h2 = Math.imul(h2 ^ u[i + 2], 16777619);
      h3 = Math.imul(h3 ^ u[i + 3], 16777619);
    }
    for (; i < u.length; i++) h0 = Math.imul(h0 ^ u[i], 16777619);
    h0 = Math.imul(h0 ^ u.length, 16777619);
  }
  return (h0 ^ Math.imul(h1, 3) ^ Math.imul(h2, 5) ^ Math.imul(h3, 7)) >>> 0;
}

interface BackwardScratch {
  sumDy: number;
  sumDyXc: number;
  /** pointwiseBackward's block of dL/dz. */
  gzBlock: number;
  /** depthwiseBackward's image of dL/dz. */
  gzImage: number;
  ca: number;
  cb: number;
  cc: number;
  dw: number;
  rowAcc: number;
  wPack: number;
  zeroBias: number;
  pool: BufferPool;
  needInputGrad: boolean;
  trainableBelow: boolean[];
}

/** Gradient buffers of the largest activation size, reused across layers of one backward. */
class BufferPool {
  private readonly free: number[];

  constructor(buffers: number[]) {
    this.free = [...buffers].reverse();
  }

  take(): number {
    const p = this.free.pop();
    if (p === undefined) throw new Error('WasmMobileNetV2Executor: gradient buffer pool exhausted (internal error)');
    return p;
  }

  release(p: number): void {
    this.free.push(p);
  }
}

/** Memory growth past wasm32's 4 GiB surfaces as a RangeError from Memory.grow; say what to change. */
/** g[i] = 0 where the ReLU6 output y[i] is not strictly inside (0, 6); gy is the op's own buffer. */
function maskByRelu6Output(f32: Float32Array, g: number, y: number, n: number): void {
  for (let i = 0; i < n; i++) {
    const v = f32[y + i];
    if (!(v > 0 && v < 6)) f32[g + i] = 0;
  }
}

function outOfMemory(e: unknown, what: string): unknown {
  if (e instanceof RangeError && /memory/i.test(e.message)) {
    return new Error(`WasmMobileNetV2Executor: ${what} needs more WebAssembly memory than is available (${e.message}); use a smaller batch or input size`);
  }
  return e;
}

function opTrainable(op: ConvBnOp): boolean {
  return op.conv.weight.requiresGrad || op.bn.weight.requiresGrad || op.bn.bias.requiresGrad;
}

/** Floats of the largest weight form an op needs in backward (packed, or as a weight gradient). */
function weightFloats(op: ConvBnOp): number {
  if (op.kind === 'pointwise') return Math.max(roundUp(op.cin, 8) * op.cout, roundUp(op.cout, 8) * op.cin, op.cin * op.cout);
  if (op.kind === 'depthwise') return 9 * roundUp(op.cout, 4);
  return 27 * roundUp(op.cout, 8);
}

/** A training executor for `model` on these kernels (its own arena). */
export function createWasmExecutor(kernels: WasmKernels, model: MobileNetV2): WasmMobileNetV2Executor {
  return new WasmMobileNetV2Executor(kernels, model);
}
