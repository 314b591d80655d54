import { Tensor, formatShape } from '../../tensor/tensor.js';
import { WasmArena } from './arena.js';
import type { WasmKernels } from './kernels.js';
import { mobileNetV2Layout, type MobileNetV2Layout } from '../../models/layout.js';
import {
  foldBatchNorm, packGemmWeights, packDepthwiseWeights, packStemWeights, padBias,
  convOut, nchwToNhwc, nhwcToNchw, type BatchNormParams,
} from './pack.js';

export interface MobileNetV2Config {
  numClasses: number;
  alpha: number;
  roundNearest?: number;
  eps?: number;
}

const RELU6: readonly [number, number] = [0, 6];
const LINEAR: readonly [number, number] = [-Infinity, Infinity];

/** A 1x1 conv (or Linear) as GEMM: K inputs, N outputs, packed weight and padded bias pointers. */
interface PointwiseOp { K: number; N: number; w: number; b: number; clamp: readonly [number, number] }
interface DepthwiseOp { C: number; stride: 1 | 2; w: number; b: number }
interface BlockOp { index: number; expand?: PointwiseOp; dw: DepthwiseOp; project: PointwiseOp; shortcut: boolean }

export interface MobileNetV2Trace {
  /** `features.i` outputs, NCHW. */
  features: Tensor[];
  /** After avgpool + flatten: [N, lastChannels]. */
  pooled: Tensor;
  logits: Tensor;
}

/** An activation in the arena: NHWC at float index `ptr >> 2`. */
interface Act { ptr: number; N: number; H: number; W: number; C: number }

/**
 * Eval-mode MobileNetV2 on the wasm kernels. BN is folded into the convs, weights are packed
 * once into the arena's persistent region, and activations stay NHWC between the NCHW input
 * and output conversions.
 */
export class WasmMobileNetV2 {
  readonly kernels: WasmKernels;
  readonly arena: WasmArena;
  readonly layout: MobileNetV2Layout;
  readonly numClasses: number;
  private readonly stem: { cout: number; w: number; b: number };
  private readonly blocks: BlockOp[];
  private readonly last: PointwiseOp;
  private readonly classifier: PointwiseOp;

  constructor(kernels: WasmKernels, stateDict: Map<string, Tensor>, config: MobileNetV2Config, arena = new WasmArena(kernels)) {
    if (arena.kernels !== kernels) throw new Error('WasmMobileNetV2: the arena belongs to another kernel instance');
    this.kernels = kernels;
    this.arena = arena;
    arena.resetScratch();
    const eps = config.eps ?? 1e-5;
    const layout = mobileNetV2Layout(config.alpha, config.roundNearest ?? 8);
    this.layout = layout;
    this.numClasses = config.numClasses;
    const sd = new StateDictReader(stateDict);

    const stemFold = sd.convBn('features.0.0', 'features.0.1', [layout.stemChannels, 3, 3, 3], eps);
    this.stem = {
      cout: layout.stemChannels,
      w: arena.persist(packStemWeights(stemFold.weight, layout.stemChannels)),
      b: arena.persist(padBias(stemFold.bias, 8)),
    };

    const pointwise = (conv: string, bn: string, K: number, N: number, clamp: readonly [number, number]): PointwiseOp => {
      const f = sd.convBn(conv, bn, [N, K, 1, 1], eps);
      return { K, N, clamp, w: arena.persist(packGemmWeights(f.weight, N, K)), b: arena.persist(padBias(f.bias, 8)) };
    };
    const depthwise = (conv: string, bn: string, C: number, stride: 1 | 2): DepthwiseOp => {
      const f = sd.convBn(conv, bn, [C, 1, 3, 3], eps);
      return { C, stride, w: arena.persist(packDepthwiseWeights(f.weight, C)), b: arena.persist(padBias(f.bias, 4)) };
    };

    this.blocks = layout.blocks.map((spec) => {
      const p = `features.${spec.index}.conv`;
      if (spec.expandRatio === 1) {
        return {
          index: spec.index,
          dw: depthwise(`${p}.0.0`, `${p}.0.1`, spec.hidden, spec.stride),
          project: pointwise(`${p}.1`, `${p}.2`, spec.hidden, spec.cout, LINEAR),
          shortcut: spec.useShortcut,
        };
      }
      return {
        index: spec.index,
        expand: pointwise(`${p}.0.0`, `${p}.0.1`, spec.cin, spec.hidden, RELU6),
        dw: depthwise(`${p}.1.0`, `${p}.1.1`, spec.hidden, spec.stride),
        project: pointwise(`${p}.2`, `${p}.3`, spec.hidden, spec.cout, LINEAR),
        shortcut: spec.useShortcut,
      };
    });
    const lastIdx = layout.numFeatures - 1;
    const lastIn = layout.blocks[layout.blocks.length - 1].cout;
    this.last = pointwise(`features.${lastIdx}.0`, `features.${lastIdx}.1`, lastIn, layout.lastChannels, RELU6);

    const fcW = sd.get('classifier.1.weight', [config.numClasses, layout.lastChannels]);
    const fcB = sd.get('classifier.1.bias', [config.numClasses]);
    this.classifier = {
      K: layout.lastChannels,
      N: config.numClasses,
      clamp: LINEAR,
      w: arena.persist(packGemmWeights(fcW, config.numClasses, layout.lastChannels)),
      b: arena.persist(padBias(fcB, 8)),
    };
  }

