// Our engine's cells. Optional pieces (WASM training executor, multithreaded WASM) are
// found by feature detection on the built modules, so the bench picks them up as soon
// as they land in dist/ and says "n/a (not built yet)" until then.
import * as mnv2 from '../../dist/src/index.js';
import * as mnv2Node from '../../dist/src/node.js';

const { MobileNetV2, Sequential, Dropout, Linear, Adam, noGrad, crossEntropy, Tensor, Rng } = mnv2;

export const NOT_BUILT = 'n/a (not built yet)';

async function optionalImport(rel) {
  try {
    return await import(new URL(rel, import.meta.url).href);
  } catch (e) {
    if (e && e.code === 'ERR_MODULE_NOT_FOUND') return {};
    throw e;
  }
}

const executorModule = await optionalImport('../../dist/src/backend/wasm/executor.js');
const wasmIndex = await optionalImport('../../dist/src/backend/wasm/index.js');
const wasmNode = await optionalImport('../../dist/src/backend/wasm/node.js');

/** `createWasmExecutor(kernels, model)` with forward/backward, wherever it is exported. */
export const createWasmExecutor = executorModule.createWasmExecutor ?? wasmIndex.createWasmExecutor ?? mnv2.createWasmExecutor;

/**
 * Multithreaded WASM: a loader for a worker-backed kernel set. Whatever the threading
 * work names it, one of these exports is expected to give kernels (or a pool) that
 * compileMobileNetV2 / createWasmExecutor accept. Add its name here if it differs.
 */
const MT_LOADERS = ['loadWasmKernelsThreaded', 'loadThreadedWasmKernelsFromFile', 'loadWasmKernelsFromFileThreaded', 'createWasmThreadPool'];
const mtLoaderName = MT_LOADERS.find((n) => typeof (wasmNode[n] ?? mnv2Node[n] ?? wasmIndex[n]) === 'function');
export const loadThreadedKernels = mtLoaderName ? (wasmNode[mtLoaderName] ?? mnv2Node[mtLoaderName] ?? wasmIndex[mtLoaderName]) : undefined;

export function features() {
  return { wasmTrain: typeof createWasmExecutor === 'function', wasmMt: typeof loadThreadedKernels === 'function', mtLoaderName };
}

export function jsInference(sd) {
  const model = new MobileNetV2({ numClasses: 1000 });
  model.loadStateDict(sd);
  model.eval();
  return (x) => noGrad(() => model.forward(x));
}

let kernelsSingle;
export function singleKernels() {
  kernelsSingle ??= mnv2Node.loadWasmKernelsFromFile();
  return kernelsSingle;
}

let kernelsMt;
export async function threadedKernels(threads) {
  kernelsMt ??= await loadThreadedKernels({ threads });
  return kernelsMt;
}

export function wasmInference(kernels, sd) {
  const model = mnv2.compileMobileNetV2(kernels, sd, { numClasses: 1000, alpha: 1 });
  return (x) => model.forward(x);
}

/** Full-network training step on the reference JS engine: forward (train mode), CE, backward, Adam. */
export function jsTrainStep(sd) {
  const model = new MobileNetV2({ numClasses: 1000, rng: new Rng(7) });
  model.loadStateDict(sd);
  model.train();
  const opt = new Adam(model.parameters(), { lr: 1e-3 });
  return (x, labels) => {
    opt.zeroGrad();
    const { loss, grad } = crossEntropy(model.forward(x), labels);
    model.backward(grad);
    opt.step();
    return loss;
  };
}

/** The same step through the WASM executor (forward/backward in wasm, Adam on the module's parameters). */
export function wasmTrainStep(kernels, sd, { frozen = false } = {}) {
  const model = new MobileNetV2({ numClasses: 1000, rng: new Rng(7) });
  model.loadStateDict(sd);
  if (frozen) model.features.requiresGrad_(false);
  model.train();
  const exec = createWasmExecutor(kernels, model);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  return (x, labels) => {
    opt.zeroGrad();
    const { loss, grad } = crossEntropy(exec.forward(x), labels);
    exec.backward(grad);
    opt.step();
    // An executor that keeps its own weight copy in wasm memory must see the update.
    if (typeof exec.syncWeights === 'function') exec.syncWeights();
    return loss;
  };
}

/**
 * Frozen-features transfer step, the same recipe as the tfjs_wasm peer: the backbone runs
 * forward only in wasm (BN folded, inference statistics) up to the pooled features, then
 * Dropout + Linear train with Adam in JS.
 */
export function wasmFrozenStep(kernels, sd) {
  const backbone = mnv2.compileMobileNetV2(kernels, sd, { numClasses: 1000, alpha: 1 });
  const rng = new Rng(7);
  const linear = new Linear(1280, 1000, { rng });
  linear.weight.data.copy_(sd.get('classifier.1.weight'));
  linear.bias.data.copy_(sd.get('classifier.1.bias'));
  const head = new Sequential(new Dropout(0.2, { rng }), linear).train();
  const opt = new Adam(head.parameters(), { lr: 1e-3 });
  return (x, labels) => {
    opt.zeroGrad();
    const pooled = backbone.forwardPooled(x);
    const { loss, grad } = crossEntropy(head.forward(pooled), labels);
    head.backward(grad, false);
    opt.step();
    return loss;
  };
}

export { Tensor };
