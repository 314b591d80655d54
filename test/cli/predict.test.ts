import { describe, expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../helpers/fixtures.js';
import { runCli, tempDir } from './run_cli.js';
import { topK } from '../../src/cli/predict.js';

const sample = (name: string) => fixturePath('images', 'imagenet-samples', name);
const PARROT = sample('parrot.jpg');
const HOT_DOG = sample('hot_dog.jpg');

interface JsonResult {
  file: string;
  top?: { index: number; label: string; prob: number }[];
  ms?: number;
  error?: string;
}

// Expected labels and probabilities come from PyTorch (fixtures/README: parrot -> macaw 0.99, hot_dog -> hotdog 0.97).
describe('mnv2 predict', () => {
  test('parrot.jpg -> macaw on the default (wasm) backend, human-readable', async () => {
    const r = await runCli('predict', PARROT);
    expect(r.code).toBe(0);
    expect(r.err).toBe('');
    const lines = r.out.split('\n');
    expect(lines[0]).toMatch(/parrot\.jpg {2}\(wasm, \d+(\.\d)? ms\)$/);
    const first = lines[1].match(/^\s+1\.\s+(.+?)\s+(\d\.\d{4})$/);
    expect(first).not.toBeNull();
    expect(first![1]).toBe('macaw');
    expect(Number(first![2])).toBeGreaterThan(0.95);
    expect(lines.slice(1, 6).every((l) => /\d\.\d{4}$/.test(l))).toBe(true);
    expect(r.out).toMatch(/wasm backend/);
  });

  test('parrot.jpg -> macaw on the js reference backend', async () => {
    const r = await runCli('predict', '--backend', 'js', '--json', '--topk', '1', PARROT);
    expect(r.code).toBe(0);
    const [res] = JSON.parse(r.out) as JsonResult[];
    expect(res.top![0].label).toBe('macaw');
    expect(res.top![0].prob).toBeGreaterThan(0.95);
  }, 30_000);

  test('--json prints only a parseable array with top-k per image, in input order', async () => {
    const r = await runCli('predict', '--json', '--topk', '3', PARROT, HOT_DOG);
    expect(r.code).toBe(0);
    const res = JSON.parse(r.out) as JsonResult[];
    expect(res.map((x) => x.file)).toEqual([PARROT, HOT_DOG]);
    for (const x of res) {
      expect(x.top).toHaveLength(3);
      expect(x.ms).toBeGreaterThan(0);
      const p = x.top!.map((t) => t.prob);
      expect([...p].sort((a, b) => b - a)).toEqual(p);
    }
    expect(res[0].top![0]).toMatchObject({ label: 'macaw' });
    expect(res[1].top![0].label).toBe('hotdog, hot dog, red hot');
    expect(res[1].top![0].prob).toBeGreaterThan(0.9);
    const labels = JSON.parse(readFileSync(fixturePath('imagenet_labels.json'), 'utf8')) as string[];
    for (const t of res[0].top!) expect(t.label).toBe(labels[t.index]);
  });

  test('a batch of one and a batch of two give the same probabilities', async () => {
    const one = JSON.parse((await runCli('predict', '--json', HOT_DOG)).out) as JsonResult[];
    const two = JSON.parse((await runCli('predict', '--json', '--batch-size', '2', PARROT, HOT_DOG)).out) as JsonResult[];
    for (let i = 0; i < 5; i++) {
      expect(two[1].top![i].index).toBe(one[0].top![i].index);
      expect(Math.abs(two[1].top![i].prob - one[0].top![i].prob)).toBeLessThan(1e-5);
    }
  });

  test('a missing and a corrupt image are reported by name, the others still predicted, exit 1', async () => {
    const dir = tempDir();
    const missing = join(dir, 'nope.jpg');
    const corrupt = join(dir, 'corrupt.jpg');
    writeFileSync(corrupt, Uint8Array.from([0xff, 0xd8, 0xff, 0xe0, 1, 2, 3, 4, 5, 6, 7]));
    const r = await runCli('predict', '--json', missing, PARROT, corrupt);
    expect(r.code).toBe(1);
    const errLines = r.err.trim().split('\n');
    expect(errLines).toHaveLength(2);
    expect(errLines[0]).toContain(missing);
    expect(errLines[0]).toContain('no such file');
    expect(errLines[1]).toContain(corrupt);
    const res = JSON.parse(r.out) as JsonResult[];
    expect(res[0]).toEqual({ file: missing, error: expect.stringContaining(missing) });
    expect(res[1].top![0].label).toBe('macaw');
    expect(res[2].error).toContain(corrupt);

    const human = await runCli('predict', missing, PARROT);
    expect(human.code).toBe(1);
    expect(human.out).toContain('macaw');
    expect(human.err).toContain(missing);
  });

  test('a corrupt weights file: one line naming it, exit 1, nothing on stdout', async () => {
    const dir = tempDir();
    const bad = join(dir, 'random.pth');
    const bytes = new Uint8Array(4096);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24;
    writeFileSync(bad, bytes);
    const r = await runCli('predict', '--weights', bad, PARROT);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain(bad);

    const absent = await runCli('predict', '--weights', join(dir, 'absent.pth'), PARROT);
    expect(absent.code).toBe(1);
    expect(absent.err).toContain('absent.pth');
  });

  test('label count not matching num_classes is an error naming the labels file', async () => {
    const dir = tempDir();
    const labels = join(dir, 'three.txt');
    writeFileSync(labels, 'a\nb\nc\n');
    const r = await runCli('predict', '--labels', labels, PARROT);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err).toContain(labels);
    expect(r.err).toMatch(/3 labels .* 1000 classes/);

    const classes = join(dir, 'class_indices.json');
    writeFileSync(classes, JSON.stringify({ 0: 'daisy', 1: 'dandelion' }));
    const c = await runCli('predict', '--weights', fixturePath('small_checkpoint.pth'), '--classes', classes, PARROT);
    expect(c.code).toBe(1);
    expect(c.err).toMatch(/2 labels .* 5 classes/);
  });

  test('a checkpoint carries its class names; --classes (the seed format) overrides them', async () => {
    const ckpt = fixturePath('small_checkpoint.pth');
    const r = await runCli('predict', '--json', '--topk', '10', '--weights', ckpt, '--image-size', '96', '--resize', '110', PARROT);
    expect(r.code).toBe(0);
    const [res] = JSON.parse(r.out) as JsonResult[];
    // topk is capped at the 5 classes, and every class appears once.
    expect(res.top!.map((t) => t.label).sort()).toEqual(['daisy', 'dandelion', 'rose', 'sunflower', 'tulip']);
    expect(res.top!.reduce((s, t) => s + t.prob, 0)).toBeCloseTo(1, 5);

    const dir = tempDir();
    const classes = join(dir, 'class_indices.json');
    writeFileSync(classes, JSON.stringify({ 0: 'A', 1: 'B', 2: 'C', 3: 'D', 4: 'E' }, null, 4));
    const o = await runCli('predict', '--json', '--weights', ckpt, '--classes', classes, '--image-size', '96', '--resize', '110', PARROT);
    const [res2] = JSON.parse(o.out) as JsonResult[];
    for (const t of res2.top!) expect(t.label).toBe('ABCDE'[t.index]);
    expect(res2.top!.map((t) => t.index)).toEqual(res.top!.map((t) => t.index));
  });

  test('1001-line labels text with "background" first is accepted for the 1000-class model', async () => {
    const r = await runCli('predict', '--json', '--labels', sample('imagenet_labels.txt'), PARROT);
    expect(r.code).toBe(0);
    expect((JSON.parse(r.out) as JsonResult[])[0].top![0].label).toBe('macaw');
  });

  test('--alpha that does not fit the weights, bad --mean and bad --topk are errors', async () => {
    const a = await runCli('predict', '--alpha', '0.5', PARROT);
    expect(a.code).toBe(1);
    expect(a.err).toMatch(/mobilenet_v2_imagenet\.pth: .*alpha 0\.5/);
    const m = await runCli('predict', '--mean', '0.5,0.5', PARROT);
    expect(m.code).toBe(1);
    expect(m.err).toContain('--mean');
    const k = await runCli('predict', '--topk', '0', PARROT);
    expect(k.code).toBe(1);
    expect(k.err).toContain('--topk');
    const s = await runCli('predict', '--std', '0.5,0,0.5', PARROT);
    expect(s.code).toBe(1);
    expect(s.err).toContain('--std');
  });
});

describe('topK', () => {
  test('highest first, ties by lower index, capped at the class count', () => {
    const p = Float32Array.from([0.1, 0.3, 0.3, 0.05, 0.25]);
    expect(topK(p, 3)).toEqual([
      { index: 1, prob: p[1] },
      { index: 2, prob: p[2] },
      { index: 4, prob: p[4] },
    ]);
    expect(topK(p, 9)).toHaveLength(5);
  });
});
