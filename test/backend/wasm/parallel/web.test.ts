import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createServer, type Server } from 'node:http';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { extname, join, normalize, sep } from 'node:path';
import type { AddressInfo } from 'node:net';
import { CHROMIUM, launchChromium } from '../../../browser/harness.js';
import { trainKernels } from '../train/helpers.js';
import { workerScript } from './helpers.js';

/**
 * The Web Worker transport in Chromium, on the compiled dist/ served as ES modules from a
 * cross-origin isolated page (COOP/COEP headers, so SharedArrayBuffer exists): 2-worker
 * inference equals the single-thread plan, a 2-worker training step equals the single-thread
 * executor's (logits, every gradient, BN running statistics), and two Adam steps with the
 * executor's kernel (features updates queued for a worker) equal createWasmAdamKernel's.
 */
const ROOT = normalize(join(import.meta.dirname, '..', '..', '..', '..') + sep);
const TYPES: Record<string, string> = { '.js': 'text/javascript', '.wasm': 'application/wasm', '.html': 'text/html' };

workerScript(); // dist up to date
trainKernels(); // build/mnv2.wasm up to date

describe('parallel/web.ts (module Web Workers) in Chromium', () => {
  let server: Server;
  let origin: string;
  let browser: Awaited<ReturnType<typeof launchChromium>>;

  beforeAll(async () => {
    if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} not found: install Debian's chromium (apt-get install -y chromium)`);
    server = createServer(async (req, res) => {
      const headers = { 'cross-origin-opener-policy': 'same-origin', 'cross-origin-embedder-policy': 'require-corp', 'cache-control': 'no-store' };
      const path = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
      if (path === '/') {
        res.writeHead(200, { ...headers, 'content-type': 'text/html' }).end('<!doctype html><title>parallel</title>');
        return;
      }
      const file = normalize(join(ROOT, path));
      if (!file.startsWith(ROOT) || !/^\/(dist|build)\//.test(path)) {
        res.writeHead(404).end();
        return;
      }
      try {
        res.writeHead(200, { ...headers, 'content-type': TYPES[extname(file)] ?? 'application/octet-stream' }).end(await readFile(file));
      } catch {
        res.writeHead(404).end();
      }
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    browser = await launchChromium();
  }, 60_000);

  afterAll(async () => {
    await browser?.close();
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  });

  it('inference and a training step on 2 workers equal one thread', async () => {
    const page = await browser.context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(`${origin}/`);
    const r = (await page.evaluate(`(async () => {
      const { MobileNetV2 } = await import('/dist/src/models/mobilenetv2.js');
      const { Tensor } = await import('/dist/src/tensor/tensor.js');
      const { Rng } = await import('/dist/src/tensor/rng.js');
      const { crossEntropy } = await import('/dist/src/ops/cross_entropy.js');
      const { loadWasmKernelsSync } = await import('/dist/src/backend/wasm/kernels.js');
      const { createWasmExecutor } = await import('/dist/src/backend/wasm/executor.js');
      const { compileMobileNetV2 } = await import('/dist/src/backend/wasm/mobilenetv2.js');
      const web = await import('/dist/src/backend/wasm/parallel/web.js');
      const wasm = new Uint8Array(await (await fetch('/build/mnv2.wasm')).arrayBuffer());
      const rng = new Rng(3);
      const x = Tensor.zeros([4, 3, 48, 48]);
      for (let i = 0; i < x.data.length; i++) x.data[i] = rng.normal();
      const config = { numClasses: 5, alpha: 0.35 };
      const make = () => new MobileNetV2({ ...config, rng: new Rng(1) }).train();

      const ref = make();
      const plan = compileMobileNetV2(loadWasmKernelsSync(wasm), ref.stateDict(), config);
      const inf = await web.createParallelInference(ref.stateDict(), config, { wasm, threads: 2 });
      const y1 = plan.forward(x).data;
      const y2 = (await inf.forward(x)).data;
      let inferenceMaxDiff = 0;
      for (let i = 0; i < y1.length; i++) inferenceMaxDiff = Math.max(inferenceMaxDiff, Math.abs(y1[i] - y2[i]));
      await inf.close();

      const mask = Tensor.from(Array.from({ length: 4 * 448 }, (_, i) => (i % 5 === 0 ? 0 : 1.25)), [4, 448]);
      const target = [0, 3, 1, 4];
      const exec = createWasmExecutor(loadWasmKernelsSync(wasm), ref);
      ref.classifier.at(0).setNextMask(mask);
      const l1 = exec.forward(x);
      exec.backward(crossEntropy(l1, target).grad);
      const par = make();
      const pe = await web.createParallelExecutor(par, { wasm, threads: 2 });
      par.classifier.at(0).setNextMask(mask);
      const l2 = await pe.forward(x);
      await pe.backward(crossEntropy(l2, target).grad);

      // Two Adam steps on these gradients with the executor's kernel (the second one queues the
      // features updates for a worker), then again from the same weights on the main thread.
      const { Adam } = await import('/dist/src/optim/adam.js');
      const { createWasmAdamKernel } = await import('/dist/src/backend/wasm/optim.js');
      const params = par.parameters();
      const start = params.map((p) => p.data.data.slice());
      const adamSteps = (kernelOf) => {
        params.forEach((p, i) => p.data.data.set(start[i]));
        const opt = new Adam(params, { lr: 1e-3 });
        opt.kernel = kernelOf(opt);
        opt.step();
        opt.step();
        return params.map((p) => Array.from(p.data.data));
      };
      const onWorkers = adamSteps((opt) => pe.adamKernel(opt));
      const onMain = adamSteps(() => createWasmAdamKernel(loadWasmKernelsSync(wasm)));
      const adamSame = JSON.stringify(onWorkers) === JSON.stringify(onMain) && onWorkers.some((w, i) => w.some((v, j) => v !== start[i][j]));
      await pe.close();

      // Worst error / tolerance ratio over logits, gradients and BN buffers.
      let worst = 0, compared = 0;
      const check = (a, b, grad) => {
        let err = 0, m = 0;
        for (let i = 0; i < a.length; i++) { err = Math.max(err, Math.abs(a[i] - b[i])); m = Math.max(m, Math.abs(b[i])); }
        const bound = grad && m < 1 ? 1e-4 * m + 1e-7 : 1e-4 * Math.max(1, m);
        worst = Math.max(worst, Number.isNaN(err) ? Infinity : err / bound);
        compared++;
      };
      check(l2.data, l1.data, false);
      const refParams = new Map(ref.namedParameters());
      for (const [k, p] of par.namedParameters()) if (p.grad) check(p.grad.data, refParams.get(k).grad.data, true);
      const refState = ref.stateDict();
      for (const [k, t] of par.stateDict()) if (k.includes('running_')) check(t.data, refState.get(k).data, false);
      return { isolated: crossOriginIsolated, inferenceMaxDiff, worst, compared, adamSame };
    })()`)) as { isolated: boolean; inferenceMaxDiff: number; worst: number; compared: number; adamSame: boolean };
    expect(errors).toEqual([]);
    expect(r.isolated).toBe(true);
    expect(r.inferenceMaxDiff).toBe(0);
    // 158 gradients + logits + 104 running_mean/var buffers.
    expect(r.compared).toBe(1 + 158 + 104);
    expect(r.worst).toBeLessThanOrEqual(1);
    expect(r.adamSame, 'Adam with the executor kernel equals createWasmAdamKernel, bit for bit').toBe(true);
  }, 120_000);
});
