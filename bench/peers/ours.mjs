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

const parallelNode = await optionalImport('../../dist/src/backend/wasm/parallel/node.js');

/** Multithreaded WASM (worker_threads): batch-parallel inference and a data-parallel training executor. */
export const createParallelInference = mnv2Node.createParallelInference ?? parallelNode.createParallelInference;
export const createParallelExecutor = mnv2Node.createParallelExecutor ?? parallelNode.createParallelExecutor;

export function features() {
  return {
    wasmTrain: typeof createWasmExecutor === 'function',
    wasmMt: typeof createParallelInference === 'function',
    wasmMtTrain: typeof createParallelExecutor === 'function',
  };
}

export function jsInference(sd) {
  const model = new MobileNetV2({ numClasses: 1000 });
  model.loadStateDict(sd);
  model.eval();
  return (x) => noGrad(() => model.forward(x));
}

const kernelsByBuild = new Map();
/**
 * One kernel instance per build. The default (`wasm` cells) is what users get: the relaxed-SIMD
 * build where this Node runs it; 'simd128' (the `wasm_simd128` cells) is the plain SIMD build,
 * which every wasm-SIMD engine runs.
 */
export function singleKernels(build = mnv2Node.defaultKernelBuild()) {
  if (!kernelsByBuild.has(build)) kernelsByBuild.set(build, mnv2Node.loadWasmKernelsFromFile(mnv2Node.defaultWasmPath(build)));
  return kernelsByBuild.get(build);
}

/** Batch-parallel inference on `threads` workers; call close() when done. */
export async function wasmMtInference(sd, threads) {
  const inf = await createParallelInference(sd, { numClasses: 1000, alpha: 1 }, { threads });
  return { run: async (x) => (await inf.forward(x)).data, close: () => inf.close() };
}

/** A kernel instance of its own (not shared with singleKernels' cells): one arena per instance. */
export function freshKernels(build = mnv2Node.defaultKernelBuild()) {
  return mnv2Node.loadWasmKernelsFromFile(mnv2Node.defaultWasmPath(build));
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

function trainableModel(sd) {
  const model = new MobileNetV2({ numClasses: 1000, rng: new Rng(7) });
  model.loadStateDict(sd);
  return model.train();
}

/** A step through an executor (single-thread or parallel; forward/backward may be async), Adam in JS. */
/** The head's products on wasm, as `mnv2 train` does on the wasm backend (a kernel instance of its own). */
function wasmHead(linear, build) {
  linear.kernel = mnv2.createWasmLinearKernel(mnv2Node.loadWasmKernelsFromFile(mnv2Node.defaultWasmPath(build)));
}

function executorStep(model, exec, build) {
  wasmHead(model.classifier.at(1), build);
  const opt = new Adam(model.parameters().filter((p) => p.requiresGrad), { lr: 1e-3 });
  // The update loop on wasm (bit-identical to the JS one), as `mnv2 train` runs it with the wasm
  // backend; a parallel executor's own kernel runs the backbone's updates on a worker.
  opt.kernel = typeof exec.adamKernel === 'function'
    ? exec.adamKernel(opt)
    : mnv2.createWasmAdamKernel(mnv2Node.loadWasmKernelsFromFile(mnv2Node.defaultWasmPath(build)));
  return async (x, labels) => {
    opt.zeroGrad();
    const { loss, grad } = crossEntropy(await exec.forward(x), labels);
    await exec.backward(grad);
    opt.step();
    return loss;
  };
}

/**
 * Full-network step (or, with `frozen`, the frozen-features transfer step) through the WASM
 * training executor; `threads` > 0 uses the data-parallel worker executor.
 * Frozen recipe, the same as the tfjs_wasm peer's: backbone frozen with BN on its running
 * statistics, Dropout + Linear trained with Adam.
 */
export async function wasmTrainStep(sd, { frozen = false, threads = 0, build } = {}) {
  const model = trainableModel(sd);
  if (frozen) {
    model.features.requiresGrad_(false);
    model.features.eval();
  }
  const exec = threads > 0 ? await createParallelExecutor(model, { threads }) : createWasmExecutor(singleKernels(build), model);
  return { step: executorStep(model, exec, build), close: async () => exec.close?.() };
}

/**
 * The frozen recipe on the inference plan instead of the executor: folded-BN backbone forward
 * up to the pooled features, then Dropout + Linear train with Adam in JS.
 */
export function wasmFrozenStepFolded(sd) {
  const backbone = mnv2.compileMobileNetV2(singleKernels(), sd, { numClasses: 1000, alpha: 1 });
  const rng = new Rng(7);
  const linear = new Linear(1280, 1000, { rng });
  linear.weight.data.copy_(sd.get('classifier.1.weight'));
  linear.bias.data.copy_(sd.get('classifier.1.bias'));
  wasmHead(linear);
  const head = new Sequential(new Dropout(0.2, { rng }), linear).train();
  const opt = new Adam(head.parameters(), { lr: 1e-3 });
  opt.kernel = mnv2.createWasmAdamKernel(mnv2Node.loadWasmKernelsFromFile());
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
