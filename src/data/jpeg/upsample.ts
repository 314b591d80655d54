/**
 * Chroma upsampling as libjpeg-turbo does it with its default
 * do_fancy_upsampling (jdsample.c): a triangle filter (3/4 nearer sample,
 * 1/4 farther one) for 2:1 horizontal, 2:1 vertical and 2:1 both ways, with
 * libjpeg's alternating rounding biases so that errors do not drift one way;
 * plain replication for every other integer ratio. Rows beyond the top and
 * bottom of the component repeat its first and last real rows, as libjpeg's
 * context rows do. Output planes may be one column/row larger than the image
 * (odd sizes); callers crop.
 */

export interface Plane {
  data: Uint8Array;
  /** Samples per row in `data` (>= width). */
  stride: number;
  /** Real samples per row (libjpeg's downsampled_width). */
  width: number;
  /** Real rows (libjpeg's downsampled_height). */
  height: number;
}

export function upsample(p: Plane, hRatio: number, vRatio: number): Plane {
  if (hRatio === 1 && vRatio === 1) return p;
  // libjpeg-turbo only uses the fancy 2:1 horizontal filters for components wider than 2 samples.
  if (hRatio === 2 && vRatio === 1 && p.width > 2) return h2v1Fancy(p);
  if (hRatio === 1 && vRatio === 2) return h1v2Fancy(p);
  if (hRatio === 2 && vRatio === 2 && p.width > 2) return h2v2Fancy(p);
  return replicate(p, hRatio, vRatio);
}

function h2v1Fancy(p: Plane): Plane {
  const { data, stride, width: w, height: h } = p;
  const ow = w * 2;
  const out = new Uint8Array(ow * h);
  for (let y = 0; y < h; y++) {
    const i = y * stride;
    const o = y * ow;
    out[o] = data[i];
    out[o + 1] = (data[i] * 3 + data[i + 1] + 2) >> 2;
    for (let x = 1; x < w - 1; x++) {
      const v = data[i + x] * 3;
      out[o + 2 * x] = (v + data[i + x - 1] + 1) >> 2;
      out[o + 2 * x + 1] = (v + data[i + x + 1] + 2) >> 2;
    }
    const x = w - 1;
    out[o + 2 * x] = (data[i + x] * 3 + data[i + x - 1] + 1) >> 2;
    out[o + 2 * x + 1] = data[i + x];
  }
  return { data: out, stride: ow, width: ow, height: h };
}

function h1v2Fancy(p: Plane): Plane {
  const { data, stride, width: w, height: h } = p;
  const oh = h * 2;
  const out = new Uint8Array(w * oh);
  for (let y = 0; y < h; y++) {
    const cur = y * stride;
    const above = Math.max(y - 1, 0) * stride;
    const below = Math.min(y + 1, h - 1) * stride;
    const o0 = 2 * y * w;
    const o1 = o0 + w;
    for (let x = 0; x < w; x++) {
      const v = data[cur + x] * 3;
      out[o0 + x] = (v + data[above + x] + 1) >> 2;
      out[o1 + x] = (v + data[below + x] + 2) >> 2;
    }
  }
  return { data: out, stride: w, width: w, height: oh };
}

function h2v2Fancy(p: Plane): Plane {
  const { data, stride, width: w, height: h } = p;
  const ow = w * 2;
  const out = new Uint8Array(ow * h * 2);
  const sum = new Int32Array(w);
  for (let y = 0; y < h; y++) {
    const cur = y * stride;
    for (let half = 0; half < 2; half++) {
      const nb = (half === 0 ? Math.max(y - 1, 0) : Math.min(y + 1, h - 1)) * stride;
      for (let x = 0; x < w; x++) sum[x] = data[cur + x] * 3 + data[nb + x];
      const o = (2 * y + half) * ow;
      out[o] = (sum[0] * 4 + 8) >> 4;
      out[o + 1] = (sum[0] * 3 + sum[1] + 7) >> 4;
      for (let x = 1; x < w - 1; x++) {
        const v = sum[x] * 3;
        out[o + 2 * x] = (v + sum[x - 1] + 8) >> 4;
        out[o + 2 * x + 1] = (v + sum[x + 1] + 7) >> 4;
      }
      const x = w - 1;
      out[o + 2 * x] = (sum[x] * 3 + sum[x - 1] + 8) >> 4;
      out[o + 2 * x + 1] = (sum[x] * 4 + 7) >> 4;
    }
  }
  return { data: out, stride: ow, width: ow, height: h * 2 };
}

function replicate(p: Plane, hr: number, vr: number): Plane {
  const { data, stride, width: w, height: h } = p;
  const ow = w * hr;
  const out = new Uint8Array(ow * h * vr);
  for (let y = 0; y < h; y++) {
    const o = y * vr * ow;
    for (let x = 0; x < w; x++) {
      const v = data[y * stride + x];
      for (let k = 0; k < hr; k++) out[o + x * hr + k] = v;
    }
    for (let k = 1; k < vr; k++) out.copyWithin(o + k * ow, o, o + ow);
  }
  return { data: out, stride: ow, width: ow, height: h * vr };
}
