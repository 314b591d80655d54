// TensorFlow.js peers: tfjs-backend-cpu (pure JS) and tfjs-backend-wasm (1 thread, SIMD).
import { fileURLToPath } from 'node:url';
import { buildTfjsInference, buildTfjsTrainable, buildTfjsFrozen } from './tfjs_mobilenetv2.mjs';

let tfPromise;
/** tfjs-core with both backends registered; callers pick one with useBackend. */
export function loadTf() {
  tfPromise ??= (async () => {
    // The union package, not tfjs-core alone: only it registers the gradient functions
    // (tfjs-core's node bundle ships none), which the tfjs_cpu training cell needs.
    const tf = await import('@tensorflow/tfjs');
    // Production mode skips debug checks and the "install tfjs-node" banner (that native
    // binding is not a peer here: it downloads TensorFlow's C library at install time).
    tf.enableProdMode();
    const wasm = await import('@tensorflow/tfjs-backend-wasm');
    wasm.setWasmPaths(fileURLToPath(new URL('../../node_modules/@tensorflow/tfjs-backend-wasm/dist/', import.meta.url)));
    wasm.setThreadsCount(1);
    return tf;
  })();
  return tfPromise;
}

export async function useBackend(name) {
  const tf = await loadTf();
  if (!(await tf.setBackend(name))) throw new Error(`tfjs: backend '${name}' failed to initialize`);
  await tf.ready();
  return tf;
}

/** NCHW Tensor (ours) -> NHWC tf.Tensor, outside the timed region. */
export function toNhwc(tf, x) {
  return tf.tidy(() => tf.transpose(tf.tensor(x.data, x.shape), [0, 2, 3, 1]));
}

export async function tfjsInference(backend, sd) {
  const tf = await useBackend(backend);
  const net = buildTfjsInference(tf, sd);
  return {
    tf,
    run: (xNhwc) => {
      const y = net.forward(xNhwc);
      const data = y.dataSync();
      y.dispose();
      return data;
    },
  };
}

export async function tfjsTrainStep(backend, sd) {
  const tf = await useBackend(backend);
  const net = buildTfjsTrainable(tf, sd);
  return { tf, step: net.step };
}

export async function tfjsFrozenStep(backend, sd) {
  const tf = await useBackend(backend);
  const net = buildTfjsFrozen(tf, sd);
  return { tf, step: net.step };
}
