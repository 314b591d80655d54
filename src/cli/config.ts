import type { Tensor } from '../tensor/tensor.js';
import { mobileNetV2Layout } from '../models/layout.js';

/** Width multipliers of the published MobileNetV2 checkpoints, tried in this order. */
export const COMMON_ALPHAS: readonly number[] = [1.0, 0.35, 0.5, 0.75, 1.3, 1.4];

export interface InferredConfig {
  numClasses: number;
  alpha: number;
}

type Shape = readonly number[];

/** The shape every width-dependent conv must have for `alpha` (BN shapes follow from these). */
function expectedShapes(alpha: number, numClasses: number): Map<string, Shape> {
  const layout = mobileNetV2Layout(alpha);
  const m = new Map<string, Shape>();
  m.set('features.0.0.weight', [layout.stemChannels, 3, 3, 3]);
  for (const b of layout.blocks) {
    const p = `features.${b.index}.conv`;
    if (b.expandRatio === 1) {
      m.set(`${p}.0.0.weight`, [b.hidden, 1, 3, 3]);
      m.set(`${p}.1.weight`, [b.cout, b.hidden, 1, 1]);
    } else {
      m.set(`${p}.0.0.weight`, [b.hidden, b.cin, 1, 1]);
      m.set(`${p}.1.0.weight`, [b.hidden, 1, 3, 3]);
      m.set(`${p}.2.weight`, [b.cout, b.hidden, 1, 1]);
    }
  }
  const lastIn = layout.blocks[layout.blocks.length - 1].cout;
  m.set(`features.${layout.numFeatures - 1}.0.weight`, [layout.lastChannels, lastIn, 1, 1]);
  m.set('classifier.1.weight', [numClasses, layout.lastChannels]);
  return m;
}

/** The first key whose shape differs from what `alpha` needs, or undefined when all match. */
export function alphaMismatch(stateDict: Map<string, Tensor>, alpha: number, numClasses: number): string | undefined {
  for (const [k, want] of expectedShapes(alpha, numClasses)) {
    const t = stateDict.get(k);
    if (!t) return `${k} is missing`;
    if (t.shape.length !== want.length || t.shape.some((d, i) => d !== want[i])) {
      return `${k} has shape [${t.shape.join(', ')}], alpha ${alpha} needs [${want.join(', ')}]`;
    }
  }
  return undefined;
}

/**
 * num_classes from the classifier and alpha from the conv widths. `alpha` given: only checked.
 * `name` labels errors (the weights file).
 */
export function inferMobileNetV2Config(stateDict: Map<string, Tensor>, opts: { alpha?: number; name?: string } = {}): InferredConfig {
  const name = opts.name ?? 'state_dict';
  const fc = stateDict.get('classifier.1.weight');
  if (!fc || fc.shape.length !== 2) {
    const why = fc ? `has shape [${fc.shape.join(', ')}]` : 'is missing';
    throw new Error(`${name}: not a MobileNetV2 state_dict (classifier.1.weight ${why})`);
  }
  const stem = stateDict.get('features.0.0.weight');
  if (!stem || stem.shape.length !== 4) {
    throw new Error(`${name}: not a MobileNetV2 state_dict (features.0.0.weight ${stem ? `has shape [${stem.shape.join(', ')}]` : 'is missing'})`);
  }
  const numClasses = fc.shape[0];
  if (opts.alpha !== undefined) {
    const bad = alphaMismatch(stateDict, opts.alpha, numClasses);
    if (bad) throw new Error(`${name}: weights do not fit MobileNetV2 with alpha ${opts.alpha}: ${bad}`);
    return { numClasses, alpha: opts.alpha };
  }
  for (const alpha of COMMON_ALPHAS) {
    if (!alphaMismatch(stateDict, alpha, numClasses)) return { numClasses, alpha };
  }
  throw new Error(
    `${name}: cannot infer alpha: no width multiplier in {${[...COMMON_ALPHAS].sort().join(', ')}} fits ` +
      `(stem has ${stem.shape[0]} channels, classifier input ${fc.shape[1]}); pass --alpha`,
  );
}

/** PyTorch's parameter count: float tensors, without BN running statistics or counters. */
export function countParameters(stateDict: Map<string, Tensor>): number {
  let n = 0;
  for (const [k, t] of stateDict) {
    if (t.dtype !== 'float32') continue;
    if (k.endsWith('.running_mean') || k.endsWith('.running_var') || k.endsWith('.num_batches_tracked')) continue;
    n += t.size;
  }
  return n;
}
