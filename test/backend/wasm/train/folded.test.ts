import { describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../../../src/models/mobilenetv2.js';
import { compileMobileNetV2 } from '../../../../src/backend/wasm/mobilenetv2.js';
import { createWasmExecutor } from '../../../../src/backend/wasm/executor.js';
import { Tensor } from '../../../../src/tensor/tensor.js';
import { Rng } from '../../../../src/tensor/rng.js';
import { loadFixture } from '../../../helpers/fixtures.js';
import { trainKernels } from './helpers.js';

function input(seed: number, shape: readonly number[] = [2, 3, 40, 40]): Tensor {
  const rng = new Rng(seed);
  const t = Tensor.zeros([...shape]);
  for (let i = 0; i < t.data.length; i++) t.data[i] = rng.random() * 2 - 1;
  return t;
}

function frozenModel(): MobileNetV2 {
  const m = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
  m.loadStateDict(loadFixture('small.safetensors').tensors);
  m.features.requiresGrad_(false);
  m.features.eval();
  return m;
}

describe('executor with frozen features and eval-mode BN (folded inference plan)', () => {
  it('pooled features are exactly the inference plan\'s, and follow in-place weight changes', () => {
    const m = frozenModel();
    const exec = createWasmExecutor(trainKernels(), m);
    const x = input(1);
    const plan = () => compileMobileNetV2(trainKernels(), m.stateDict(), { numClasses: 5, alpha: 0.35 });
    expect(Array.from(exec.forwardFeatures(x).data)).toEqual(Array.from(plan().forwardPooled(x).data));
    // loadStateDict-style in-place update of one BN buffer and one conv weight: the plan is re-folded.
    const bn = m.features.at(5).getSubmodule('conv.1.1') as unknown as { runningVar: Tensor };
    bn.runningVar.data[3] *= 4;
    (m.features.at(17).parameters()[0].data.data)[7] += 0.5;
    const again = exec.forwardFeatures(x);
    expect(Array.from(again.data)).toEqual(Array.from(plan().forwardPooled(x).data));
    // Repeated forwards (no change) reuse the plan and give the same values.
    expect(Array.from(exec.forwardFeatures(x).data)).toEqual(Array.from(again.data));
  });

  it('the input gradient is still available (activations materialized on demand) and equals the unfolded path', () => {
    const m = frozenModel();
    const exec = createWasmExecutor(trainKernels(), m);
    const x = input(2);
    const pooled = exec.forwardFeatures(x);
    const gPooled = input(3, pooled.shape);
    const dx = exec.backwardFeatures(gPooled, true)!;
    // Unfolded path: make one parameter trainable (the features then run with BN unfolded).
    const m2 = frozenModel();
    m2.features.at(18).parameters()[0].requiresGrad = true;
    const exec2 = createWasmExecutor(trainKernels(), m2);
    const pooled2 = exec2.forwardFeatures(x);
    const dx2 = exec2.backwardFeatures(gPooled, true)!;
    const maxAbs = (a: Float32Array) => a.reduce((s, v) => Math.max(s, Math.abs(v)), 0);
    const maxDiff = (a: Float32Array, b: Float32Array) => a.reduce((s, v, i) => Math.max(s, Math.abs(v - b[i])), 0);
    expect(maxDiff(pooled.data, pooled2.data)).toBeLessThanOrEqual(1e-4 * Math.max(1, maxAbs(pooled2.data)));
    // Same unfolded backward on both sides: bit-identical input gradients.
    expect(dx.shape).toEqual([2, 3, 40, 40]);
    expect(maxAbs(dx.data)).toBeGreaterThan(0);
    expect(Array.from(dx.data)).toEqual(Array.from(dx2.data));
  });
});
