import { expect, test } from 'vitest';
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { fixturePath } from '../helpers/fixtures.js';
import { tempDir } from './run_cli.js';

// The published `mnv2` bin: dist/ is built by `npm run build` (CI's `npm ci` runs it before the tests).
const BIN = fileURLToPath(new URL('../../dist/src/cli/main.js', import.meta.url));

test('the built bin runs from any cwd, finds the bundled weights and labels, and exits with the right codes', () => {
  expect(readFileSync(BIN, 'utf8').startsWith('#!/usr/bin/env node\n')).toBe(true);
  const cwd = tempDir();
  const out = execFileSync(process.execPath, [BIN, 'predict', '--json', '--topk', '2', fixturePath('images', 'imagenet-samples', 'parrot.jpg')], {
    cwd,
    encoding: 'utf8',
  });
  const [res] = JSON.parse(out);
  expect(res.top).toHaveLength(2);
  expect(res.top[0].label).toBe('macaw');

  const bad = spawnSync(process.execPath, [BIN, 'predict', 'missing.jpg'], { cwd, encoding: 'utf8' });
  expect(bad.status).toBe(1);
  expect(bad.stderr).toContain('missing.jpg');
}, 30_000);
