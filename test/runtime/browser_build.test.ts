import { afterAll, describe, expect, it } from 'vitest';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/**
 * `npm run build:browser` into a temporary directory (so it never races the e2e
 * test serving dist/browser): the size budget, the printed report, and a bundle
 * that exports exactly what src/index.ts does.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const BUDGET_JS = 100 * 1024;
const BUDGET_WASM = 150 * 1024;

describe('browser build', () => {
  const out = mkdtempSync(join(tmpdir(), 'mnv2-browser-'));
  afterAll(() => rmSync(out, { recursive: true, force: true }));
  let printed = '';

  it('builds dist/browser/mnv2.min.js + mnv2.wasm and prints their sizes', () => {
    printed = execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-browser.mjs'), '--outdir', out], { encoding: 'utf8' });
    console.log(`[browser build]\n${printed.trim()}`);
    expect(printed).toMatch(/mnv2\.min\.js\s+[\d.]+ KB \(gzip\s+[\d.]+ KB\)/);
    expect(printed).toMatch(/mnv2\.wasm\s+[\d.]+ KB \(gzip\s+[\d.]+ KB\)/);
    expect(printed).toMatch(/mnv2-relaxed\.wasm\s+[\d.]+ KB \(gzip\s+[\d.]+ KB\)/);
  }, 60_000);

  it(`keeps the runtime JS <= ${BUDGET_JS / 1024} KB minified and the wasm <= ${BUDGET_WASM / 1024} KB`, () => {
    const js = statSync(join(out, 'mnv2.min.js')).size;
    const wasm = statSync(join(out, 'mnv2.wasm')).size;
    expect(js).toBeGreaterThan(10_000);
    expect(js).toBeLessThanOrEqual(BUDGET_JS);
    expect(wasm).toBeLessThanOrEqual(BUDGET_WASM);
    expect(readFileSync(join(out, 'mnv2.wasm')).equals(readFileSync(join(ROOT, 'build', 'mnv2.wasm')))).toBe(true);
    const relaxed = statSync(join(out, 'mnv2-relaxed.wasm')).size;
    expect(relaxed).toBeLessThanOrEqual(BUDGET_WASM);
    expect(readFileSync(join(out, 'mnv2-relaxed.wasm')).equals(readFileSync(join(ROOT, 'build', 'mnv2-relaxed.wasm')))).toBe(true);
  });

  it('the bundle exports every runtime export of src/index.ts', async () => {
    const bundle = await import(pathToFileURL(join(out, 'mnv2.min.js')).href);
    const source = await import('../../src/index.js');
    expect(Object.keys(bundle).sort()).toEqual(Object.keys(source).sort());
    expect(typeof bundle.compileMobileNetV2).toBe('function');
  });

  it('fails, naming the budget, when a file is over it', () => {
    // The script's own check, with the JS budget tightened to 10 KB: it must exit non-zero.
    let err: { status?: number; stdout?: string; stderr?: string } = {};
    try {
      execFileSync(process.execPath, [join(ROOT, 'scripts', 'build-browser.mjs'), '--outdir', out], {
        encoding: 'utf8',
        env: { ...process.env, MNV2_BUDGET_JS: '10240' },
        stdio: 'pipe',
      });
    } catch (e) {
      err = e as typeof err;
    }
    expect(err.status).toBe(1);
    expect(err.stdout).toContain('OVER BUDGET');
    expect(err.stderr).toMatch(/over the size budget: .*mnv2\.min\.js/);
  }, 60_000);
});
