import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// A smoke run of `npm run bench -- --quick --json`: the harness and every peer load and
// produce numbers. Speed is never asserted: the machine is shared and timings vary.
const root = fileURLToPath(new URL('../..', import.meta.url));
const dir = mkdtempSync(join(tmpdir(), 'mnv2-bench-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const INFER_CELLS = ['js', 'wasm', 'wasm_simd128', 'wasm_mt', 'ort_node', 'ort_web', 'tfjs_wasm', 'tfjs_cpu'];

describe('bench/run.mjs --quick', () => {
  it('writes results.json with the documented keys and finite numbers for the cells it measured', () => {
    const out = join(dir, 'results.json');
    const run = spawnSync(process.execPath, ['bench/run.mjs', '--quick', '--json', '--out', out], { cwd: root, encoding: 'utf8', timeout: 90_000 });
    expect(run.status, `bench failed:\n${run.stdout}\n${run.stderr}`).toBe(0);
    expect(run.stdout).toContain('ms per batch (median)');
    const r = JSON.parse(readFileSync(out, 'utf8'));
    for (const key of ['infer_b1_224', 'infer_b8_224', 'train_b8_224', 'train_frozen_b8_224', 'kernels', 'ratios', 'meta']) {
      expect(r, key).toHaveProperty(key);
    }
    // Every inference cell is either a positive time or null with a stated reason.
    for (const cell of INFER_CELLS) {
      const v = r.infer_b1_224[cell];
      if (v === null) expect(r.notes.infer_b1_224[cell], cell).toMatch(/\S/);
      else {
        expect(Number.isFinite(v) && v > 0, `${cell}: ${v}`).toBe(true);
        expect(r.agreement[cell], cell).toBeLessThan(1e-3);
      }
    }
    // Ours and the always-available peers must have measured, not fallen back to a note.
    for (const cell of ['js', 'wasm', 'wasm_simd128', 'ort_node', 'ort_web', 'tfjs_wasm', 'tfjs_cpu']) {
      expect(Number.isFinite(r.infer_b1_224[cell]), `${cell}: ${JSON.stringify(r.notes.infer_b1_224?.[cell])}`).toBe(true);
      // Same network and weights: each peer's logits match ours to float32 rounding.
      expect(r.agreement[cell], cell).toBeLessThan(1e-3);
    }
    for (const kernels of [r.kernels, r.kernels_simd128]) {
      for (const group of ['gemm', 'depthwise', 'conv3x3c3']) {
        const values = Object.values(kernels[group]) as number[];
        expect(values.length, group).toBeGreaterThan(0);
        for (const g of values) expect(Number.isFinite(g) && g > 0, `${group}: ${g}`).toBe(true);
      }
    }
    // The wasm cells name the kernel build they ran.
    expect(r.meta.wasm_kernels).toEqual({ wasm: expect.stringMatching(/^(relaxed-simd|simd128)$/), wasm_simd128: 'simd128' });
    for (const v of Object.values(r.ratios.infer_b1_224) as number[]) expect(Number.isFinite(v) && v > 0).toBe(true);
    expect(r.ratios.infer_b1_224).toHaveProperty('wasm/ort_node');
    expect(r.meta).toMatchObject({ cores: expect.any(Number), node: process.version, quick: true });
    expect(typeof r.meta.commit).toBe('string');
  }, 120_000);
});
