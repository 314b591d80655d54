import { describe, expect, test } from 'vitest';
import { copyFileSync, existsSync, mkdirSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readWeights } from '../../src/io/weights.js';
import { readPth } from '../../src/io/pth.js';
import { trainCommand, type TrainOptions } from '../../src/cli/train.js';
import { fixturePath } from '../helpers/fixtures.js';
import { runCli, tempDir } from './run_cli.js';

const MINI = fixturePath('flowers-mini');

/** Two classes of five photos: enough for the error paths, cheap to extract. */
function tinyDataset(): string {
  const root = tempDir();
  for (const c of ['daisy', 'rose']) {
    mkdirSync(join(root, c));
    for (const n of readdirSync(join(MINI, c)).slice(0, 5)) copyFileSync(join(MINI, c, n), join(root, c, n));
  }
  return root;
}

describe('mnv2 train / eval on fixtures/flowers-mini', () => {
  const out = tempDir();

  test('a 3-epoch linear probe writes every file, beats chance, resumes, and evaluates', async () => {
    const r = await runCli('train', '--data', MINI, '--cache-features', '--epochs', '3', '--image-size', '96', '--batch', '32', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const summary = JSON.parse(r.out);
    for (const f of ['best.pth', 'last.pth', 'class_indices.json', 'metrics.json', 'curves.svg', 'confusion_matrix.svg']) {
      expect(existsSync(join(out, f)), f).toBe(true);
    }
    expect(r.err).toContain('skipped (shape differs, newly initialized): classifier.1.weight [1000, 1280] -> [5, 1280]; classifier.1.bias [1000] -> [5]');
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3]);
    expect(metrics.classes).toEqual(['daisy', 'dandelion', 'rose', 'sunflower', 'tulip']);
    const best = Math.max(...metrics.epochs.map((e: { val_acc: number }) => e.val_acc));
    expect(best).toBeGreaterThan(0.4); // chance is 0.2
    expect(summary.best_acc).toBe(best);
    expect(JSON.parse(readFileSync(join(out, 'class_indices.json'), 'utf8'))).toEqual({ 0: 'daisy', 1: 'dandelion', 2: 'rose', 3: 'sunflower', 4: 'tulip' });
    expect(readFileSync(join(out, 'curves.svg'), 'utf8')).toMatch(/^<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"[\s\S]*<polyline[\s\S]*<\/svg>\n$/);
    // best.pth: a plain 5-class state_dict.
    const bestPth = readWeights(readFileSync(join(out, 'best.pth')));
    expect(bestPth.extra).toEqual({});
    expect(bestPth.stateDict.get('classifier.1.weight')!.shape).toEqual([5, 1280]);
    expect(readPth(readFileSync(join(out, 'last.pth')), { key: 'state' }).extra.epoch).toBe(3);

    const again = await runCli('train', '--data', MINI, '--cache-features', '--epochs', '5', '--image-size', '96', '--out', out, '--resume', '--json');
    expect(again.code, again.err).toBe(0);
    expect(again.err).toContain('3 epoch(s) done');
    const m2 = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(m2.epochs.map((e: { epoch: number }) => e.epoch)).toEqual([1, 2, 3, 4, 5]);
    expect(m2.epochs.slice(0, 3)).toEqual(metrics.epochs);
    expect(readPth(readFileSync(join(out, 'last.pth')), { key: 'state' }).extra.epoch).toBe(5);

    const ev = await runCli('eval', '--data', MINI, '--weights', join(out, 'best.pth'), '--image-size', '96', '--json');
    expect(ev.code, ev.err).toBe(0);
    const rep = JSON.parse(ev.out);
    const cells = rep.confusion.flat();
    expect(cells.reduce((a: number, b: number) => a + b, 0)).toBe(40);
    expect(rep.confusion.map((row: number[]) => row.reduce((a, b) => a + b, 0))).toEqual([8, 8, 8, 8, 8]);
    expect(rep.correct).toBe(rep.confusion.reduce((s: number, row: number[], i: number) => s + row[i], 0));
    expect(rep.accuracy).toBeGreaterThan(0.4);
    expect(rep.perClass.map((c: { name: string }) => c.name)).toEqual(['daisy', 'dandelion', 'rose', 'sunflower', 'tulip']);

    const text = await runCli('eval', '--data', MINI, '--weights', join(out, 'best.pth'), '--image-size', '96');
    expect(text.code, text.err).toBe(0);
    expect(text.out).toContain(`accuracy ${rep.accuracy.toFixed(4)} (${rep.correct}/40)`);
    expect(text.out).toMatch(/confusion matrix \(rows: true class, columns: predicted\)/);
  }, 120_000);
});

describe('mnv2 train errors and interruption', () => {
  const data = tinyDataset();

  test('--cache-features with incompatible options is rejected before any work', async () => {
    const r = await runCli('train', '--data', data, '--cache-features', '--augment', '--out', tempDir());
    expect(r.code).toBe(1);
    expect(r.err).toContain('--cache-features needs a fixed backbone and fixed inputs, so it cannot be combined with --augment');
    const bn = await runCli('train', '--data', data, '--cache-features', '--bn', 'train', '--out', tempDir());
    expect(bn.code).toBe(1);
    expect(bn.err).toContain('--bn train');
    const missing = await runCli('train', '--data', join(data, 'nope'), '--out', tempDir());
    expect(missing.code).toBe(1);
    expect(missing.err).toContain(`${join(data, 'nope')}: cannot read dataset folder (no such folder)`);
    const noResume = await runCli('train', '--data', data, '--cache-features', '--resume', '--out', tempDir());
    expect(noResume.code).toBe(1);
    expect(noResume.err).toContain('last.pth: cannot read checkpoint (no such file; nothing to resume)');
  });

  test('a diverging run stops with a clear error and writes no checkpoint', async () => {
    const out = tempDir();
    const r = await runCli('train', '--data', data, '--cache-features', '--image-size', '32', '--epochs', '2', '--lr', '1e38', '--out', out);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/training diverged.*: crossEntropy: logits\[\d+, \d+\] is (NaN|-?Infinity).*try a lower --lr/);
    expect(existsSync(join(out, 'best.pth'))).toBe(false);
    expect(existsSync(join(out, 'last.pth'))).toBe(false);
  });

  test('an interrupt (Ctrl-C) saves last.pth and exits 130', async () => {
    const out = tempDir();
    const ac = new AbortController();
    ac.abort();
    let err = '';
    const opts: TrainOptions = {
      data, out, epochs: 3, batch: 4, lr: 1e-3, optimizer: 'adam', weightDecay: 0, momentum: 0.9, labelSmoothing: 0, scheduler: 'none',
      freezeFeatures: false, augment: false, imageSize: 32, cacheFeatures: true, seed: 0, backend: 'wasm', json: false, signal: ac.signal,
    };
    const code = await trainCommand(opts, { stdout: { write: () => true }, stderr: { write: (s: string) => (err += s) } });
    expect(code).toBe(130);
    expect(err).toContain(`interrupted: saved ${join(out, 'last.pth')} (0 epoch(s) done; continue with --resume)`);
    expect(readPth(readFileSync(join(out, 'last.pth')), { key: 'state' }).extra.epoch).toBe(0);
  });
});
