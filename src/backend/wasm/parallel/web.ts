/**
 * Runtime-safe (browsers): multi-core execution on module Web Workers (see pool.ts). Inference
 * works on any page; training shares memory, so it needs a cross-origin isolated page
 * (COOP: same-origin, COEP: require-corp), where SharedArrayBuffer exists.
 *
 * The workers load web_worker.js; by default the copy next to this module, which fits serving
 * the compiled dist/ as ES modules; with a bundler, pass `workerUrl`.
 */
import type { Tensor } from '../../../tensor/tensor.js';
import type { MobileNetV2 } from '../../../models/mobilenetv2.js';
import {
  createParallelExecutorWith, createParallelInferenceWith,
  type Endpoint, type ParallelInference, type ParallelMobileNetV2Executor,
} from './pool.js';
import type { ModelShape, Reply } from './protocol.js';

export { ParallelMobileNetV2Executor, type ParallelInference } from './pool.js';

export interface WebParallelOptions {
  /** The kernel module's bytes (fetch build/mnv2.wasm). */
  wasm: Uint8Array;
  /** Worker count; default navigator.hardwareConcurrency. */
  threads?: number;
  /** URL of web_worker.js; default: next to this module. */
  workerUrl?: string | URL;
}

function spawner(opts: WebParallelOptions): { threads: number; spawn: () => Endpoint } {
  const url = opts.workerUrl ?? new URL('./web_worker.js', import.meta.url);
  const threads = opts.threads ?? (typeof navigator !== 'undefined' ? navigator.hardwareConcurrency : 1) ?? 1;
  const spawn = (): Endpoint => {
    const w = new Worker(url, { type: 'module' });
    return {
      post: (msg, transfer) => w.postMessage(msg, transfer),
      onMessage: (cb) => w.addEventListener('message', (e: MessageEvent<Reply>) => cb(e.data)),
      onError: (cb) => w.addEventListener('error', (e: ErrorEvent) => cb(new Error(e.message || `cannot run ${String(url)}`))),
      terminate: () => w.terminate(),
    };
  };
  return { threads, spawn };
}

/** Batch-parallel eval-mode inference on Web Workers. */
export function createParallelInference(stateDict: Map<string, Tensor>, config: ModelShape, opts: WebParallelOptions): Promise<ParallelInference> {
  const s = spawner(opts);
  return createParallelInferenceWith(s.spawn, stateDict, config, { threads: s.threads, wasm: opts.wasm });
}

/** Data-parallel training on Web Workers (cross-origin isolated pages only). */
export function createParallelExecutor(model: MobileNetV2, opts: WebParallelOptions): Promise<ParallelMobileNetV2Executor> {
  if (typeof SharedArrayBuffer === 'undefined') {
    throw new Error('createParallelExecutor: SharedArrayBuffer is unavailable; serve the page cross-origin isolated (COOP same-origin, COEP require-corp)');
  }
  const s = spawner(opts);
  return createParallelExecutorWith(s.spawn, model, { threads: s.threads, wasm: opts.wasm });
}
