import { afterAll, describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../../../src/models/mobilenetv2.js';
import { Dropout } from '../../../../src/nn/layers/dropout.js';
import { Linear } from '../../../../src/nn/layers/linear.js';
import { crossEntropy } from '../../../../src/ops/cross_entropy.js';
import { Tensor } from '../../../../src/tensor/tensor.js';
import { Adam, AdamW } from '../../../../src/optim/adam.js';
import { Rng } from '../../../../src/tensor/rng.js';
import { createWasmAdamKernel } from '../../../../src/backend/wasm/optim.js';
import { createParallelExecutor, type ParallelMobileNetV2Executor } from '../../../../src/backend/wasm/parallel/node.js';
import { loadFixture } from '../../../helpers/fixtures.js';
import { loadWasmKernelsFromFile } from '../../../../src/backend/wasm/node.js';
import { randomInput, workerScript } from './helpers.js';

/**
 * The executor's Adam kernel (features parameters updated on the workers) against
 * createWasmAdamKernel on the main thread: two runs of the same 2-worker training, one with each
 * kernel, must give bit-identical parameters and optimizer state (the workers' gradient sums are
 * in rank order, so both runs see the same gradients; the kernels then do the same float32
 * operations). Param groups with different settings and a frozen parameter check that every
 * update has run when step() returns.
 */
const weights = loadFixture('small.safetensors').tensors;
const script = workerScript();
const executors: ParallelMobileNetV2Executor[] = [];

afterAll(async () => {
  await Promise.all(executors.map((e) => e.close()));
});

let makeModel = (): MobileNetV2 => {
  const m = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
  m.loadStateDict(weights);
  return m.train();
};

function dropMask(n: number, channels: number): Tensor {
  return Tensor.from(Array.from({ length: n * channels }, (_, i) => ((i * 7919) % 5 === 0 ? 0 : 1.25)), [n, channels]);
}

type MakeOpt = (m: MobileNetV2) => Adam;

/** Three steps; returns the model and optimizer, with `observe` run right after each step(). */
async function train(
  makeOpt: MakeOpt,
  parallelKernel: boolean,
  shape: number[],
  observe: (m: MobileNetV2, opt: Adam) => void = () => {},
): Promise<{ m: MobileNetV2; opt: Adam }> {
  const m = makeModel();
  const e = await createParallelExecutor(m, { threads: 2, script });
  executors.push(e);
  const opt = makeOpt(m);
  opt.kernel = parallelKernel ? e.adamKernel(opt) : createWasmAdamKernel(loadWasmKernelsFromFile());
  const n = shape[0];
  const channels = (m.classifier.at(1) as Linear).inFeatures;
  for (const seed of [1, 2, 3]) {
    (m.classifier.at(0) as Dropout).setNextMask(dropMask(n, channels));
    const logits = await e.forward(new Tensor(randomInput(shape, seed), shape));
    opt.zeroGrad();
    await e.backward(crossEntropy(logits, [2, 0, 4, 1].slice(0, n)).grad);
    opt.step();
    observe(m, opt);
  }
  return { m, opt };
}

/** Every float32 buffer of the model and every state entry of the optimizer, copied. */
function snapshot(m: MobileNetV2, opt: Adam): Map<string, Float32Array> {
  const out = new Map<string, Float32Array>();
  for (const [k, t] of m.stateDict()) if (t.dtype === 'float32') out.set(k, t.data.slice());
  const names = new Map([...m.namedParameters()].map(([k, p]) => [p, k] as const));
  for (const [p, s] of opt.state) {
    for (const [key, v] of Object.entries(s)) out.set(`${names.get(p)}.${key}`, v instanceof Tensor ? v.data.slice() : Float32Array.of(v));
  }
  return out;
}

/** How many elements differ in their bits (so -0 vs 0 and NaN payloads count). */
function bitDiffs(a: Float32Array, b: Float32Array): number {
  if (a.length !== b.length) return Math.max(a.length, b.length);
  const x = new Uint32Array(a.buffer, a.byteOffset, a.length);
  const y = new Uint32Array(b.buffer, b.byteOffset, b.length);
  let n = 0;
  for (let i = 0; i < x.length; i++) if (x[i] !== y[i]) n++;
  return n;
}

function expectSameSnapshots(got: Map<string, Float32Array>, want: Map<string, Float32Array>, what: string): void {
  expect([...got.keys()].sort(), what).toEqual([...want.keys()].sort());
  for (const [k, v] of want) expect(bitDiffs(got.get(k)!, v), `${what}: ${k}`).toBe(0);
}

async function expectSameRuns(makeOpt: MakeOpt, shape = [4, 3, 40, 40]): Promise<void> {
  // Every step's result is complete when step() returns: compare right after each one.
  const refSteps: Map<string, Float32Array>[] = [];
  const seen: Map<string, Float32Array>[] = [];
  await train(makeOpt, false, shape, (m, opt) => refSteps.push(snapshot(m, opt)));
  await train(makeOpt, true, shape, (m, opt) => seen.push(snapshot(m, opt)));
  expect(seen.length).toBe(3);
  seen.forEach((s, i) => expectSameSnapshots(s, refSteps[i], `step ${i + 1}`));
  // The steps changed the parameters and moments (nothing compared is untouched).
  const start = snapshot(makeModel(), makeOpt(makeModel()));
  let changed = 0;
  for (const [k, v] of refSteps[2]) if (start.has(k) && bitDiffs(start.get(k)!, v) > 0) changed++;
  expect(changed).toBeGreaterThan(100);
}

describe('ParallelMobileNetV2Executor.adamKernel (2 workers) vs createWasmAdamKernel', () => {
  it('Adam over every parameter: bit-identical parameters and state after each of three steps', async () => {
    await expectSameRuns((m) => new Adam(m.parameters(), { lr: 1e-3 }));
  });

  it('param groups (Adam with L2 decay, AdamW) with a frozen parameter in the middle', async () => {
    await expectSameRuns((m) => {
      const features = m.features.parameters();
      features[40].requiresGrad = false;
      const half = Math.floor(features.length / 2);
      return new Adam([
        { params: features.slice(0, half), lr: 2e-3, weightDecay: 0.01 },
        { params: [...features.slice(half), ...m.classifier.parameters()], lr: 5e-4 },
      ]);
    });
    await expectSameRuns((m) => new AdamW(m.parameters(), { lr: 1e-3 }));
  });

  it('MobileNetV2 1.0 with 1000 classes: the worker takes most features updates while this thread does the head', async () => {
    // The small net's head takes this thread microseconds, so it drains most chunks itself;
    // here the 1280 x 1000 head's update leaves the worker time to take its share.
    const small = makeModel;
    makeModel = () => new MobileNetV2({ numClasses: 1000, alpha: 1, rng: new Rng(7) }).train();
    try {
      await expectSameRuns((m) => new Adam(m.parameters(), { lr: 1e-3 }), [2, 3, 32, 32]);
    } finally {
      makeModel = small;
    }
  });
});
