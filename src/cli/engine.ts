/** Node-only: the two inference engines behind one `forward`. */
import type { Tensor } from '../tensor/tensor.js';
import { MobileNetV2 } from '../models/mobilenetv2.js';
import { noGrad } from '../nn/grad_mode.js';
import { compileMobileNetV2 } from '../backend/wasm/mobilenetv2.js';
import { defaultWasmPath, loadWasmKernelsFromFile } from '../backend/wasm/node.js';
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
