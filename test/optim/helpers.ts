import { Parameter } from '../../src/nn/parameter.js';
import { Tensor } from '../../src/tensor/tensor.js';

export function param(values: number[], shape: number[] = [values.length], requiresGrad = true): Parameter {
  return new Parameter(Tensor.from(values, shape), requiresGrad);
}

export function setGrad(p: Parameter, values: number[]): void {
  p.grad = new Tensor(Float32Array.from(values), p.shape);
}

/** A deterministic, sign-varying gradient for element i at step t (float32-representable). */
export function gradAt(i: number, t: number, scale = 1): number {
  return Math.fround(Math.sin(1.3 * i + 2.1 * t + 0.4) * scale);
}

export function maxRelErr(ours: ArrayLike<number>, ref: ArrayLike<number>): number {
  let worst = 0;
  for (let i = 0; i < ref.length; i++) worst = Math.max(worst, Math.abs(ours[i] - ref[i]) / Math.max(1, Math.abs(ref[i])));
  return worst;
}
