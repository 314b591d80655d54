import { expect, test } from 'vitest';
import { argmaxRows, confusionMatrix, evalReport } from '../../src/train/metrics.js';
import { confusionMatrixSvg, trainingCurvesSvg } from '../../src/train/plots.js';

test('confusion matrix, accuracy, per-class precision and recall by hand', () => {
  // true:  0 0 0 1 1 2
  // pred:  0 0 1 1 2 2  (scores chosen so argmax gives these; a tie goes to the lower index)
  const scores = Float32Array.from([5, 1, 0, 3, 3, 0, 0, 2, 1, 0, 4, 1, 0, 1, 2, 0, 0, 9]);
  const preds = argmaxRows(scores, 3);
  expect([...preds]).toEqual([0, 0, 1, 1, 2, 2]);
  const m = confusionMatrix([0, 0, 0, 1, 1, 2], preds, 3);
  expect(m).toEqual([[2, 1, 0], [0, 1, 1], [0, 0, 1]]);
  const r = evalReport(m, ['a', 'b', 'c']);
  expect(r.total).toBe(6);
  expect(r.correct).toBe(4);
  expect(r.accuracy).toBeCloseTo(4 / 6, 12);
  expect(r.perClass.map((c) => [c.name, c.support, c.precision, c.recall])).toEqual([
    ['a', 3, 1, 2 / 3],
    ['b', 2, 1 / 2, 1 / 2],
    ['c', 1, 1 / 2, 1],
  ]);
  expect(evalReport([[0, 0], [1, 0]], ['x', 'y']).perClass[0]).toEqual({ name: 'x', support: 0, precision: 0, recall: null });
});

test('SVG plots are standalone documents with one cell per matrix entry and escaped names', () => {
  const svg = confusionMatrixSvg([[2, 1], [0, 3]], ['a<b', 'c']);
  expect(svg.startsWith('<svg xmlns="http://www.w3.org/2000/svg"')).toBe(true);
  expect(svg.match(/<rect x="\d+" y="\d+" width/g)).toHaveLength(4);
  expect(svg).toContain('a&lt;b');
  expect(svg).not.toContain('a<b');
  const curves = trainingCurvesSvg([
    { epoch: 1, train_loss: 1, train_acc: 0.5, val_loss: 0.9, val_acc: 0.6, lr: 1e-3, time_s: 1 },
    { epoch: 2, train_loss: 0.5, train_acc: 0.8, val_loss: null, val_acc: null, lr: 1e-3, time_s: 1 },
  ]);
  expect(curves.match(/<polyline/g)).toHaveLength(4);
});
