import { Tensor, formatShape } from '../tensor/tensor.js';
import { matmul, transpose } from './gemm.js';
import { relu6Bits } from './activation.js';
import type { ChannelAffine } from './batch_norm.js';

/**
 * 2-D convolution in NCHW, as torch.nn.functional.conv2d (cross-correlation),
 * with stride, zero padding and groups (groups = channels is depthwise).
 *
 * Every pass (forward, input gradient, weight gradient) walks the same loop nest:
 * for each (n, output channel, input channel, kh, kw) it touches one output row
 * segment and one strided input row segment. Clipping the output column range
 * once per (kw) keeps padding out of the innermost loop.
 */
export interface Conv2dOptions {
  stride?: number;
  padding?: number;
  groups?: number;
}

export interface ConvGeometry {
  n: number;
  cin: number;
  h: number;
  w: number;
  cout: number;
  kh: number;
  kw: number;
  oh: number;
  ow: number;
  stride: number;
  padding: number;
  groups: number;
}

export function convGeometry(xShape: readonly number[], wShape: readonly number[], opts: Conv2dOptions = {}): ConvGeometry {
  const stride = opts.stride ?? 1;
  const padding = opts.padding ?? 0;
  const groups = opts.groups ?? 1;
  if (xShape.length !== 4) throw new Error(`conv2d: input must be 4-D NCHW, got ${formatShape(xShape)}`);
  if (wShape.length !== 4) throw new Error(`conv2d: weight must be 4-D [out, in/groups, kh, kw], got ${formatShape(wShape)}`);
  const [n, cin, h, w] = xShape;
  const [cout, cinPerGroup, kh, kw] = wShape;
  if (cin % groups !== 0 || cout % groups !== 0) {
    throw new Error(`conv2d: groups=${groups} must divide in_channels=${cin} and out_channels=${cout}`);
  }
  if (cinPerGroup * groups !== cin) {
    throw new Error(`conv2d: weight ${formatShape(wShape)} expects ${cinPerGroup * groups} input channels with groups=${groups}, input ${formatShape(xShape)} has ${cin}`);
  }
  const oh = Math.floor((h + 2 * padding - kh) / stride) + 1;
  const ow = Math.floor((w + 2 * padding - kw) / stride) + 1;
  if (oh <= 0 || ow <= 0) throw new Error(`conv2d: input ${formatShape(xShape)} is smaller than kernel ${kh}x${kw} with padding ${padding}`);
  return { n, cin, h, w, cout, kh, kw, oh, ow, stride, padding, groups };
}

/**
 * What a forward conv may apply to its output while the output is still in
 * cache: an eval-mode BatchNorm's per-channel affine map, then ReLU6 if
 * `relu6`. Each output is rounded to float32 first, then mapped and rounded
 * again, then clamped: the same operations, in the same order, as
 * conv2d -> batchNorm2dEval -> relu6_, so the fused forward is bit-identical
 * to the separate ops.
 */
export interface ConvEpilogue extends ChannelAffine {
  relu6: boolean;
}

type RowKernel = (outOff: number, inOff: number, wIdx: number, count: number) => void;

/**
 * Visits every (output row segment, input row segment, weight element) triple.
 * `visit(outOff, inOff, wIdx, count)`: output elements outOff..outOff+count-1 pair
 * with input elements inOff, inOff+stride, ... and weight element wIdx.
 */
