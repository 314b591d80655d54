import { describe, expect, test } from 'vitest';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Tensor } from '../../src/tensor/tensor.js';
import { fixturePath } from '../helpers/fixtures.js';
import { countParameters, inferMobileNetV2Config } from '../../src/cli/config.js';
import { runCli, tempDir } from './run_cli.js';

// arch.json was written by PyTorch: keys, shapes and parameter counts for six alphas.
const arch = JSON.parse(readFileSync(fixturePath('arch.json'), 'utf8')) as Record<
  string,
  { params: number; state_dict: [string, number[], string][] }
>;

function syntheticStateDict(alpha: string, numClasses?: number): Map<string, Tensor> {
  const sd = new Map<string, Tensor>();
  for (const [k, shape, dtype] of arch[alpha].state_dict) {
    const s = numClasses !== undefined && k.startsWith('classifier.1.') ? [numClasses, ...shape.slice(1)] : shape;
    sd.set(k, dtype === 'int64' ? new Tensor(new BigInt64Array(1), s) : Tensor.zeros(s));
  }
  return sd;
}

describe('inferMobileNetV2Config', () => {
  test.each(Object.keys(arch))('alpha %s: recovers alpha, num_classes and PyTorch parameter count', (alpha) => {
    const sd = syntheticStateDict(alpha);
    expect(inferMobileNetV2Config(sd)).toEqual({ alpha: Number(alpha), numClasses: 1000 });
    expect(countParameters(sd)).toBe(arch[alpha].params);
  });

  test('num_classes comes from the classifier', () => {
    expect(inferMobileNetV2Config(syntheticStateDict('0.75', 7))).toEqual({ alpha: 0.75, numClasses: 7 });
  });

  test('--alpha is checked against the shapes', () => {
    const sd = syntheticStateDict('1.0');
    expect(inferMobileNetV2Config(sd, { alpha: 1.0 }).alpha).toBe(1.0);
    expect(() => inferMobileNetV2Config(sd, { alpha: 0.5, name: 'w.pth' })).toThrow(/w\.pth: .*alpha 0\.5.*features\.0\.0\.weight/);
  });

  test('non-MobileNetV2 state dicts are named in the error', () => {
    const sd = syntheticStateDict('1.0');
    sd.delete('classifier.1.weight');
    expect(() => inferMobileNetV2Config(sd, { name: 'x.pth' })).toThrow(/x\.pth: not a MobileNetV2 state_dict \(classifier\.1\.weight is missing\)/);
    const odd = syntheticStateDict('1.0');
    odd.set('features.0.0.weight', Tensor.zeros([20, 3, 3, 3]));
    expect(() => inferMobileNetV2Config(odd, { name: 'y.pth' })).toThrow(/y\.pth: cannot infer alpha.*--alpha/);
  });
});

describe('mnv2 info', () => {
  test('small_checkpoint.pth: alpha 0.35, 5 classes, checkpoint entries', async () => {
    const path = fixturePath('small_checkpoint.pth');
    const r = await runCli('info', path);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/alpha 0\.35, 5 classes/);
    expect(r.out).toMatch(/^\s+epoch\s+3$/m);
    expect(r.out).toMatch(/^\s+best_acc\s+0\.875$/m);
    expect(r.out).toContain('"daisy","dandelion","rose","sunflower","tulip"');
    expect(r.out).toMatch(/^features\.0\.1\.num_batches_tracked\s+\[\]\s+int64$/m);

    const j = await runCli('info', '--json', path);
    const info = JSON.parse(j.out);
    expect(info).toMatchObject({ alpha: 0.35, numClasses: 5, format: 'zip', extra: { epoch: 3, best_acc: 0.875 } });
    expect(info.extra.classes).toEqual(['daisy', 'dandelion', 'rose', 'sunflower', 'tulip']);
    expect(info.numTensors).toBe(info.tensors.length);
    expect(info.tensors[0]).toEqual({ key: 'features.0.0.weight', shape: [16, 3, 3, 3], dtype: 'float32' });
  });

  test('mobilenet_v2_imagenet.pth: 3,504,872 parameters, alpha 1.0, 1000 classes', async () => {
    const r = await runCli('info', fixturePath('mobilenet_v2_imagenet.pth'));
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/^parameters:\s+3,504,872$/m);
    expect(r.out).toMatch(/alpha 1\.0, 1000 classes/);
    expect(r.out).toMatch(/^classifier\.1\.weight\s+\[1000, 1280\]\s+float32$/m);
    expect(r.out).not.toContain('checkpoint entries');
  });

  test('original dtypes: float16 .pth and safetensors', async () => {
    const fp16 = JSON.parse((await runCli('info', '--json', fixturePath('small_fp16.pth'))).out);
    expect(fp16.tensors.find((t: { key: string }) => t.key === 'features.0.0.weight').dtype).toBe('float16');
    const st = JSON.parse((await runCli('info', '--json', fixturePath('small.safetensors'))).out);
    expect(st.format).toBe('safetensors');
    expect(st).toMatchObject({ alpha: 0.35, numClasses: 5 });
    expect(st.tensors.find((t: { key: string }) => t.key === 'features.0.0.weight').dtype).toBe('F32');
  });

  test('a corrupt or missing weights file: one error line naming it, exit 1', async () => {
    const dir = tempDir();
    const bad = join(dir, 'garbage.safetensors');
    writeFileSync(bad, Uint8Array.from({ length: 1000 }, (_, i) => (i * 97 + 13) & 255));
    const r = await runCli('info', bad);
    expect(r.code).toBe(1);
    expect(r.out).toBe('');
    expect(r.err.trim().split('\n')).toHaveLength(1);
    expect(r.err).toContain(bad);
    const m = await runCli('info', join(dir, 'none.pth'));
    expect(m.code).toBe(1);
    expect(m.err).toMatch(/none\.pth: .*no such file/);
  });
});

describe('mnv2 help and version', () => {
  test('--help, predict --help, --version exit 0', async () => {
    const h = await runCli('--help');
    expect(h.code).toBe(0);
    expect(h.out).toMatch(/predict/);
    expect(h.out).toMatch(/info/);
    const p = await runCli('predict', '--help');
    expect(p.code).toBe(0);
    expect(p.out).toContain('--backend');
    expect(p.out).toContain('--topk');
    const v = await runCli('--version');
    expect(v.code).toBe(0);
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8'));
    expect(v.out.trim()).toBe(pkg.version);
  });

  test('no command or an unknown one is a usage error', async () => {
    expect((await runCli()).code).toBe(1);
    const u = await runCli('frobnicate');
    expect(u.code).toBe(1);
    expect(u.err).toContain('frobnicate');
  });
});
