import { describe, expect, test } from 'vitest';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { classIndicesJson, loadImageFolder } from '../../src/data/folder.js';
import { compareBytes, standardSplit } from '../../src/data/split.js';
import { fixturePath } from '../helpers/fixtures.js';

const MINI = fixturePath('flowers-mini');
const CLASSES = ['daisy', 'dandelion', 'rose', 'sunflower', 'tulip'];

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'mnv2-folder-'));
}

describe('ImageFolder on fixtures/flowers-mini', () => {
  const ds = loadImageFolder(MINI);

  test('sorted class folders map to indices', () => {
    expect(ds.classes).toEqual(CLASSES);
    expect(ds.layout).toBe('standard-split');
    expect(ds.skipped).toEqual([]);
  });

  test('standard split: 32 train / 8 val per class, the files at sorted index i % 5 == 4 in val', () => {
    for (const [label, c] of CLASSES.entries()) {
      // The rule, written independently: Buffer.compare is byte order.
      const names = readdirSync(join(MINI, c)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b)));
      expect(names).toHaveLength(40);
      const wantVal = names.filter((_, i) => i % 5 === 4).map((n) => join(MINI, c, n));
      const wantTrain = names.filter((_, i) => i % 5 !== 4).map((n) => join(MINI, c, n));
      expect(ds.val.filter((s) => s.label === label).map((s) => s.path)).toEqual(wantVal);
      expect(ds.train.filter((s) => s.label === label).map((s) => s.path)).toEqual(wantTrain);
    }
    expect(ds.train).toHaveLength(160);
    expect(ds.val).toHaveLength(40);
  });

  test("class_indices.json is the seed's json.dumps(indent=4) text", () => {
    expect(classIndicesJson(ds.classes)).toBe(
      '{\n    "0": "daisy",\n    "1": "dandelion",\n    "2": "rose",\n    "3": "sunflower",\n    "4": "tulip"\n}',
    );
  });
});

describe('split rule', () => {
  test('byte order, not UTF-16 order, and upper case before lower case', () => {
    // U+FF21 (3 UTF-8 bytes, EF BC A1) sorts after U+1F600 (F0 ...) in UTF-16 but before it in bytes.
    const names = ['\u{1F600}.jpg', '\uFF21.jpg', 'b.jpg', 'B.jpg', 'a.jpg'];
    expect([...names].sort(compareBytes)).toEqual(['B.jpg', 'a.jpg', 'b.jpg', '\uFF21.jpg', '\u{1F600}.jpg']);
    const { train, val } = standardSplit(['f', 'e', 'd', 'c', 'b', 'a', 'g', 'h', 'i', 'j']);
    expect(val).toEqual(['e', 'j']);
    expect(train).toEqual(['a', 'b', 'c', 'd', 'f', 'g', 'h', 'i']);
  });
});

describe('ImageFolder layouts and errors', () => {
  const jpg = join(MINI, 'daisy', readdirSync(join(MINI, 'daisy'))[0]);

  test('non-image files and hidden folders are skipped', () => {
    const root = tmp();
    for (const c of ['b', 'a']) {
      mkdirSync(join(root, c));
      for (let i = 0; i < 5; i++) copyFileSync(jpg, join(root, c, `img${i}.JPG`));
      writeFileSync(join(root, c, 'notes.txt'), 'x');
    }
    mkdirSync(join(root, '.ipynb_checkpoints'));
    writeFileSync(join(root, 'README.md'), 'x');
    const ds = loadImageFolder(root);
    expect(ds.classes).toEqual(['a', 'b']);
    expect(ds.train).toHaveLength(8);
    expect(ds.val.map((s) => s.path)).toEqual([join(root, 'a', 'img4.JPG'), join(root, 'b', 'img4.JPG')]);
    expect(ds.skipped.sort()).toEqual([join(root, 'a', 'notes.txt'), join(root, 'b', 'notes.txt')]);
  });

  test('DIR/train + DIR/val folders are used as given, val labels by class name', () => {
    const root = tmp();
    for (const [split, classes] of [['train', ['x', 'y']], ['val', ['y']]] as const) {
      for (const c of classes) {
        mkdirSync(join(root, split, c), { recursive: true });
        copyFileSync(jpg, join(root, split, c, '1.jpg'));
      }
    }
    const ds = loadImageFolder(root);
    expect(ds.layout).toBe('train-val-folders');
    expect(ds.classes).toEqual(['x', 'y']);
    expect(ds.train.map((s) => s.label)).toEqual([0, 1]);
    expect(ds.val).toEqual([{ path: join(root, 'val', 'y', '1.jpg'), label: 1 }]);
  });

  test('clear errors naming the folder', () => {
    const missing = join(tmp(), 'nope');
    expect(() => loadImageFolder(missing)).toThrow(`${missing}: cannot read dataset folder (no such folder)`);
    const flat = tmp();
    copyFileSync(jpg, join(flat, 'a.jpg'));
    expect(() => loadImageFolder(flat)).toThrow(`${flat}: no class folders found`);
    const empty = tmp();
    mkdirSync(join(empty, 'daisy'));
    writeFileSync(join(empty, 'daisy', 'x.txt'), 'x');
    expect(() => loadImageFolder(empty)).toThrow(`${join(empty, 'daisy')}: class folder has no images`);
  });
});