function forEachRowSegment(g: ConvGeometry, visit: RowKernel): void {
  const { n, cin, h, w, cout, kh, kw, oh, ow, stride, padding, groups } = g;
  const cinG = cin / groups;
  const coutG = cout / groups;
  if (kh === 1 && kw === 1 && stride === 1 && padding === 0) {
    // Pointwise: each (output channel, input channel) pair is one whole-plane segment.
    const hw = h * w;
    for (let b = 0; b < n; b++) {
      for (let co = 0; co < cout; co++) {
        const grp = Math.floor(co / coutG);
        for (let cig = 0; cig < cinG; cig++) {
          visit((b * cout + co) * hw, (b * cin + grp * cinG + cig) * hw, co * cinG + cig, hw);
        }
      }
    }
    return;
  }
  for (let kx = 0; kx < kw; kx++) {
    // Output columns whose input column ox*stride - padding + kx lies inside [0, w).
    const owStart = Math.max(0, Math.ceil((padding - kx) / stride));
    const owEnd = Math.min(ow, Math.floor((w - 1 + padding - kx) / stride) + 1);
    if (owEnd <= owStart) continue;
    const count = owEnd - owStart;
    const inColStart = owStart * stride - padding + kx;
    for (let b = 0; b < n; b++) {
      for (let co = 0; co < cout; co++) {
        const grp = Math.floor(co / coutG);
        const outBase = (b * cout + co) * oh * ow;
        for (let cig = 0; cig < cinG; cig++) {
          const ci = grp * cinG + cig;
          const inBase = (b * cin + ci) * h * w;
          const wBase = ((co * cinG + cig) * kh) * kw;
          for (let ky = 0; ky < kh; ky++) {
            const wIdx = wBase + ky * kw + kx;
            for (let oy = 0; oy < oh; oy++) {
              const iy = oy * stride - padding + ky;
              if (iy < 0 || iy >= h) continue;
              visit(outBase + oy * ow + owStart, inBase + iy * w + inColStart, wIdx, count);
            }
          }
        }
      }
    }
  }
}

/** A dense 1x1 convolution without stride or padding is a matrix product per image. */
function isPointwiseGemm(g: ConvGeometry): boolean {
  return g.kh === 1 && g.kw === 1 && g.stride === 1 && g.padding === 0 && g.groups === 1;
}

/**
 * MobileNetV2's 3x3 layers with padding 1 and stride 1 or 2: the depthwise
 * convs (one filter per channel) and the stem (a dense conv over 3 input channels).
 */
function isDirect3x3(g: ConvGeometry): boolean {
  if (g.kh !== 3 || g.kw !== 3 || g.padding !== 1 || g.stride > 2) return false;
  const depthwise = g.groups === g.cin && g.cout === g.cin;
  return depthwise || (g.groups === 1 && g.cin <= 4);
}

/**
 * Direct 3x3 forward. Every output pixel is the 9-term window sum over the
 * input zero-padded by 1, w0*x00 + w1*x01 + ... + w8*x22 in that order, padding
 * taps included as w * 0 (with finite weights they add exact zeros to a float64
 * sum; an infinite weight gives NaN at the border, as an im2col convolution over
 * zero padding does). Along a row the window slides, so a pixel loads only the 3
 * (stride 1) or 6 (stride 2) new inputs. A depthwise channel's sums are rounded
 * straight into the output; a dense layer (the stem) goes through im2col and the GEMM.
 */
function direct3x3(xd: Float32Array, wd: Float32Array, g: ConvGeometry, post: ConvEpilogue | null): Float32Array {
  const { n, cin, h, w, cout, oh, ow, stride: s, groups } = g;
  const cinG = cin / groups;
  const coutG = cout / groups;
  const out = new Float32Array(n * cout * oh * ow);
  const outBits = new Int32Array(out.buffer);
  if (cinG === 1) {
    // Rows of the image itself; only an output row whose window overhangs the top
    // or bottom goes through a zero-bordered 3-row copy. Copying whole planes into
    // a padded scratch cost 1-4.6 ns per pixel here, 10-25% of the layer.
    const edge = new Float32Array(3 * w);
    for (let b = 0; b < n; b++) {
      for (let co = 0; co < cout; co++) {
        const xb = (b * cin + Math.floor(co / coutG)) * h * w;
        const o = (b * cout + co) * oh * ow;
        for (let oy = 0; oy < oh; oy++) {
          const iy = oy * s - 1;
          if (iy >= 0 && iy + 2 < h) windowRow(xd, xb + iy * w, w, wd, co * 9, out, o + oy * ow, ow, s);
          else windowEdgeRow(xd, xb, h, w, iy, edge, wd, co * 9, out, o + oy * ow, ow, s);
        }
        if (post) applyEpilogue(out, outBits, o, oh * ow, post, co);
      }
    }
    return out;
  }
  // Dense (the stem): the 3x3 windows of every input channel as the rows of a
  // [cin*9, oh*ow] matrix, then the pointwise GEMM with K = cin*9 (27 for RGB).
  // ~6 ms less than 9-tap window sums per (output, input) channel pair at
  // 224x224 here: the GEMM's register tile reuses each window value for 4
  // output channels. Each output is one float64 sum over (ci, ky, kx), rounded once.
  const cols = im2col3x3(xd, g);
  const gemm: ConvGeometry = { ...g, cin: cinG * 9, h: oh, w: ow, kh: 1, kw: 1, stride: 1, padding: 0 };
  for (let b = 0; b < n; b++) pointwise(gemm, wd, cols, b, out, post);
  return out;
}