  /** Logits [N, numClasses] for an NCHW input [N, 3, H, W]. */
  forward(input: Tensor): Tensor {
    return this.run(input, this.layout.numFeatures - 1, 'logits').logits!;
  }

  /** The output of `features.upTo` (default: the last), NCHW. */
  forwardFeatures(input: Tensor, upTo = this.layout.numFeatures - 1): Tensor {
    if (!Number.isInteger(upTo) || upTo < 0 || upTo >= this.layout.numFeatures) {
      throw new Error(`forwardFeatures: upTo must be an integer in [0, ${this.layout.numFeatures - 1}], got ${upTo}`);
    }
    return this.run(input, upTo, 'features').features![upTo];
  }

  /** Avgpool + flatten features [N, lastChannels]. */
  forwardPooled(input: Tensor): Tensor {
    return this.run(input, this.layout.numFeatures - 1, 'pooled').pooled!;
  }

  /** Every `features.i` output (NCHW), the pooled features and the logits, from one pass. */
  trace(input: Tensor): MobileNetV2Trace {
    return this.run(input, this.layout.numFeatures - 1, 'all') as MobileNetV2Trace;
  }

  private run(input: Tensor, upTo: number, want: 'logits' | 'features' | 'pooled' | 'all'): Partial<MobileNetV2Trace> {
    if (input.dtype !== 'float32' || input.ndim !== 4 || input.shape[1] !== 3) {
      throw new Error(`WasmMobileNetV2: input must be float32 NCHW [N, 3, H, W], got ${input.dtype} ${formatShape(input.shape)}`);
    }
    const [N, , H, W] = input.shape;
    if (N < 1 || H < 1 || W < 1) throw new Error(`WasmMobileNetV2: empty input ${formatShape(input.shape)}`);
    const k = this.kernels.exports;
    const arena = this.arena;
    arena.resetScratch();

    // Scratch: the input, two ping-pong buffers for block outputs, and two for the expanded/depthwise activations.
    const sizes = this.planSizes(N, H, W);
    const x0 = arena.allocScratch(N * H * W * 3);
    const ping = [arena.allocScratch(sizes.maxFeature), arena.allocScratch(sizes.maxFeature)];
    const hidA = arena.allocScratch(sizes.maxHidden);
    const hidB = arena.allocScratch(sizes.maxHidden);
    const pooledPtr = arena.allocScratch(N * this.layout.lastChannels);
    const logitsPtr = arena.allocScratch(N * this.numClasses);
    nchwToNhwc(input.data, N, 3, H, W, this.kernels.f32, x0 >> 2);

    const features: Tensor[] = [];
    const keep = (a: Act, i: number): void => {
      if (want === 'all' || (want === 'features' && i === upTo)) {
        features[i] = new Tensor(nhwcToNchw(this.kernels.f32, a.ptr >> 2, a.N, a.C, a.H, a.W), [a.N, a.C, a.H, a.W]);
      }
    };

    let oh = convOut(H, 2);
    let ow = convOut(W, 2);
    k.conv3x3c3(N, H, W, x0, this.stem.w, this.stem.b, ping[0], this.stem.cout, 2, oh, ow, RELU6[0], RELU6[1]);
    let cur: Act = { ptr: ping[0], N, H: oh, W: ow, C: this.stem.cout };
    let slot = 0;
    keep(cur, 0);

    for (const b of this.blocks) {
      if (b.index > upTo) break;
      let src = cur;
      if (b.expand) {
        this.pointwise(b.expand, src, hidA, 0);
        src = { ...src, ptr: hidA, C: b.expand.N };
      }
      oh = convOut(src.H, b.dw.stride);
      ow = convOut(src.W, b.dw.stride);
      k.depthwise3x3(N, src.H, src.W, b.dw.C, src.ptr, b.dw.w, b.dw.b, hidB, b.dw.stride, oh, ow, RELU6[0], RELU6[1]);
      const dwOut: Act = { ptr: hidB, N, H: oh, W: ow, C: b.dw.C };
      slot ^= 1;
      this.pointwise(b.project, dwOut, ping[slot], b.shortcut ? cur.ptr : 0);
      cur = { ...dwOut, ptr: ping[slot], C: b.project.N };
      keep(cur, b.index);
    }

    const lastIdx = this.layout.numFeatures - 1;
    if (upTo < lastIdx) return { features };
    slot ^= 1;
    this.pointwise(this.last, cur, ping[slot], 0);
    cur = { ...cur, ptr: ping[slot], C: this.last.N };
    keep(cur, lastIdx);
    if (want === 'features') return { features };

    k.globalAvgPool(N, cur.H * cur.W, cur.C, cur.ptr, pooledPtr);
    const C = this.layout.lastChannels;
    const pooled = new Tensor(this.kernels.f32.slice(pooledPtr >> 2, (pooledPtr >> 2) + N * C), [N, C]);
    if (want === 'pooled') return { pooled };
    const fc = this.classifier;
    k.gemm(N, fc.K, fc.N, pooledPtr, fc.w, fc.b, logitsPtr, fc.clamp[0], fc.clamp[1], 0);
    const logits = new Tensor(this.kernels.f32.slice(logitsPtr >> 2, (logitsPtr >> 2) + N * fc.N), [N, fc.N]);
    return { features, pooled, logits };
  }

