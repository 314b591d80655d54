/**
 * Runtime-safe: the messages between the main thread and the kernel workers, and how a batch
 * is split into shards. The transport (worker_threads in Node, Web Workers in browsers) only
 * has to deliver these objects with structured clone.
 */
import type { ReducerBuffers } from './sync.js';
import type { AdamShared } from './adam.js';

export interface ModelShape {
  numClasses: number;
  alpha: number;
  roundNearest?: number;
}

/** A float32 tensor on the wire. */
export interface WireTensor {
  data: Float32Array;
  shape: number[];
}

/** Where each `features` parameter lives in the shared parameter buffer (float offsets). */
export interface ParamSlot {
  name: string;
  offset: number;
  size: number;
}

export type Request =
  | { id: number; type: 'initInference'; wasm: Uint8Array; config: ModelShape; state: [string, WireTensor][] }
  | { id: number; type: 'infer'; x: WireTensor }
  | {
      id: number;
      type: 'initTraining';
      wasm: Uint8Array;
      config: ModelShape;
      rank: number;
      params: SharedArrayBuffer;
      /** One region of `total` floats per rank but the first: rank r > 0 writes its gradients into region r - 1. */
      grads: SharedArrayBuffer;
      slots: ParamSlot[];
      reducer: ReducerBuffers;
    }
  | {
      id: number;
      type: 'forward';
      /** The shard, a view of shared memory the main thread leaves alone until the pass ends. */
      x: WireTensor;
      grad: boolean;
      /** Per `features` parameter (slot order): the main model's requiresGrad. */
      requiresGrad: Uint8Array;
      /** Per BatchNorm2d of `features` (module order): its training flag. */
      training: Uint8Array;
      /** running_mean then running_var of each BatchNorm2d, concatenated in module order. */
      running: Float32Array;
      /** Rank 0 sends back the updated running statistics. */
      wantRunning: boolean;
    }
  | {
      id: number;
      type: 'backward';
      gPooled: WireTensor;
      needInputGrad: boolean;
      /** `total` floats: rank 0 writes its gradients here, and the workers add the other ranks' in. */
      sums: SharedArrayBuffer;
      /** When set, the workers take Adam updates after replying, until the service's generation changes (adam.ts). */
      adam: { shared: AdamShared; generation: number } | null;
    };

export type Reply =
  | { id: number; ok: true; type: 'ready' }
  | { id: number; ok: true; type: 'logits'; y: WireTensor }
  | { id: number; ok: true; type: 'pooled'; y: WireTensor; running: Float32Array | null }
  | {
      id: number;
      ok: true;
      type: 'grads';
      /**
       * Whether slot i got a gradient; its sum over the shards is then at the slot's offset in
       * the request's `sums`.
       */
      present: Uint8Array;
      dx: WireTensor | null;
    }
  | { id: number; ok: false; error: string; aborted: boolean };

/** Contiguous shards of `n` rows over at most `threads` workers, sizes differing by at most one. */
export function splitRows(n: number, threads: number): { start: number; count: number }[] {
  const parts = Math.max(1, Math.min(threads, n));
  const base = Math.floor(n / parts);
  const extra = n % parts;
  const out: { start: number; count: number }[] = [];
  let start = 0;
  for (let i = 0; i < parts; i++) {
    const count = base + (i < extra ? 1 : 0);
    out.push({ start, count });
    start += count;
  }
  return out;
}

/** Rows [start, start + count) of a row-major tensor, as a fresh (transferable) array. */
export function sliceRows(t: { data: Float32Array; shape: readonly number[] }, start: number, count: number): WireTensor {
  const row = t.shape.slice(1).reduce((a, b) => a * b, 1);
  return { data: t.data.slice(start * row, (start + count) * row), shape: [count, ...t.shape.slice(1)] };
}

/** Concatenates row shards back in order. */
export function concatRows(parts: WireTensor[]): WireTensor {
  const rows = parts.reduce((n, p) => n + p.shape[0], 0);
  const out = new Float32Array(parts.reduce((n, p) => n + p.data.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p.data, off);
    off += p.data.length;
  }
  return { data: out, shape: [rows, ...parts[0].shape.slice(1)] };
}