/** Rows (b, ci, ky, kx) of 3x3 windows with padding 1, each oh*ow wide: the GEMM's B for a dense 3x3 conv. */
function im2col3x3(xd: Float32Array, g: ConvGeometry): Float32Array {
  const { n, cin, h, w, oh, ow, stride: s } = g;
  const pw = w + 2;
  const padded = new Float32Array((h + 2) * pw);
  const cols = new Float32Array(n * cin * 9 * oh * ow);
  let row = 0;
  for (let b = 0; b < n; b++) {
    for (let ci = 0; ci < cin; ci++) {
      padPlane(xd, (b * cin + ci) * h * w, h, w, padded);
      for (let ky = 0; ky < 3; ky++) {
        for (let kx = 0; kx < 3; kx++, row++) {
          let o = row * oh * ow;
          for (let oy = 0; oy < oh; oy++) {
            let i = (oy * s + ky) * pw + kx;
            for (let ox = 0; ox < ow; ox++, o++, i += s) cols[o] = padded[i];
          }
        }
      }
    }
  }
  return cols;
}

/** Copies an h x w plane into the interior of a (h+2) x (w+2) plane whose border stays zero. */
function padPlane(xd: Float32Array, xb: number, h: number, w: number, padded: Float32Array): void {
  const pw = w + 2;
  // A JS loop costs ~2-3 ns per element in V8 11, set(subarray) ~0.2 ns plus a
  // view allocation per row: the view wins from a few dozen columns on.
  if (w >= 32) {
    for (let y = 0; y < h; y++) padded.set(xd.subarray(xb + y * w, xb + (y + 1) * w), (y + 1) * pw + 1);
    return;
  }
  for (let y = 0; y < h; y++) {
    const src = xb + y * w;
    const dst = (y + 1) * pw + 1;
    for (let x = 0; x < w; x++) padded[dst + x] = xd[src + x];
  }
}

/**
 * One output row of a depthwise 3x3 window whose three input rows (from `r0`,
 * `w` apart) lie inside the plane: columns -1 and w are padding, entered as
 * zeros (the first pixel's left column, a last pixel's right column).
 */
function windowRow(p: Float32Array, r0: number, w: number, wd: Float32Array, k: number, dst: Float32Array, o: number, ow: number, s: number): void {
  const w0 = wd[k], w1 = wd[k + 1], w2 = wd[k + 2];
  const w3 = wd[k + 3], w4 = wd[k + 4], w5 = wd[k + 5];
  const w6 = wd[k + 6], w7 = wd[k + 7], w8 = wd[k + 8];
  const r1 = r0 + w;
  const r2 = r1 + w;
  let a0 = 0, b0 = 0, c0 = 0;
  if (s === 1) {
    // ow = w: pixels 0..w-2 find their right column inside the row.
    let a1 = p[r0], b1 = p[r1], c1 = p[r2];
    const oEnd = o + ow - 1;
    for (let x = 1; o < oEnd; o++, x++) {
      const a2 = p[r0 + x], b2 = p[r1 + x], c2 = p[r2 + x];
      dst[o] = w0 * a0 + w1 * a1 + w2 * a2 + w3 * b0 + w4 * b1 + w5 * b2 + w6 * c0 + w7 * c1 + w8 * c2;
      a0 = a1; a1 = a2;
      b0 = b1; b1 = b2;
      c0 = c1; c1 = c2;
    }
    dst[o] = w0 * a0 + w1 * a1 + w2 * 0 + w3 * b0 + w4 * b1 + w5 * 0 + w6 * c0 + w7 * c1 + w8 * 0;
    return;
  }
  // Stride 2: pixel ox reads columns 2ox-1, 2ox, 2ox+1; the last is padding for
  // the last pixel of an odd-width row.
  const inside = Math.min(ow, w >> 1);
  const oEnd = o + inside;
  let x = 0;
  for (; o < oEnd; o++, x += 2) {
    const a1 = p[r0 + x], b1 = p[r1 + x], c1 = p[r2 + x];
    const a2 = p[r0 + x + 1], b2 = p[r1 + x + 1], c2 = p[r2 + x + 1];
    dst[o] = w0 * a0 + w1 * a1 + w2 * a2 + w3 * b0 + w4 * b1 + w5 * b2 + w6 * c0 + w7 * c1 + w8 * c2;
    a0 = a2; b0 = b2; c0 = c2;
  }
  if (inside < ow) {
    const a1 = p[r0 + x], b1 = p[r1 + x], c1 = p[r2 + x];
    dst[o] = w0 * a0 + w1 * a1 + w2 * 0 + w3 * b0 + w4 * b1 + w5 * 0 + w6 * c0 + w7 * c1 + w8 * 0;
  }
}

