import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext, Page } from 'playwright-core';
import { fixturePath } from '../helpers/fixtures.js';
import { CHROMIUM, launchChromium, serveStatic, type StaticServer } from './harness.js';

/**
 * The demo page and the browser examples in real Chromium, served as plain
 * static files from the repository root (so ../../fixtures and ../../dist resolve).
 * Needs `npm run build` (dist/browser) and Debian's chromium at /usr/bin/chromium.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test-output');
const PARROT = fixturePath('images', 'imagenet-samples', 'parrot.jpg');

describe('browser runtime (Chromium)', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;
  let context: BrowserContext;

  beforeAll(async () => {
    for (const f of ['dist/browser/mnv2.min.js', 'dist/browser/mnv2.wasm']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
    }
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
    mkdirSync(OUT, { recursive: true });
    server = await serveStatic(ROOT);
    browser = await launchChromium();
    context = browser.context;
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  /** A page that fails the test on any uncaught error or console error. */
  async function open(path: string): Promise<{ page: Page; errors: string[] }> {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(`${server.origin}/${path}`);
    return { page, errors };
  }

  it('demo: parrot.jpg through the file input is a macaw, classified on WASM in a worker', async () => {
    const { page, errors } = await open('examples/web/index.html');
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
    expect(await page.textContent('#status')).not.toMatch(/^Error/);
    expect(await page.getAttribute('body', 'data-backend')).toBe('wasm');
    expect(await page.textContent('#backend')).toContain('WASM');

    await page.setInputFiles('#file', PARROT);
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 60_000 });
    expect(await page.textContent('#status')).toMatch(/^Done/);

    const rows = await page.$$eval('#top5 li', (lis) =>
      lis.map((li) => ({ label: li.querySelector('.label')!.textContent, width: (li.querySelector('.bar > div') as HTMLElement).style.width })),
    );
    expect(rows).toHaveLength(5);
    expect(rows[0].label).toBe('macaw');
    // Bars are drawn from the probabilities, largest first.
    const widths = rows.map((r) => parseFloat(r.width));
    expect(widths[0]).toBeGreaterThan(50);
    expect([...widths].sort((a, b) => b - a)).toEqual(widths);
    expect(await page.textContent('#timing')).toContain('on WASM');

    const ms = Number(await page.getAttribute('#timing', 'data-inference-ms'));
    expect(ms).toBeGreaterThan(0);
    console.log(`[browser] demo: top-1 ${rows[0].label} ${rows[0].width}, WASM inference ${ms.toFixed(1)} ms for one 224x224 image (Chromium, worker)`);
    await page.screenshot({ path: join(OUT, 'demo-parrot.png'), fullPage: true });
    expect(errors).toEqual([]);
    await page.close();
  }, 120_000);

  // The fallback for browsers without WebAssembly SIMD: the reference engine, forced with ?backend=js.
  it('demo with ?backend=js runs the JS engine and also finds the macaw', async () => {
    const { page, errors } = await open('examples/web/index.html?backend=js');
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-backend')).toBe('js');
    await page.setInputFiles('#file', PARROT);
    await page.waitForSelector('#status[data-state="done"], #status[data-state="error"]', { timeout: 90_000 });
    expect(await page.getAttribute('body', 'data-top1')).toBe('macaw');
    expect(await page.textContent('#timing')).toContain('on JS');
    console.log(`[browser] demo on the JS backend: inference ${await page.getAttribute('#timing', 'data-inference-ms')} ms`);
    expect(errors).toEqual([]);
    await page.close();
  }, 180_000);

  // The docs/API.md browser examples: a module script on the page and a module worker.
  for (const example of ['script.html', 'worker.html']) {
    it(`examples/browser/${example} classifies parrot.jpg as macaw`, async () => {
      const { page, errors } = await open(`examples/browser/${example}`);
      await page.waitForFunction(() => document.body.dataset.top1 || /error/.test(document.getElementById('out')!.textContent!), null, {
        timeout: 60_000,
      });
      const out = await page.textContent('#out');
      expect(await page.getAttribute('body', 'data-top1'), out!).toBe('macaw');
      expect(out!.split('\n')[0]).toMatch(/^\s*9\d\.\d\d%  macaw$/);
      expect(errors).toEqual([]);
      await page.close();
    }, 90_000);
  }
});
