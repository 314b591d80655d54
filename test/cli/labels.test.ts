import { describe, expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../helpers/fixtures.js';
import { classIndicesToLabels, labelsFromCheckpoint, loadClassIndicesFile, loadLabelsFile } from '../../src/cli/labels.js';
import { tempDir } from './run_cli.js';

const imagenet = JSON.parse(readFileSync(fixturePath('imagenet_labels.json'), 'utf8')) as string[];

describe('labels', () => {
  test('JSON array and 1001-line text (background dropped) give the same 1000 ImageNet names', () => {
    expect(loadLabelsFile(fixturePath('imagenet_labels.json'))).toEqual(imagenet);
    const txt = loadLabelsFile(fixturePath('images', 'imagenet-samples', 'imagenet_labels.txt'));
    expect(txt).toHaveLength(1000);
    expect(txt).toEqual(imagenet);
  });

  test('text labels: CRLF and trailing blank lines; "background" kept unless it makes 1001 lines', () => {
    const dir = tempDir();
    const p = join(dir, 'l.txt');
    writeFileSync(p, 'background\r\ncat\r\ndog\r\n\r\n');
    expect(loadLabelsFile(p)).toEqual(['background', 'cat', 'dog']);
  });

  test("the seed's class_indices.json, in any key order", () => {
    const dir = tempDir();
    const p = join(dir, 'class_indices.json');
    writeFileSync(p, JSON.stringify({ 2: 'rose', 0: 'daisy', 1: 'dandelion' }, null, 4));
    expect(loadClassIndicesFile(p)).toEqual(['daisy', 'dandelion', 'rose']);
    expect(loadLabelsFile(p)).toEqual(['daisy', 'dandelion', 'rose']);
  });

  test('bad class indices and files are errors naming the file', () => {
    expect(() => classIndicesToLabels({ 0: 'a', 2: 'c' }, 'ci.json')).toThrow(/ci\.json: class index "2"/);
    expect(() => classIndicesToLabels({ 0: 'a', x: 'c' }, 'ci.json')).toThrow(/ci\.json: class index "x"/);
    expect(() => classIndicesToLabels({ 0: 5 }, 'ci.json')).toThrow(/ci\.json: class 0 is not a string/);
    const dir = tempDir();
    const broken = join(dir, 'broken.json');
    writeFileSync(broken, '{"0": "a",');
    expect(() => loadClassIndicesFile(broken)).toThrow(/broken\.json: invalid JSON/);
    expect(() => loadLabelsFile(join(dir, 'nope.txt'))).toThrow(/nope\.txt: cannot read labels file \(no such file\)/);
    const empty = join(dir, 'empty.txt');
    writeFileSync(empty, '\n');
    expect(() => loadLabelsFile(empty)).toThrow(/empty\.txt: no labels/);
  });

  test('checkpoint classes: a list of names or an index dict; anything else ignored', () => {
    expect(labelsFromCheckpoint({ classes: ['a', 'b'] })).toEqual(['a', 'b']);
    expect(labelsFromCheckpoint({ classes: { 1: 'b', 0: 'a' } })).toEqual(['a', 'b']);
    expect(labelsFromCheckpoint({ classes: [1, 2] })).toBeUndefined();
    expect(labelsFromCheckpoint({ epoch: 3 })).toBeUndefined();
  });
});
