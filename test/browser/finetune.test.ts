import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { fixturePath } from '../helpers/fixtures.js';
import { CHROMIUM, launchChromium, serveStatic, type StaticServer } from './harness.js';

/**
 * The demo's "Fine-tune on flowers" panel in real Chromium: features of the
 * bundled flower photos from the WASM backbone, a fresh Linear(1280, 5) head
 * trained with Adam in the worker, a live loss curve, then a holdout photo.
 * Needs `npm run build` (dist/browser) and Debian's chromium at /usr/bin/chromium.
 */
const ROOT = join(import.meta.dirname, '..', '..');
const OUT = join(ROOT, 'test-output');
const HOLDOUT = fixturePath('flowers-holdout');

describe('demo fine-tuning (Chromium)', () => {
  let server: StaticServer;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    for (const f of ['dist/browser/mnv2.min.js', 'dist/browser/mnv2.wasm']) {
      if (!existsSync(join(ROOT, f))) throw new Error(`${f} is missing: run \`npm run build\` first`);
    }
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
    mkdirSync(OUT, { recursive: true });
    server = await serveStatic(ROOT);
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await server?.close();
  });

  it('trains a flower head on the bundled photos with a falling loss curve, then calls the holdout sunflower a sunflower', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(`console: ${m.text()}`);
    });
    await page.goto(`${server.origin}/examples/web/index.html`);
    await page.waitForSelector('#status[data-state="ready"], #status[data-state="error"]', { timeout: 60_000 });
    expect(await page.getAttribute('body', 'data-backend')).toBe('wasm');
    expect(await page.isDisabled('#ft-file')).toBe(true);

    await page.click('#ft-start');
    // The curve is drawn while training runs, not only at the end.
    await page.waitForFunction(() => Number(document.getElementById('ft-loss')!.dataset.points ?? 0) > 0, null, { timeout: 120_000 });
    await page.waitForSelector('#ft-status[data-state="trained"], #ft-status[data-state="error"]', { timeout: 120_000 });
    const status = (await page.textContent('#ft-status'))!;
    expect(status).toMatch(/^Trained/);

    const curve = await page.$eval('#ft-loss', (c) => ({ ...(c as HTMLCanvasElement).dataset }));
    const points = Number(curve.points);
    const first = Number(curve.firstLoss);
    const last = Number(curve.lastLoss);
    expect(points).toBeGreaterThanOrEqual(10);
    // A fresh 5-way head starts near ln 5 and must at least halve its loss.
    expect(first).toBeGreaterThan(1);
    expect(last).toBeLessThan(first / 2);
    expect(Number(await page.getAttribute('#ft-status', 'data-final-loss'))).toBe(last);
    // The canvas holds a drawn curve, not a blank rectangle.
    const inked = await page.$eval('#ft-loss', (c) => {
      const cv = c as HTMLCanvasElement;
      const px = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let green = 0;
      for (let i = 0; i < px.length; i += 4) if (px[i + 3] > 0 && px[i + 1] > px[i] + 40 && px[i + 1] > px[i + 2] + 40) green++;
      return green;
    });
    expect(inked).toBeGreaterThan(100);

    const sunflower = readdirSync(HOLDOUT).find((f) => f.startsWith('sunflower_') && f.endsWith('.jpg'));
    expect(sunflower).toBeDefined();
    await page.setInputFiles('#ft-file', join(HOLDOUT, sunflower!));
    await page.waitForSelector('#ft-status[data-state="classified"], #ft-status[data-state="error"]', { timeout: 60_000 });
    const ranked = await page.$$eval('#ft-probs li', (lis) =>
      lis.map((li) => ({ label: li.querySelector('.label')!.textContent, width: parseFloat((li.querySelector('.bar > div') as HTMLElement).style.width) })),
    );
    expect(ranked.map((r) => r.label).sort()).toEqual(['daisy', 'dandelion', 'rose', 'sunflower', 'tulip']);
    expect(ranked[0].label).toBe('sunflower');
    expect(await page.getAttribute('body', 'data-flower')).toBe('sunflower');
    expect(ranked.reduce((s, r) => s + r.width, 0)).toBeCloseTo(100, 0);

    console.log(
      `[browser] fine-tune: ${status.replace(/ Pick a flower photo\.$/, '')} ` +
        `curve ${points} points, loss ${first.toFixed(4)} -> ${last.toFixed(4)}; holdout ${sunflower}: ` +
        ranked.map((r) => `${r.label} ${r.width.toFixed(1)}%`).join(', '),
    );
    await page.screenshot({ path: join(OUT, 'finetune.png'), fullPage: true });

    // The other holdout photo, so a head stuck on one class cannot pass.
    const daisy = readdirSync(HOLDOUT).find((f) => f.startsWith('daisy_') && f.endsWith('.jpg'));
    expect(daisy).toBeDefined();
    await page.setInputFiles('#ft-file', join(HOLDOUT, daisy!));
    // The change handler has set the status to busy by the time setInputFiles returns.
    await page.waitForSelector('#ft-status[data-state="classified"], #ft-status[data-state="error"]', { timeout: 60_000 });
    const daisyTop = await page.getAttribute('body', 'data-flower');
    const daisyProbs = (await page.$$eval('#ft-probs li .name', (ns) => ns.map((n) => `${n.children[0].textContent} ${n.children[1].textContent}`))).join(', ');
    console.log(`[browser] fine-tune: holdout ${daisy}: ${daisyProbs}`);
    expect(daisyTop).toBe('daisy');
    expect(errors).toEqual([]);
    await page.close();
  }, 300_000);
});
