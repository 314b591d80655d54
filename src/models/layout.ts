/** The MobileNetV2 layer layout (torchvision / the seed tutorial), shared by the module tree and the fused WASM plan. */

/** TF's `_make_divisible`: round to the nearest multiple of `divisor`, never dropping more than 10%. */
export function makeDivisible(ch: number, divisor = 8, minCh = divisor): number {
  let c = Math.max(minCh, Math.floor(Math.trunc(ch + divisor / 2) / divisor) * divisor);
  if (c < 0.9 * ch) c += divisor;
  return c;
}

export interface InvertedResidualSpec {
  /** Index in `features`. */
  index: number;
  cin: number;
  cout: number;
  hidden: number;
  stride: 1 | 2;
  expandRatio: number;
  useShortcut: boolean;
}

export interface MobileNetV2Layout {
  stemChannels: number;
  blocks: InvertedResidualSpec[];
  lastChannels: number;
  /** Number of entries in `features` (stem + blocks + last conv). */
  numFeatures: number;
}

// t (expand ratio), c (channels), n (repeats), s (first stride)
export const INVERTED_RESIDUAL_SETTING: readonly (readonly [number, number, number, 1 | 2])[] = [
  [1, 16, 1, 1],
  [6, 24, 2, 2],
  [6, 32, 3, 2],
  [6, 64, 4, 2],
  [6, 96, 3, 1],
  [6, 160, 3, 2],
  [6, 320, 1, 1],
];

export function mobileNetV2Layout(alpha: number, roundNearest = 8): MobileNetV2Layout {
  if (!(alpha > 0)) throw new Error(`MobileNetV2: alpha must be positive, got ${alpha}`);
  const stemChannels = makeDivisible(32 * alpha, roundNearest);
  const lastChannels = makeDivisible(1280 * alpha, roundNearest);
  const blocks: InvertedResidualSpec[] = [];
  let cin = stemChannels;
  for (const [t, c, n, s] of INVERTED_RESIDUAL_SETTING) {
    const cout = makeDivisible(c * alpha, roundNearest);
    for (let i = 0; i < n; i++) {
      const stride = i === 0 ? s : 1;
      blocks.push({
        index: blocks.length + 1,
        cin,
        cout,
        hidden: cin * t,
        stride,
        expandRatio: t,
        useShortcut: stride === 1 && cin === cout,
      });
      cin = cout;
    }
  }
  return { stemChannels, blocks, lastChannels, numFeatures: blocks.length + 2 };
}
