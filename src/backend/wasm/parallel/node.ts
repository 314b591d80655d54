/**
 * Node-only: multi-core execution on worker_threads (see pool.ts). The workers run the compiled
 * dist/src/backend/wasm/parallel/node_worker.js (worker threads need plain JS), so run
 * `npm run build` before using this from the TypeScript sources.
 */
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { Tensor } from '../../../tensor/tensor.js';
import type { MobileNetV2 } from '../../../models/mobilenetv2.js';
import { defaultWasmPath } from '../node.js';
import {
  createParallelExecutorWith, createParallelInferenceWith,
  type Endpoint, type ParallelInference, type ParallelMobileNetV2Executor,
} from './pool.js';
import type { ModelShape, Reply } from './protocol.js';

export { ParallelMobileNetV2Executor, type ParallelInference } from './pool.js';

export interface NodeParallelOptions {
  /** Worker count; default: the number of cores. */
  threads?: number;
  /** The kernel module's bytes; default: build/mnv2.wasm. */
  wasm?: Uint8Array;
  /** The worker script; default: node_worker.js next to this file (dist) or dist's copy (sources). */
  script?: string;
}

/** The compiled worker entry, or undefined when dist has not been built. */
export function parallelWorkerScript(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const p = here.endsWith('.js')
    ? fileURLToPath(new URL('./node_worker.js', import.meta.url))
    : fileURLToPath(new URL('../../../../dist/src/backend/wasm/parallel/node_worker.js', import.meta.url));
  return existsSync(p) ? p : undefined;
}

export function defaultThreads(): number {
  return availableParallelism();
}

function resolve(opts: NodeParallelOptions): { threads: number; wasm: Uint8Array; spawn: () => Endpoint } {
  const script = opts.script ?? parallelWorkerScript();
  if (!script) throw new Error('parallel kernel worker not found (dist/src/backend/wasm/parallel/node_worker.js): run `npm run build`');
  let wasm = opts.wasm;
  if (!wasm) {
    const path = defaultWasmPath();
    if (!path) throw new Error('build/mnv2.wasm not found: run `npm run build:wasm` first');
    wasm = new Uint8Array(readFileSync(path));
  }
  return { threads: opts.threads ?? defaultThreads(), wasm, spawn: () => nodeEndpoint(script) };
}

function nodeEndpoint(script: string): Endpoint {
  const w = new Worker(script);
  // Idle workers must not keep the process alive (a forgotten close() would hang it); busy ones must.
  w.unref();
  return {
    post: (msg, transfer) => w.postMessage(msg, transfer),
    onMessage: (cb) => w.on('message', (r: Reply) => cb(r)),
    onError: (cb) => {
      w.on('error', cb);
      w.on('exit', (code) => cb(new Error(`exited with code ${code}`)));
    },
    setBusy: (busy) => (busy ? w.ref() : w.unref()),
    terminate: () => w.terminate(),
  };
}

/** Batch-parallel eval-mode inference on `threads` workers (each compiles the folded plan once). */
export function createParallelInference(stateDict: Map<string, Tensor>, config: ModelShape, opts: NodeParallelOptions = {}): Promise<ParallelInference> {
  const r = resolve(opts);
  return createParallelInferenceWith(r.spawn, stateDict, config, { threads: r.threads, wasm: r.wasm });
}

/**
 * Data-parallel training executor for `model` on `threads` workers, equal to the single-thread
 * executor up to float rounding; forward/backward are async. Call close() when done.
 */
export function createParallelExecutor(model: MobileNetV2, opts: NodeParallelOptions = {}): Promise<ParallelMobileNetV2Executor> {
  const r = resolve(opts);
  return createParallelExecutorWith(r.spawn, model, { threads: r.threads, wasm: r.wasm });
}