/**
 * An output row whose window overhangs the top or bottom of the plane: input
 * rows iy..iy+2 go into `edge` (3 rows of w), zeros where they lie outside the
 * plane, and through the same row sums.
 */
function windowEdgeRow(
  xd: Float32Array,
  xb: number,
  h: number,
  w: number,
  iy: number,
  edge: Float32Array,
  wd: Float32Array,
  k: number,
  dst: Float32Array,
  o: number,
  ow: number,
  s: number,
): void {
  for (let r = 0; r < 3; r++) {
    const y = iy + r;
    const e = r * w;
    if (y < 0 || y >= h) {
      for (let x = 0; x < w; x++) edge[e + x] = 0;
    } else if (w >= 32) {
      // As padPlane: set(subarray) wins from a few dozen columns on.
      edge.set(xd.subarray(xb + y * w, xb + (y + 1) * w), e);
    } else {
      const src = xb + y * w;
      for (let x = 0; x < w; x++) edge[e + x] = xd[src + x];
    }
  }
  windowRow(edge, 0, w, wd, k, dst, o, ow, s);
}

/**
 * With `post`, the output is that epilogue applied to the convolution (plus
 * bias): conv2d(x, w, b, opts, bnRelu) equals relu6_(batchNorm2dEval(conv2d(x, w, b, opts))) bit for bit.
 */
export function conv2d(x: Tensor, weight: Tensor, bias: Tensor | null, opts: Conv2dOptions = {}, post: ConvEpilogue | null = null): Tensor {
  const g = convGeometry(x.shape, weight.shape, opts);
  if (post && (post.scale.length !== g.cout || post.shift.length !== g.cout)) {
    throw new Error(`conv2d: epilogue has ${post.scale.length} channels, the convolution has ${g.cout} outputs`);
  }
  // A bias is added between the conv's rounding and the epilogue's, so then the epilogue gets its own pass.
  const fused = bias ? null : post;
  let y: Float32Array;
  let pending = post;
  if (isPointwiseGemm(g)) {
    const hw = g.h * g.w;
    y = new Float32Array(g.n * g.cout * hw);
    for (let b = 0; b < g.n; b++) pointwise(g, weight.data, x.data, b, y, fused);
    if (fused) pending = null;
  } else if (isDirect3x3(g)) {
    y = direct3x3(x.data, weight.data, g, fused);
    if (fused) pending = null;
  } else {
    y = convAnyFloat64(x.data, weight.data, g);
  }
  const hw = g.oh * g.ow;
  if (bias) addChannelBias(y, bias.data, g.n, g.cout, hw);
  if (pending) {
    const post = pending;
    const bits = new Int32Array(y.buffer);
    for (let b = 0; b < g.n; b++) {
      for (let co = 0; co < g.cout; co++) applyEpilogue(y, bits, (b * g.cout + co) * hw, hw, post, co);
    }
  }
  return new Tensor(y, [g.n, g.cout, g.oh, g.ow]);
}

/**
 * One image of a 1x1 conv as GEMM blocks. Wide images (the 112x112 and 56x56
 * layers) go in column blocks whose K x cols slice of the input stays in L2
 * while every row block of weights passes over it; without blocking each
 * 4-row step streamed the whole input from L3 again. A block's outputs go
 * through the epilogue right after the GEMM wrote them, while still in L1.
 * Every output is the same k-order sum whatever the blocking.
 */
