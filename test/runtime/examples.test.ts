import { describe, expect, it } from 'vitest';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { readPth } from '../../src/io/pth.js';
import { readSafetensors } from '../../src/io/safetensors.js';

/**
 * The Node examples of docs/API.md, run as a user would: `node examples/node/*.mjs`,
 * importing the package by name ('mnv2', 'mnv2/node' -> dist/, so `npm run build` first).
 */
const ROOT = join(import.meta.dirname, '..', '..');
const run = promisify(execFile);

function node(script: string, ...args: string[]) {
  if (!existsSync(join(ROOT, 'dist', 'src', 'index.js'))) throw new Error('dist/src/index.js is missing: run `npm run build` first');
  return run(process.execPath, [join(ROOT, 'examples', 'node', script), ...args], { cwd: ROOT, encoding: 'utf8' });
}

describe('Node examples', () => {
  it('predict.mjs: parrot.jpg is a macaw', async () => {
    const { stdout } = await node('predict.mjs');
    console.log(stdout.trim());
    const lines = stdout.trim().split('\n');
    expect(lines[0]).toMatch(/parrot\.jpg \(512x929\), forward [\d.]+ ms on WASM/);
    expect(lines).toHaveLength(6);
    expect(lines[1]).toMatch(/^\s*9\d\.\d\d%\s+macaw$/);
  }, 60_000);

  it('predict.mjs takes a photo path', async () => {
    const { stdout } = await node('predict.mjs', join(ROOT, 'fixtures', 'images', 'imagenet-samples', 'hot_dog.jpg'));
    expect(stdout.split('\n')[1]).toMatch(/%\s+hotdog, hot dog, red hot$/);
  }, 60_000);

  it('finetune.mjs: the loss falls, both files are written and reload, held-out photos are right', async () => {
    const out = mkdtempSync(join(tmpdir(), 'mnv2-example-'));
    try {
      const { stdout } = await node('finetune.mjs', out);
      console.log(stdout.trim());
      const losses = [...stdout.matchAll(/^step\s+\d+\s+loss ([\d.]+)$/gm)].map((m) => Number(m[1]));
      expect(losses.length).toBeGreaterThanOrEqual(5);
      expect(losses[losses.length - 1]).toBeLessThan(losses[0] / 4);

      const pth = readPth(new Uint8Array(readFileSync(join(out, 'flowers.pth')))).stateDict;
      const st = readSafetensors(new Uint8Array(readFileSync(join(out, 'flowers.safetensors'))));
      expect(pth.get('classifier.1.weight')!.shape).toEqual([5, 1280]);
      expect(st.metadata.classes).toBe('daisy,dandelion,rose,sunflower,tulip');
      expect([...st.tensors.keys()].sort()).toEqual([...pth.keys()].sort());
      for (const [k, t] of pth) expect(st.tensors.get(k)!.data, k).toEqual(t.data);
      // The backbone is the pretrained one, untouched.
      const original = readPth(new Uint8Array(readFileSync(join(ROOT, 'fixtures', 'mobilenet_v2_imagenet.pth')))).stateDict;
      expect(pth.get('features.18.0.weight')!.data).toEqual(original.get('features.18.0.weight')!.data);

      expect(stdout).toMatch(/^daisy_\S+\.jpg: daisy \(/m);
      expect(stdout).toMatch(/^sunflower_\S+\.jpg: sunflower \(/m);
    } finally {
      rmSync(out, { recursive: true, force: true });
    }
  }, 180_000);
});
