import { describe, expect, it } from 'vitest';
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';

/** docs/API.md points at files that exist and that the tests run, and its embed snippet stays README-sized. */
const ROOT = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs', 'API.md'), 'utf8');

describe('docs/API.md', () => {
  it('every relative link resolves to a file in the repository', () => {
    const links = [...doc.matchAll(/\]\((\.\.\/[^)#\s]+)\)/g)].map((m) => m[1]);
    expect(links.length).toBeGreaterThan(5);
    const missing = links.filter((l) => !existsSync(join(ROOT, 'docs', l)));
    expect(missing).toEqual([]);
  });

  it('links every example that test/runtime/examples.test.ts and test/browser/e2e.test.ts run', () => {
    for (const f of ['examples/node/predict.mjs', 'examples/node/finetune.mjs', 'examples/browser/script.html', 'examples/browser/worker.mjs', 'examples/web/']) {
      expect(doc, f).toContain(`(../${f})`);
    }
  });

  it('opens with an "Embed in a page" snippet of fewer than 10 lines', () => {
    const section = doc.split('\n## ')[1];
    expect(section.startsWith('Embed in a page')).toBe(true);
    const snippet = /```html\n([\s\S]*?)```/.exec(section)![1].trimEnd().split('\n');
    expect(snippet.length).toBeLessThan(10);
    expect(snippet[0]).toBe('<script type="module">');
  });
});
