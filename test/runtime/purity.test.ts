import { describe, expect, it } from 'vitest';
import { build, type Plugin } from 'esbuild';
import { join, relative } from 'node:path';

/**
 * The runtime entry must bundle for the browser with nothing but its own files:
 * every import that is not relative (a package, `node:fs`, `fs`, ...) is recorded
 * by the plugin and listed in the failure.
 */
const ROOT = join(import.meta.dirname, '..', '..');

async function nonRelativeImports(entry: string): Promise<string[]> {
  const found: string[] = [];
  const recorder: Plugin = {
    name: 'record-non-relative',
    setup(b) {
      b.onResolve({ filter: /^[^./]/ }, (args) => {
        found.push(`'${args.path}' from ${relative(ROOT, args.importer)}`);
        return { path: args.path, external: true };
      });
    },
  };
  await build({
    entryPoints: [join(ROOT, entry)],
    bundle: true,
    write: false,
    format: 'esm',
    platform: 'browser',
    logLevel: 'silent',
    plugins: [recorder],
  });
  return found;
}

describe('runtime entry purity', () => {
  it('src/index.ts bundles for the browser with no package and no Node built-in imports', async () => {
    const found = await nonRelativeImports('src/index.ts');
    expect(found, `src/index.ts reaches non-relative imports:\n${found.join('\n')}`).toEqual([]);
  });

  // The check above would pass vacuously if the recorder never fired; the Node entry must trip it.
  it('the same check flags the Node entry (src/node.ts), which uses node: built-ins and jimp', async () => {
    const found = await nonRelativeImports('src/node.ts');
    expect(found.some((f) => f.startsWith("'node:fs'"))).toBe(true);
    expect(found.some((f) => f.startsWith("'jimp'"))).toBe(true);
  });
});
