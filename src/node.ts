/** Node-only helpers: files, jimp decoding and the bundled kernels on disk. */
export { loadWeightsFile, saveFileAtomic } from './io/node.js';
export { decodeImage, decodeImageFile } from './data/decode.js';
export { loadWasmKernelsFromFile, defaultWasmPath, defaultKernelBuild, enableRelaxedSimd, type KernelBuild } from './backend/wasm/node.js';
export { createParallelInference, createParallelExecutor, defaultThreads } from './backend/wasm/parallel/node.js';
