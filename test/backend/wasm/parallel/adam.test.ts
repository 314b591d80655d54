import { afterAll, describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../../../src/models/mobilenetv2.js';
import { Dropout } from '../../../../src/nn/layers/dropout.js';
import { crossEntropy } from '../../../../src/ops/cross_entropy.js';
import { Tensor } from '../../../../src/tensor/tensor.js';
import { Adam, AdamW } from '../../../../src/optim/adam.js';
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

function makeModel(): MobileNetV2 {
  const m = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
  m.loadStateDict(weights);
  return m.train();
}

function dropMask(n: number): Tensor {
  return Tensor.from(Array.from({ length: n * 448 }, (_, i) => ((i * 7919) % 5 === 0 ? 0 : 1.25)), [n, 448]);
}

type MakeOpt = (m: MobileNetV2) => Adam;

/** Three steps; returns the model and optimizer, with `observe` run right after each step(). */
async function train(makeOpt: MakeOpt, parallelKernel: boolean, observe: (m: MobileNetV2, opt: Adam) => void = () => {}): Promise<{ m: MobileNetV2; opt: Adam }> {
  const m = makeModel();
  const e = await createParallelExecutor(m, { threads: 2, script });
  executors.push(e);
  const opt = makeOpt(m);
  opt.kernel = parallelKernel ? e.adamKernel(opt) : createWasmAdamKernel(loadWasmKernelsFromFile());
  const shape = [4, 3, 40, 40];
  for (const seed of [1, 2, 3]) {
    (m.classifier.at(0) as Dropout).setNextMask(dropMask(4));
    const logits = await e.forward(new Tensor(randomInput(shape, seed), shape));
    opt.zeroGrad();
    await e.backward(crossEntropy(logits, [2, 0, 4, 1]).grad);
    opt.step();
    observe(m, opt);
  }
  return { m, opt };
}

function snapshot(m: MobileNetV2, opt: Adam): Map<string, number[]> {
  const out = new Map<string, number[]>();
  for (const [k, t] of m.stateDict()) if (t.dtype === 'float32') out.set(k, Array.from(t.data));
  const names = new Map([...m.namedParameters()].map(([k, p]) => [p, k] as const));
  for (const [p, s] of opt.state) {
    for (const [key, v] of Object.entries(s)) out.set(`${names.get(p)}.${key}`, v instanceof Tensor ? Array.from(v.data) : [v]);
  }
  return out;
}

async function expectSameRuns(makeOpt: MakeOpt): Promise<void> {
  const seen: Map<string, number[]>[] = [];
  const ref = await train(makeOpt, false);
  // Every step's result is complete when step() returns: compare right after each one too.
  const refSteps: Map<string, number[]>[] = [];
  await train(makeOpt, false, (m, opt) => refSteps.push(snapshot(m, opt)));
  const par = await train(makeOpt, true, (m, opt) => seen.push(snapshot(m, opt)));
  expect(seen.length).toBe(3);
  seen.forEach((s, i) => {
    expect(s.size, `step ${i + 1}`).toBe(refSteps[i].size);
    for (const [k, v] of refSteps[i]) expect(s.get(k), `step ${i + 1}: ${k}`).toEqual(v);
  });
  const a = snapshot(ref.m, ref.opt);
  const b = snapshot(par.m, par.opt);
  let changed = 0;
  const start = snapshot(makeModel(), makeOpt(makeModel()));
  for (const [k, v] of a) {
    expect(b.get(k), k).toEqual(v);
    if (start.has(k) && start.get(k)!.some((x, i) => x !== v[i])) changed++;
  }
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
});
