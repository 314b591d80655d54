/** Classification metrics (runtime-safe). */

/** Row-wise argmax of [N, C] scores; ties go to the lower index, as torch.argmax. */
export function argmaxRows(scores: Float32Array, numClasses: number): Int32Array {
  const n = scores.length / numClasses;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < numClasses; c++) if (scores[i * numClasses + c] > scores[i * numClasses + best]) best = c;
    out[i] = best;
  }
  return out;
}

/** `matrix[true][predicted]` counts. */
export function confusionMatrix(labels: ArrayLike<number>, preds: ArrayLike<number>, numClasses: number): number[][] {
  if (labels.length !== preds.length) throw new Error(`confusionMatrix: ${labels.length} labels but ${preds.length} predictions`);
  const m = Array.from({ length: numClasses }, () => new Array<number>(numClasses).fill(0));
  for (let i = 0; i < labels.length; i++) m[labels[i]][preds[i]]++;
  return m;
}

export interface ClassReport {
  name: string;
  /** Images of this class. */
  support: number;
  /** Of the images predicted as this class, the fraction that are; null when none were predicted. */
  precision: number | null;
  /** Of this class's images, the fraction predicted as it; null when it has no images. */
  recall: number | null;
}

export interface EvalReport {
  total: number;
  correct: number;
  accuracy: number;
  perClass: ClassReport[];
  confusion: number[][];
}

export function evalReport(confusion: number[][], classes: readonly string[]): EvalReport {
  const C = confusion.length;
  let total = 0;
  let correct = 0;
  const perClass: ClassReport[] = [];
  for (let c = 0; c < C; c++) {
    const support = confusion[c].reduce((a, b) => a + b, 0);
    let predicted = 0;
    for (let r = 0; r < C; r++) predicted += confusion[r][c];
    total += support;
    correct += confusion[c][c];
    perClass.push({
      name: classes[c] ?? `class ${c}`,
      support,
      precision: predicted ? confusion[c][c] / predicted : null,
      recall: support ? confusion[c][c] / support : null,
    });
  }
  return { total, correct, accuracy: total ? correct / total : 0, perClass, confusion };
}

/** One epoch's numbers, as written to metrics.json. */
export interface EpochMetrics {
  epoch: number;
  train_loss: number;
  train_acc: number;
  val_loss: number | null;
  val_acc: number | null;
  lr: number;
  time_s: number;
}
