/** Node-only: where the package's bundled files live, whatever the cwd. */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

let cachedRoot: string | undefined;

/**
 * The nearest folder above this file holding a package.json: the repo root when run
 * from src/cli (vitest) and the installed package root when run from dist/src/cli.
 */
export function packageRoot(): string {
  if (cachedRoot) return cachedRoot;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return (cachedRoot = dir);
    const up = dirname(dir);
    if (up === dir) throw new Error(`mnv2: cannot find the package root (no package.json above ${fileURLToPath(import.meta.url)})`);
    dir = up;
  }
}

export function defaultWeightsPath(): string {
  return join(packageRoot(), 'fixtures', 'mobilenet_v2_imagenet.pth');
}

export function defaultLabelsPath(): string {
  return join(packageRoot(), 'fixtures', 'imagenet_labels.json');
}
