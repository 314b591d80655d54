// onnxruntime peers on the same network (fixtures/mobilenet_v2_imagenet.onnx, exported from
// the same PyTorch weights; input 'input' NCHW, output 'logits'). Both run one thread, like
// our single-threaded wasm engine.
import { fileURLToPath } from 'node:url';

export const ONNX_PATH = fileURLToPath(new URL('../../fixtures/mobilenet_v2_imagenet.onnx', import.meta.url));

export async function ortNodeInference() {
  const ort = await import('onnxruntime-node');
  const session = await ort.InferenceSession.create(ONNX_PATH, {
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
    executionProviders: ['cpu'],
  });
  return async (x) => {
    const out = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
    return out.logits.data;
  };
}

export async function ortWebInference() {
  const ort = await import('onnxruntime-web');
  ort.env.wasm.numThreads = 1;
  ort.env.wasm.wasmPaths = fileURLToPath(new URL('../../node_modules/onnxruntime-web/dist/', import.meta.url));
  const session = await ort.InferenceSession.create(ONNX_PATH, { executionProviders: ['wasm'] });
  return async (x) => {
    const out = await session.run({ input: new ort.Tensor('float32', x.data, x.shape) });
    return out.logits.data;
  };
}