function pointwise(g: ConvGeometry, wd: Float32Array, xd: Float32Array, b: number, y: Float32Array, post: ConvEpilogue | null): void {
  const hw = g.h * g.w;
  const K = g.cin;
  const M = g.cout;
  const xOff = b * K * hw;
  const yOff = b * M * hw;
  const bits = post ? new Int32Array(y.buffer) : null;
  // Columns: the whole plane when its K x hw floats fit in 256 KB or K is small
  // (short columns stream well from L2), else ~64 KB slices a multiple of the
  // 3-column tile wide (tail columns take a slower path).
  const cols = K < 64 || K * hw <= 65536 ? hw : Math.max(48, Math.floor(16384 / K / 3) * 3);
  for (let j0 = 0; j0 < hw; j0 += cols) {
    const n = Math.min(cols, hw - j0);
    // Rows: ~16K outputs (64 KB) per block, a multiple of the GEMM's 4 rows.
    const rows = Math.max(4, Math.floor(16384 / n / 4) * 4);
    for (let i = 0; i < M; i += rows) {
      const m = Math.min(rows, M - i);
      matmul(m, n, K, wd, i * K, xd, xOff + j0, y, yOff + i * hw + j0, false, hw);
      if (post) for (let co = i; co < i + m; co++) applyEpilogue(y, bits!, yOff + co * hw + j0, n, post, co);
    }
  }
}

/**
 * Output channel `co`'s count values from off, already rounded to float32, through the epilogue; `bits` views y's buffer.
 * Eight elements per step, from the end: V8 11 checks the stack, the arrays and
 * their bounds once per loop iteration, which made the one-element loop cost
 * more than the affine map and clamp themselves (6.6 -> 4.1 ns per element with
 * ReLU6, 2.6 -> 1.3 without, measured; a descending loop beat an ascending one).
 * Each element still goes through the same operations, so no bit changes.
 * The eight-element bodies are written out in both loops: moved into shared
 * helpers they ran 5-10% slower here (a depthwise conv with both epilogues).
 */
function applyEpilogue(y: Float32Array, bits: Int32Array, off: number, count: number, post: ConvEpilogue, co: number): void {
  const scale = post.scale[co];
  const shift = post.shift[co];
  let k = off + count - 8;
  if (!post.relu6) {
    for (; k >= off; k -= 8) {
      y[k] = y[k] * scale + shift;
      y[k + 1] = y[k + 1] * scale + shift;
      y[k + 2] = y[k + 2] * scale + shift;
      y[k + 3] = y[k + 3] * scale + shift;
      y[k + 4] = y[k + 4] * scale + shift;
      y[k + 5] = y[k + 5] * scale + shift;
      y[k + 6] = y[k + 6] * scale + shift;
      y[k + 7] = y[k + 7] * scale + shift;
    }
    for (k += 7; k >= off; k--) y[k] = y[k] * scale + shift;
    return;
  }
  for (; k >= off; k -= 8) {
    y[k] = y[k] * scale + shift;
    y[k + 1] = y[k + 1] * scale + shift;
    y[k + 2] = y[k + 2] * scale + shift;
    y[k + 3] = y[k + 3] * scale + shift;
    y[k + 4] = y[k + 4] * scale + shift;
    y[k + 5] = y[k + 5] * scale + shift;
    y[k + 6] = y[k + 6] * scale + shift;
    y[k + 7] = y[k + 7] * scale + shift;
    bits[k] = relu6Bits(bits[k]);
    bits[k + 1] = relu6Bits(bits[k + 1]);
    bits[k + 2] = relu6Bits(bits[k + 2]);
    bits[k + 3] = relu6Bits(bits[k + 3]);
    bits[k + 4] = relu6Bits(bits[k + 4]);
    bits[k + 5] = relu6Bits(bits[k + 5]);
    bits[k + 6] = relu6Bits(bits[k + 6]);
    bits[k + 7] = relu6Bits(bits[k + 7]);
  }
  for (k += 7; k >= off; k--) {
    y[k] = y[k] * scale + shift;
    bits[k] = relu6Bits(bits[k]);
  }
}

