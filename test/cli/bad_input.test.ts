import { describe, expect, test } from 'vitest';
import { cpSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../helpers/fixtures.js';
import { runCli, tempDir } from './run_cli.js';

const MINI = fixturePath('flowers-mini');

/** flowers-mini plus four files that end in an image extension but are not decodable images. */
function datasetWithBadFiles(): { data: string; bad: string[] } {
  const data = join(tempDir(), 'flowers');
  cpSync(MINI, data, { recursive: true });
  const real = readFileSync(join(MINI, 'daisy', readdirSync(join(MINI, 'daisy')).find((n) => n.endsWith('.jpg'))!));
  // A fixed LCG, so the "random" bytes are the same on every run (and start with no image signature).
  let state = 12345;
  const noise = Uint8Array.from({ length: 2048 }, () => ((state = (state * 1103515245 + 12345) >>> 0) >>> 24));
  noise[0] = 0x42;
  const bad: [string, Uint8Array | string][] = [
    [join('daisy', 'zz_truncated.jpg'), real.subarray(0, 500)],
    [join('rose', 'zz_random.jpg'), noise],
    [join('tulip', 'zz_empty.png'), new Uint8Array(0)],
    [join('sunflower', 'zz_text.jpg'), 'this is not a picture, just text posing as one\n'],
  ];
  for (const [name, bytes] of bad) writeFileSync(join(data, name), bytes);
  return { data, bad: bad.map(([n]) => n) };
}

describe('unreadable images in the dataset', () => {
  const { data, bad } = datasetWithBadFiles();
  const out = tempDir();
  const common = ['--image-size', '64', '--cache-features', '--batch', '16'];

  test('train skips them with one warning naming each, and records the count', async () => {
    const r = await runCli('train', '--data', data, ...common, '--epochs', '1', '--out', out, '--json');
    expect(r.code, r.err).toBe(0);
    const warnings = r.err.split('\n').filter((l) => l.includes('unreadable image'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^warning: skipped 4 unreadable images: /);
    for (const b of bad) expect(warnings[0]).toContain(`${b} (`);
    expect(warnings[0]).toContain('zz_empty.png (image file is empty)');
    expect(warnings[0]).toMatch(/zz_text\.jpg \(not a JPEG, PNG or BMP image/);
    expect(JSON.parse(r.out).skipped_images).toBe(4);
    const metrics = JSON.parse(readFileSync(join(out, 'metrics.json'), 'utf8'));
    expect(metrics.skipped_images).toBe(4);
    expect(metrics.epochs).toHaveLength(1);
    expect(Number.isFinite(metrics.epochs[0].train_loss)).toBe(true);
  }, 60_000);

  test('eval skips the unreadable ones of its split and counts them', async () => {
    const r = await runCli('eval', '--data', data, '--split', 'all', '--weights', join(out, 'best.pth'), '--image-size', '64', '--json');
    expect(r.code, r.err).toBe(0);
    const warnings = r.err.split('\n').filter((l) => l.includes('unreadable image'));
    expect(warnings).toHaveLength(1);
    expect(warnings[0]).toMatch(/^mnv2: warning: skipped 4 unreadable images: /);
    for (const b of bad) expect(warnings[0]).toContain(`${b} (`);
    const rep = JSON.parse(r.out);
    expect(rep.skipped_images).toBe(4);
    // Every readable image (the 200 of flowers-mini) is counted, none of the bad ones.
    const total = readdirSync(MINI, { withFileTypes: true })
      .filter((d) => d.isDirectory())
      .reduce((n, d) => n + readdirSync(join(MINI, d.name)).length, 0);
    expect(rep.total).toBe(total);
    expect(rep.confusion.flat().reduce((a: number, b: number) => a + b, 0)).toBe(total);
  }, 60_000);

  test('predict on an unreadable image fails with exit code 1, naming the file', async () => {
    const file = join(data, bad[0]);
    const r = await runCli('predict', '--weights', join(out, 'best.pth'), '--classes', join(out, 'class_indices.json'), file);
    expect(r.code).toBe(1);
    expect(r.err).toContain(file);
    expect(r.out).toBe('');
  }, 30_000);
});
