import { Tensor, formatShape } from '../tensor/tensor.js';

/*
 * The head's matrices are wide (W is [1000, 1280] for ImageNet) and the batch is
 * small, or the batch is long and W narrow (cached features: [4065, 1280] x 5).
 * Every loop below walks rows of W, x and dY contiguously and reuses each loaded
 * row for a block of 4 rows of the other operand; sums are float64 and rounded
 * once, so the result is within float32 rounding of any summation order.
 */

/** y = x W^T + b, x: [N, in], W: [out, in]. */
export function linear(x: Tensor, weight: Tensor, bias: Tensor | null): Tensor {
  const [n, inF] = x.shape;
  const [outF, wIn] = weight.shape;
  if (x.shape.length !== 2 || wIn !== inF) {
    throw new Error(`linear: input ${formatShape(x.shape)} does not match weight ${formatShape(weight.shape)}`);
  }
  const xd = x.data;
  const wd = weight.data;
  const out = new Float32Array(n * outF);
  for (let o = 0; o < outF; o++) {
    const w = o * inF;
    const bv = bias ? bias.data[o] : 0;
    let b = 0;
    for (; b + 4 <= n; b += 4) {
      const x0 = b * inF;
      const x1 = x0 + inF;
      const x2 = x1 + inF;
      const x3 = x2 + inF;
      let s0 = 0, s1 = 0, s2 = 0, s3 = 0;
      for (let i = 0; i < inF; i++) {
        const wv = wd[w + i];
        s0 += xd[x0 + i] * wv;
        s1 += xd[x1 + i] * wv;
        s2 += xd[x2 + i] * wv;
        s3 += xd[x3 + i] * wv;
      }
      out[b * outF + o] = s0 + bv;
      out[(b + 1) * outF + o] = s1 + bv;
      out[(b + 2) * outF + o] = s2 + bv;
      out[(b + 3) * outF + o] = s3 + bv;
    }
    for (; b < n; b++) {
      const x0 = b * inF;
      let s = 0;
      for (let i = 0; i < inF; i++) s += xd[x0 + i] * wd[w + i];
      out[b * outF + o] = s + bv;
    }
  }
  return new Tensor(out, [n, outF]);
}

/** dL/dx = dY W: each row of dx is a combination of W's rows. */
export function linearBackwardInput(gradOut: Tensor, weight: Tensor): Tensor {
  const [n, outF] = gradOut.shape;
  const inF = weight.shape[1];
  const dy = gradOut.data;
  const wd = weight.data;
  const dx = new Float32Array(n * inF);
  combineRows(n, outF, inF, (b, o) => dy[b * outF + o], wd, dx);
  return new Tensor(dx, [n, inF]);
}

/** dL/dW = dY^T x (each row of dW combines x's rows) and dL/db = column sums of dY. */
export function linearBackwardParams(gradOut: Tensor, x: Tensor): { gradWeight: Tensor; gradBias: Tensor } {
  const [n, outF] = gradOut.shape;
  const inF = x.shape[1];
  const dy = gradOut.data;
  const dw = new Float32Array(outF * inF);
  combineRows(outF, n, inF, (o, b) => dy[b * outF + o], x.data, dw);
  const db = new Float32Array(outF);
  for (let o = 0; o < outF; o++) {
    let s = 0;
    for (let b = 0; b < n; b++) s += dy[b * outF + o];
    db[o] = s;
  }
  return { gradWeight: new Tensor(dw, [outF, inF]), gradBias: new Tensor(db, [outF]) };
}

/**
 * out[r, :] = sum_k coef(r, k) * rows[k, :] for r < R, k < K, rows of length L.
 * Output rows are produced 4 at a time in float64, so each row of `rows` is read
 * once per block of 4 outputs.
 */
function combineRows(R: number, K: number, L: number, coef: (r: number, k: number) => number, rows: Float32Array, out: Float32Array): void {
  const a0 = new Float64Array(L);
  const a1 = new Float64Array(L);
  const a2 = new Float64Array(L);
  const a3 = new Float64Array(L);
  for (let r = 0; r < R; r += 4) {
    const m = Math.min(4, R - r);
    a0.fill(0);
    a1.fill(0);
    a2.fill(0);
    a3.fill(0);
    for (let k = 0; k < K; k++) {
      const c0 = coef(r, k);
      const c1 = m > 1 ? coef(r + 1, k) : 0;
      const c2 = m > 2 ? coef(r + 2, k) : 0;
      const c3 = m > 3 ? coef(r + 3, k) : 0;
      if (c0 === 0 && c1 === 0 && c2 === 0 && c3 === 0) continue;
      const s = k * L;
      for (let i = 0; i < L; i++) {
        const v = rows[s + i];
        a0[i] += c0 * v;
        a1[i] += c1 * v;
        a2[i] += c2 * v;
        a3[i] += c3 * v;
      }
    }
    out.set(a0, r * L);
    if (m > 1) out.set(a1, (r + 1) * L);
    if (m > 2) out.set(a2, (r + 2) * L);
    if (m > 3) out.set(a3, (r + 3) * L);
  }
}