function convAnyFloat64(xd: Float32Array, wd: Float32Array, g: ConvGeometry): Float32Array {
  // Accumulated in float64 and rounded once: closer to PyTorch's blocked float32
  // sums than a long sequential float32 sum, which matters next to ReLU6's kinks.
  const acc = new Float64Array(g.n * g.cout * g.oh * g.ow);
  const out = acc;
  const s = g.stride;
  if (s === 1) {
    forEachRowSegment(g, (o, i, wi, count) => {
      const wv = wd[wi];
      for (let k = 0; k < count; k++) out[o + k] += wv * xd[i + k];
    });
  } else {
    forEachRowSegment(g, (o, i, wi, count) => {
      const wv = wd[wi];
      for (let k = 0; k < count; k++) out[o + k] += wv * xd[i + k * s];
    });
  }
  return Float32Array.from(acc);
}

/** dL/dx of conv2d: the transposed convolution of the output gradient. */
export function conv2dBackwardInput(gradOut: Tensor, weight: Tensor, xShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry(xShape, weight.shape, opts);
  checkGradShape(gradOut, g);
  const dx = new Float32Array(g.n * g.cin * g.h * g.w);
  if (isPointwiseGemm(g)) {
    const hw = g.h * g.w;
    const wt = transpose(weight.data, 0, g.cout, g.cin);
    for (let b = 0; b < g.n; b++) matmul(g.cin, hw, g.cout, wt, 0, gradOut.data, b * g.cout * hw, dx, b * g.cin * hw);
    return new Tensor(dx, xShape);
  }
  const dy = gradOut.data;
  const wd = weight.data;
  const s = g.stride;
  forEachRowSegment(g, (o, i, wi, count) => {
    const wv = wd[wi];
    for (let k = 0; k < count; k++) dx[i + k * s] += wv * dy[o + k];
  });
  return new Tensor(dx, xShape);
}

/** dL/dweight of conv2d: correlation of the input with the output gradient. */
export function conv2dBackwardWeight(gradOut: Tensor, x: Tensor, wShape: readonly number[], opts: Conv2dOptions = {}): Tensor {
  const g = convGeometry(x.shape, wShape, opts);
  checkGradShape(gradOut, g);
  // Accumulated in float64: a weight gradient sums over batch and every pixel.
  const dw = new Float64Array(g.cout * (g.cin / g.groups) * g.kh * g.kw);
  if (isPointwiseGemm(g)) {
    const hw = g.h * g.w;
    const xt = new Float32Array(hw * g.cin);
    for (let b = 0; b < g.n; b++) {
      transpose(x.data, b * g.cin * hw, g.cin, hw, xt);
      matmul(g.cout, g.cin, hw, gradOut.data, b * g.cout * hw, xt, 0, dw, 0, true);
    }
    return new Tensor(Float32Array.from(dw), wShape);
  }
  const dy = gradOut.data;
  const xd = x.data;
  const s = g.stride;
  forEachRowSegment(g, (o, i, wi, count) => {
    let acc = 0;
    for (let k = 0; k < count; k++) acc += dy[o + k] * xd[i + k * s];
    dw[wi] += acc;
  });
  return new Tensor(Float32Array.from(dw), wShape);
}

/** dL/dbias: the output gradient summed over batch and pixels. */
export function conv2dBackwardBias(gradOut: Tensor): Tensor {
  const [n, c, h, w] = gradOut.shape;
  const hw = h * w;
  const db = new Float32Array(c);
  const dy = gradOut.data;
  for (let ch = 0; ch < c; ch++) {
    let acc = 0;
    for (let b = 0; b < n; b++) {
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) acc += dy[base + k];
    }
    db[ch] = acc;
  }
  return new Tensor(db, [c]);
}

function checkGradShape(gradOut: Tensor, g: ConvGeometry): void {
  const want = [g.n, g.cout, g.oh, g.ow];
  if (gradOut.shape.length !== 4 || gradOut.shape.some((d, i) => d !== want[i])) {
    throw new Error(`conv2d backward: output gradient ${formatShape(gradOut.shape)} should be ${formatShape(want)}`);
  }
}

export function addChannelBias(out: Float32Array, bias: Float32Array, n: number, c: number, hw: number): void {
  for (let b = 0; b < n; b++) {
    for (let ch = 0; ch < c; ch++) {
      const bv = bias[ch];
      const base = (b * c + ch) * hw;
      for (let k = 0; k < hw; k++) out[base + k] += bv;
    }
  }
}
