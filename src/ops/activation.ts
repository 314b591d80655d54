import { Tensor } from '../tensor/tensor.js';

/** ReLU6 = hardtanh(x, 0, 6). */
export function relu6(x: Tensor): Tensor {
  const xd = x.data;
  const out = new Float32Array(xd.length);
  for (let i = 0; i < xd.length; i++) {
    const v = xd[i];
    // Written so that NaN propagates, as torch.clamp does.
    out[i] = v < 0 ? 0 : v > 6 ? 6 : v;
  }
  return new Tensor(out, x.shape);
}

/** In-place ReLU6, for a tensor no one else reads (PyTorch's inplace=True). */
export function relu6_(x: Tensor): Tensor {
  const d = x.data;
  // Every element is stored, clamped or not: a branch around the store mispredicts
  // on unpredictable signs (30% slower on random data, a few ms per 224 forward).
  for (let i = 0; i < d.length; i++) {
    const v = d[i];
    d[i] = v < 0 ? 0 : v > 6 ? 6 : v;
  }
  return x;
}

/**
 * PyTorch's hardtanh_backward: the gradient is zeroed where x <= 0 or x >= 6, so
 * it passes strictly inside (0, 6), and for NaN inputs as PyTorch lets it.
 * Works from either the input or the output, since both lie inside together.
 */
export function relu6Backward(gradOut: Tensor, xOrY: Tensor): Tensor {
  const g = gradOut.data;
  const v = xOrY.data;
  const out = new Float32Array(g.length);
  for (let i = 0; i < g.length; i++) out[i] = v[i] <= 0 || v[i] >= 6 ? 0 : g[i];
  return new Tensor(out, gradOut.shape);
}

/**
 * relu6_'s `v < 0 ? 0 : v > 6 ? 6 : v` on a float32 bit pattern, without
 * branches, for epilogues fused into a kernel's store: activations change sign
 * unpredictably, and mispredicted branches cost more than the whole BN map.
 * As signed int32, the negatives -Infinity..-MIN_VALUE are -2^31+1..-2^23
 * (not -0, 0x80000000, nor a NaN), and 6 < v <= Infinity is
 * 0x40c00000 < bits <= 0x7f800000.
 */
export function relu6Bits(i: number): number {
  const neg = -(+(i <= -0x800000) & +(i !== -0x80000000));
  const big = -(+(i > 0x40c00000) & +(i <= 0x7f800000));
  return (i & ~(neg | big)) | (0x40c00000 & big);
}
