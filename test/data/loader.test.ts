import { afterAll, describe, expect, test } from 'vitest';
import { loadImageFolder } from '../../src/data/folder.js';
import { DataLoader, DecodePool, workerScriptPath } from '../../src/data/loader.js';
import { loadSample, type TransformSpec } from '../../src/data/worker.js';
import { decodeImageFile } from '../../src/data/decode.js';
import { resize } from '../../src/data/transforms.js';
import { fixturePath } from '../helpers/fixtures.js';

// 10 photos of two classes keep decoding cheap.
const ds = loadImageFolder(fixturePath('flowers-mini'));
const samples = [...ds.train.filter((s) => s.label === 0).slice(0, 5), ...ds.train.filter((s) => s.label === 3).slice(0, 5)];
const RESIZE: TransformSpec = { kind: 'resize', size: 48, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5] };
const AUGMENT: TransformSpec = { ...RESIZE, kind: 'augment', colorJitter: { brightness: 0.4, contrast: 0.4, saturation: 0.4, hue: 0.1 } };

async function collect(loader: DataLoader, epoch: number) {
  const out = [];
  for await (const b of loader.epoch(epoch)) out.push(b);
  return out;
}

describe('DataLoader', () => {
  test('seeded order: the same for a seed, different across seeds and epochs, every sample once per epoch', () => {
    const a = new DataLoader(samples, { batchSize: 4, transform: RESIZE, shuffle: true, seed: 7 });
    const b = new DataLoader(samples, { batchSize: 4, transform: RESIZE, shuffle: true, seed: 7 });
    const c = new DataLoader(samples, { batchSize: 4, transform: RESIZE, shuffle: true, seed: 8 });
    expect(a.order(0)).toEqual(b.order(0));
    expect(a.order(1)).toEqual(b.order(1));
    expect(a.order(0)).not.toEqual(c.order(0));
    expect(a.order(0)).not.toEqual(a.order(1));
    for (const e of [0, 1, 2]) expect([...a.order(e)].sort((x, y) => x - y)).toEqual([...samples.keys()]);
    expect(new DataLoader(samples, { batchSize: 4, transform: RESIZE }).order(3)).toEqual([...samples.keys()]);
  });

  test('main-thread batches: shapes [B, 3, S, S], labels, the Resize((S, S)) pixels, every sample seen once', async () => {
    const loader = new DataLoader(samples, { batchSize: 4, transform: RESIZE, shuffle: true, seed: 1 });
    const batches = await collect(loader, 0);
    expect(batches.map((b) => b.x.shape)).toEqual([[4, 3, 48, 48], [4, 3, 48, 48], [2, 3, 48, 48]]);
    const seen = batches.flatMap((b) => b.indices);
    expect(seen).toEqual(loader.order(0));
    expect([...seen].sort((x, y) => x - y)).toEqual([...samples.keys()]);
    for (const b of batches) expect([...b.labels]).toEqual(b.indices.map((i) => samples[i].label));
    // First pixel of the first item, channel 0: (resize(img)[0] / 255 - 0.5) / 0.5 computed here directly.
    const first = batches[0].indices[0];
    const img = resize(await decodeImageFile(samples[first].path), [48, 48]);
    expect(batches[0].x.data[0]).toBe(Math.fround(Math.fround(img.data[0] / 255) - 0.5) / 0.5);
    const dropLast = new DataLoader(samples, { batchSize: 4, transform: RESIZE, dropLast: true });
    expect(dropLast.numBatches).toBe(2);
    expect((await collect(dropLast, 0)).map((b) => b.x.shape[0])).toEqual([4, 4]);
  });

  describe('worker threads', () => {
    const script = workerScriptPath();
    const pool = script ? new DecodePool(2, script) : null;
    afterAll(async () => {
      await pool?.close();
    });

    test('the compiled worker script exists (npm run build)', () => {
      expect(script).toBeDefined();
    });

    test('worker-decoded batches equal main-thread ones bit for bit, with and without augmentation', async () => {
      for (const spec of [RESIZE, AUGMENT]) {
        const opts = { batchSize: 3, transform: spec, shuffle: true, seed: 5 };
        const main = await collect(new DataLoader(samples, opts), 2);
        const work = await collect(new DataLoader(samples, { ...opts, pool }), 2);
        expect(work.map((b) => b.indices)).toEqual(main.map((b) => b.indices));
        for (let i = 0; i < main.length; i++) {
          expect(work[i].x.shape).toEqual(main[i].x.shape);
          expect(Buffer.from(work[i].x.data.buffer).equals(Buffer.from(main[i].x.data.buffer))).toBe(true);
        }
      }
      // Augmentation draws differ between epochs (per-sample seeds include the epoch).
      const e0 = await loadSample(samples[0].path, AUGMENT, 1);
      const e1 = await loadSample(samples[0].path, AUGMENT, 2);
      expect(Buffer.from(e0.data.buffer).equals(Buffer.from(e1.data.buffer))).toBe(false);
    });

    test('a bad file drops out of its batch (labels and indices aligned) and is recorded with its error', async () => {
      const readme = fixturePath('flowers-mini', 'README.md');
      const bad = [samples[0], { path: readme, label: 9 }, samples[1]];
      const loader = new DataLoader(bad, { batchSize: 3, transform: RESIZE, pool });
      const batches = await collect(loader, 0);
      expect(batches).toHaveLength(1);
      expect(batches[0].indices).toEqual([0, 2]);
      expect([...batches[0].labels]).toEqual([samples[0].label, samples[1].label]);
      expect(batches[0].x.shape[0]).toBe(2);
      expect([...loader.skipped.keys()]).toEqual([readme]);
      expect(loader.skipped.get(readme)).toMatch(/^not a JPEG, PNG or BMP image/);
    });

    test('a batch with only bad files is skipped', async () => {
      const readme = fixturePath('flowers-mini', 'README.md');
      const loader = new DataLoader([{ path: readme, label: 0 }, samples[0]], { batchSize: 1, transform: RESIZE, pool });
      const batches = await collect(loader, 0);
      expect(batches.map((b) => b.indices)).toEqual([[1]]);
      expect(loader.skipped.size).toBe(1);
    });
  });
});
