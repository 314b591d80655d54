/** Node-only: the two inference engines behind one `forward`. */
import type { Tensor } from '../tensor/tensor.js';
import { MobileNetV2 } from '../models/mobilenetv2.js';
import { noGrad } from '../nn/grad_mode.js';
import { compileMobileNetV2 } from '../backend/wasm/mobilenetv2.js';
import { defaultWasmPath, loadWasmKernelsFromFile } from '../backend/wasm/node.js';
import { createParallelInference, parallelWorkerScript } from '../backend/wasm/parallel/node.js';
import type { InferredConfig } from './config.js';

export type BackendName = 'wasm' | 'js';

export interface Engine {
  backend: BackendName;
  /** Logits [N, numClasses] for [N, 3, H, W]. */
  forward(x: Tensor): Tensor;
}

export function createJsEngine(stateDict: Map<string, Tensor>, config: InferredConfig, name: string): Engine {
  const model = new MobileNetV2({ numClasses: config.numClasses, alpha: config.alpha });
  try {
    model.loadStateDict(stateDict, { strict: true });
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
  model.eval();
  return { backend: 'js', forward: (x) => noGrad(() => model.forward(x)) };
}

export function createWasmEngine(stateDict: Map<string, Tensor>, config: InferredConfig, name: string, wasmPath: string): Engine {
  const kernels = loadWasmKernelsFromFile(wasmPath);
  let net;
  try {
    net = compileMobileNetV2(kernels, stateDict, config);
  } catch (e) {
    throw new Error(`${name}: ${(e as Error).message}`);
  }
  return { backend: 'wasm', forward: (x) => net.forward(x) };
}

/** `wasm` falls back to `js` (with `warn`) when build/mnv2.wasm has not been built. */
export function createEngine(
  backend: BackendName,
  stateDict: Map<string, Tensor>,
  config: InferredConfig,
  name: string,
  warn: (msg: string) => void,
): Engine {
  if (backend === 'wasm') {
    const wasmPath = defaultWasmPath();
    if (wasmPath) return createWasmEngine(stateDict, config, name, wasmPath);
    warn('build/mnv2.wasm not found (run `npm run build:wasm`); using the slower js backend');
  }
  return createJsEngine(stateDict, config, name);
}

/** An engine whose forward may run on worker threads; close() stops them. */
export interface ThreadedEngine {
  backend: BackendName;
  /** Worker threads in use (1: the main thread). */
  threads: number;
  forward(x: Tensor): Tensor | Promise<Tensor>;
  close(): Promise<void>;
}

/**
 * `createEngine`, on `threads` workers when that can help: the wasm backend with threads > 1
 * splits each batch over the workers (a batch of 1 does not get faster). Falls back to the
 * main thread (with `warn`) when the worker script has not been built.
 */
export async function createThreadedEngine(
  backend: BackendName,
  stateDict: Map<string, Tensor>,
  config: InferredConfig,
  name: string,
  warn: (msg: string) => void,
  threads: number,
): Promise<ThreadedEngine> {
  if (backend === 'wasm' && threads > 1 && defaultWasmPath()) {
    if (parallelWorkerScript()) {
      let inf;
      try {
        inf = await createParallelInference(stateDict, config, { threads });
      } catch (e) {
        throw new Error(`${name}: ${(e as Error).message}`);
      }
      return { backend: 'wasm', threads, forward: (x) => inf.forward(x), close: () => inf.close() };
    }
    warn('parallel worker script not built (run `npm run build`); running on one thread');
  }
  const engine = createEngine(backend, stateDict, config, name, warn);
  return { backend: engine.backend, threads: 1, forward: (x) => engine.forward(x), close: async () => {} };
}
