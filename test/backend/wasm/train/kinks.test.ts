import { describe, expect, it } from 'vitest';
import { MobileNetV2 } from '../../../../src/models/mobilenetv2.js';
import { ReLU6 } from '../../../../src/nn/layers/activation.js';
import { Dropout } from '../../../../src/nn/layers/dropout.js';
import type { Tensor } from '../../../../src/tensor/tensor.js';
import { createWasmExecutor } from '../../../../src/backend/wasm/executor.js';
import { loadFixture } from '../../../helpers/fixtures.js';
import { parity } from '../../../helpers/compare.js';
import { ambiguousUnits } from '../../../helpers/kinks.js';
import { trainKernels } from './helpers.js';

/** The kink hooks index ReLU6 units exactly as test/helpers/kinks.ts does on the module tree (NCHW). */
const ref = loadFixture('parity_small_train.safetensors').tensors;
const weights = loadFixture('small.safetensors').tensors;
const input = ref.get('input')!;

function model(): MobileNetV2 {
  const m = new MobileNetV2({ numClasses: 5, alpha: 0.35 });
  m.loadStateDict(weights);
  m.train();
  (m.classifier.at(0) as Dropout).setNextMask(ref.get('dropout_mask')!);
  return m;
}

describe('executor kink hooks', () => {
  const reference = model();
  const pre = new Map<string, Float32Array>();
  const post = new Map<string, Float32Array>();
  for (const [name, m] of reference.namedModules()) {
    if (!(m instanceof ReLU6)) continue;
    const f = m.forward;
    m.forward = (x: Tensor) => {
      pre.set(name, x.data.slice());
      const y = f.call(m, x);
      post.set(name, y.data.slice());
      return y;
    };
  }
  reference.forward(input);
  const ours = model();
  const exec = createWasmExecutor(trainKernels(), ours);
  exec.forward(input);

  it('names every ReLU6 of the module tree, in forward order', () => {
    expect(exec.reluNames()).toEqual([...pre.keys()]);
    expect(exec.reluNames().length).toBe(35);
  });

  it('preActivation and reluOutput are the reference engine\'s ReLU6 input and output, NCHW', () => {
    for (const name of exec.reluNames()) {
      const p = parity(exec.preActivation(name), pre.get(name)!);
      expect(p.maxAbsErr, name).toBeLessThanOrEqual(p.bound);
      const y = post.get(name)!;
      for (const i of [0, 1, y.length >> 1, y.length - 1]) expect(Math.abs(exec.reluOutput(name, i) - y[i]), `${name}[${i}]`).toBeLessThan(1e-3);
    }
  });

  it('ambiguousUnits lists units near 0 or 6; flipUnits moves exactly those across the kink', () => {
    const units = exec.ambiguousUnits();
    expect(units.length).toBeGreaterThan(0);
    for (const [name, i] of units) {
      const v = exec.preActivation(name)[i];
      expect(Math.min(Math.abs(v), Math.abs(v - 6))).toBeLessThan(1e-5);
      // The same unit in the reference engine's forward is near the same kink.
      const r = pre.get(name)![i];
      expect(Math.min(Math.abs(r), Math.abs(r - 6))).toBeLessThan(1e-4);
    }
    // The reference helper, on the reference engine, finds units of the same kind.
    const m = model();
    const theirs = ambiguousUnits(m, () => m.forward(input));
    expect(theirs.length).toBeGreaterThan(0);
    expect(theirs.filter(([n, i]) => units.some(([a, b]) => a === n && b === i)).length).toBeGreaterThan(0);
    const wide = exec.ambiguousUnits(1e-2);
    expect(wide.length).toBeGreaterThan(units.length);
    const [name, i] = units[0];
    const before = exec.reluOutput(name, i);
    const inside = before > 0 && before < 6;
    exec.flipUnits([[name, i]]);
    const after = exec.reluOutput(name, i);
    expect(after > 0 && after < 6).toBe(!inside);
    expect(Math.abs(after - before)).toBeLessThan(1e-5);
    expect(() => exec.flipUnits([['features.3.conv', 0]])).toThrow(/features.3.conv is not a ReLU6/);
    expect(() => exec.flipUnits([[name, -1]])).toThrow(/out of range/);
  });
});
