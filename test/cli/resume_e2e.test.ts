import { describe, expect, test } from 'vitest';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { trainCommand, type TrainOptions } from '../../src/cli/train.js';
import { fixturePath } from '../helpers/fixtures.js';
import { runCli, tempDir } from './run_cli.js';

const MINI = fixturePath('flowers-mini');
const HOLDOUT = fixturePath('flowers-holdout');
const CLASSES = ['daisy', 'dandelion', 'rose', 'sunflower', 'tulip'];

interface Epoch {
  epoch: number;
  train_loss: number;
  train_acc: number;
  val_loss: number;
  val_acc: number;
}

const metricsOf = (out: string) => JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8')) as { epochs: Epoch[]; best_acc: number };

function expectSameEpochs(got: Epoch[], want: Epoch[]): void {
  expect(got.map((e) => e.epoch)).toEqual(want.map((e) => e.epoch));
  got.forEach((g, i) => {
    for (const k of ['train_loss', 'train_acc', 'val_loss', 'val_acc'] as const) {
      expect(Math.abs(g[k] - want[i][k]), `epoch ${g.epoch} ${k}: ${g[k]} vs ${want[i][k]}`).toBeLessThanOrEqual(1e-6);
    }
  });
}

// Small, seeded, cosine schedule (the default): the schedule's length is part of what resume must restore.
const FLAGS = ['--data', MINI, '--cache-features', '--image-size', '64', '--batch', '16', '--seed', '7'];

describe('resume and the train -> eval -> predict pipeline on fixtures/flowers-mini', () => {
  const outA = tempDir();

  test('an uninterrupted 2-epoch run, and one interrupted after epoch 1 then resumed, give the same metrics', async () => {
    const a = await runCli('train', ...FLAGS, '--epochs', '2', '--out', outA, '--json');
    expect(a.code, a.err).toBe(0);
    const mA = metricsOf(outA);
    expect(mA.epochs.map((e) => e.epoch)).toEqual([1, 2]);
    // The epochs differ from each other, so equality below is not vacuous.
    expect(mA.epochs[0].train_loss).not.toBe(mA.epochs[1].train_loss);

    // Ctrl-C as the CLI sees it (the abort signal), raised as soon as epoch 1 reports.
    const outB = tempDir();
    const ac = new AbortController();
    let errB = '';
    const opts: TrainOptions = {
      data: MINI, out: outB, epochs: 2, batch: 16, lr: 1e-3, optimizer: 'adam', weightDecay: 0, momentum: 0.9, labelSmoothing: 0,
      scheduler: 'cosine', freezeFeatures: false, augment: false, imageSize: 64, cacheFeatures: true, seed: 7, backend: 'wasm', json: false,
      signal: ac.signal,
    };
    const code = await trainCommand(opts, {
      stdout: { write: () => true },
      stderr: {
        write: (s: string) => {
          errB += s;
          if (s.startsWith('epoch 1/2:')) ac.abort();
          return true;
        },
      },
    });
    expect(code, errB).toBe(130);
    expect(errB).toContain('(1 epoch(s) done; continue with --resume)');
    expect(metricsOf(outB).epochs.map((e) => e.epoch)).toEqual([1]);
    const b = await runCli('train', ...FLAGS, '--epochs', '2', '--out', outB, '--resume', '--json');
    expect(b.code, b.err).toBe(0);
    expect(b.err).toContain('1 epoch(s) done');
    expectSameEpochs(metricsOf(outB).epochs, mA.epochs);
  }, 60_000);

  test('train --epochs 1, then --epochs 2 --resume, matches the uninterrupted 2-epoch run', async () => {
    const outD = tempDir();
    const d1 = await runCli('train', ...FLAGS, '--epochs', '1', '--out', outD, '--json');
    expect(d1.code, d1.err).toBe(0);
    const d2 = await runCli('train', ...FLAGS, '--epochs', '2', '--out', outD, '--resume', '--json');
    expect(d2.code, d2.err).toBe(0);
    expectSameEpochs(metricsOf(outD).epochs, metricsOf(outA).epochs);
  }, 60_000);

  test('eval and predict with the best weights', async () => {
    const best = metricsOf(outA).best_acc;
    const ev = await runCli('eval', '--data', MINI, '--weights', join(outA, 'best.pth'), '--image-size', '64', '--json');
    expect(ev.code, ev.err).toBe(0);
    const rep = JSON.parse(ev.out);
    expect(rep.skipped_images).toBe(0);
    expect(rep.total).toBe(40);
    expect(Math.abs(rep.accuracy - best)).toBeLessThanOrEqual(1e-12);
    expect(rep.accuracy).toBeGreaterThan(0.2); // chance

    const files = readdirSync(HOLDOUT).filter((n) => n.endsWith('.jpg')).sort().map((n) => join(HOLDOUT, n));
    expect(files.length).toBeGreaterThan(0);
    const pr = await runCli('predict', '--weights', join(outA, 'best.pth'), '--classes', join(outA, 'class_indices.json'), '--json', '--topk', '2', ...files);
    expect(pr.code, pr.err).toBe(0);
    const preds = JSON.parse(pr.out) as { file: string; top: { index: number; label: string; prob: number }[] }[];
    expect(preds.map((p) => p.file)).toEqual(files);
    for (const p of preds) {
      expect(p.top).toHaveLength(2);
      for (const t of p.top) {
        expect(t.label).toBe(CLASSES[t.index]);
        expect(t.prob).toBeGreaterThanOrEqual(0);
      }
      expect(p.top[0].prob).toBeGreaterThanOrEqual(p.top[1].prob);
      expect(p.top[0].prob + p.top[1].prob).toBeLessThanOrEqual(1 + 1e-6);
    }
  }, 60_000);
});
