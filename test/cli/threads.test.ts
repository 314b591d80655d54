import { describe, expect, test } from 'vitest';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { readWeights } from '../../src/io/weights.js';
import { fixturePath } from '../helpers/fixtures.js';
import { parity } from '../helpers/compare.js';
import { workerScript } from '../backend/wasm/parallel/helpers.js';
import { runCli, tempDir } from './run_cli.js';

const MINI = fixturePath('flowers-mini');
// The workers run dist's compiled JS: build it when stale.
workerScript();

describe('--threads', () => {
  test('mnv2 train --threads 2 (wasm, frozen features, train-mode BN) writes best.pth equal to the 1-thread run', async () => {
    const args = ['--data', MINI, '--image-size', '64', '--epochs', '1', '--batch', '8', '--freeze-features', '--bn', 'train', '--json'];
    const out2 = tempDir();
    const r2 = await runCli('train', ...args, '--threads', '2', '--out', out2);
    expect(r2.code, r2.err).toBe(0);
    expect(r2.err).toContain('training on wasm, 2 threads');
    expect(existsSync(join(out2, 'best.pth'))).toBe(true);
    expect(JSON.parse(readFileSync(join(out2, 'metrics.json'), 'utf8')).options.threads).toBe(2);

    const out1 = tempDir();
    const r1 = await runCli('train', ...args, '--threads', '1', '--out', out1);
    expect(r1.code, r1.err).toBe(0);
    expect(r1.err).toContain('training on wasm, 1 thread');
    const a = readWeights(readFileSync(join(out2, 'best.pth'))).stateDict;
    const b = readWeights(readFileSync(join(out1, 'best.pth'))).stateDict;
    expect([...a.keys()]).toEqual([...b.keys()]);
    // The trained head and the BN running statistics (updated from the whole batch's statistics).
    for (const k of ['classifier.1.weight', 'classifier.1.bias', 'features.0.1.running_mean', 'features.0.1.running_var', 'features.18.1.running_var']) {
      const p = parity(a.get(k)!, b.get(k)!);
      expect(p.maxAbsErr, k).toBeLessThanOrEqual(p.bound);
    }
    expect(a.get('features.18.1.num_batches_tracked')!.int64![0]).toBe(b.get('features.18.1.num_batches_tracked')!.int64![0]);
  });

  test('mnv2 predict --threads 2 gives the 1-thread predictions', async () => {
    const dir = fixturePath('flowers-holdout');
    const images = readdirSync(dir).filter((f) => /\.jpe?g$/i.test(f)).slice(0, 3).map((f) => join(dir, f));
    const r2 = await runCli('predict', '--threads', '2', '--json', ...images);
    expect(r2.code, r2.err).toBe(0);
    const r1 = await runCli('predict', '--threads', '1', '--json', ...images);
    expect(r1.code, r1.err).toBe(0);
    const strip = (s: string) => (JSON.parse(s) as { file: string; top: unknown }[]).map(({ file, top }) => ({ file, top }));
    expect(strip(r2.out)).toEqual(strip(r1.out));
  });

  test('--threads must be a positive integer', async () => {
    const r = await runCli('train', '--data', MINI, '--threads', '0');
    expect(r.code).not.toBe(0);
    expect(r.err).toMatch(/--threads/);
  });
});