  private pointwise(op: PointwiseOp, src: Act, out: number, residual: number): void {
    const M = src.N * src.H * src.W;
    this.kernels.exports.gemm(M, op.K, op.N, src.ptr, op.w, op.b, out, op.clamp[0], op.clamp[1], residual);
  }

  /** Largest block output and largest expanded activation, in floats, for this input size. */
  private planSizes(N: number, H: number, W: number): { maxFeature: number; maxHidden: number } {
    let h = convOut(H, 2);
    let w = convOut(W, 2);
    let maxFeature = N * h * w * this.stem.cout;
    let maxHidden = 0;
    for (const b of this.blocks) {
      maxHidden = Math.max(maxHidden, N * h * w * b.dw.C);
      h = convOut(h, b.dw.stride);
      w = convOut(w, b.dw.stride);
      maxHidden = Math.max(maxHidden, N * h * w * b.dw.C);
      maxFeature = Math.max(maxFeature, N * h * w * b.project.N);
    }
    maxFeature = Math.max(maxFeature, N * h * w * this.last.N);
    return { maxFeature, maxHidden };
  }
}

/** Builds a WasmMobileNetV2 from a PyTorch-layout state dict (eval mode). */
export function compileMobileNetV2(kernels: WasmKernels, stateDict: Map<string, Tensor>, config: MobileNetV2Config): WasmMobileNetV2 {
  return new WasmMobileNetV2(kernels, stateDict, config);
}

class StateDictReader {
  constructor(private readonly sd: Map<string, Tensor>) {}

  get(key: string, shape: readonly number[]): Float32Array {
    const t = this.sd.get(key);
    if (!t) throw new Error(`MobileNetV2 state dict: missing '${key}'`);
    if (t.dtype !== 'float32') throw new Error(`MobileNetV2 state dict: '${key}' is ${t.dtype}, expected float32`);
    if (t.shape.length !== shape.length || t.shape.some((d, i) => d !== shape[i])) {
      throw new Error(`MobileNetV2 state dict: '${key}' has shape ${formatShape(t.shape)}, expected ${formatShape(shape)}`);
    }
    return t.data;
  }

  convBn(conv: string, bn: string, shape: readonly number[], eps: number) {
    const weight = this.get(`${conv}.weight`, shape);
    const c = shape[0];
    const params: BatchNormParams = {
      weight: this.get(`${bn}.weight`, [c]),
      bias: this.get(`${bn}.bias`, [c]),
      runningMean: this.get(`${bn}.running_mean`, [c]),
      runningVar: this.get(`${bn}.running_var`, [c]),
    };
    return foldBatchNorm(weight, c, params, eps);
  }
}
