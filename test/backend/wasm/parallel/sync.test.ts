import { describe, expect, it } from 'vitest';
import { Worker } from 'node:worker_threads';
import { pathToFileURL } from 'node:url';
import { join } from 'node:path';
import { createReducerBuffers, resetReducer, type ReducerBuffers } from '../../../../src/backend/wasm/parallel/sync.js';
import { workerScript } from './helpers.js';

// Worker threads run dist's JS; the compiled sync.js sits next to the worker script.
const syncUrl = pathToFileURL(join(workerScript(), '..', 'sync.js')).href;

/** Runs `body` (JS source; `r` is the rank's Reducer, `rank` its rank) on one worker per rank. */
function runRanks(b: ReducerBuffers, ranks: number, body: string): Promise<unknown[]> {
  const src = `
    const { workerData, parentPort } = require('node:worker_threads');
    import(${JSON.stringify(syncUrl)}).then(async ({ Reducer, WorkerAborted }) => {
      const { b, rank } = workerData;
      const r = new Reducer(b, rank);
      try { parentPort.postMessage(await (async () => { ${body} })()); }
      catch (e) { parentPort.postMessage({ error: e.message, aborted: e instanceof WorkerAborted }); }
    });`;
  return Promise.all(
    Array.from({ length: ranks }, (_, rank) => {
      const w = new Worker(src, { eval: true, workerData: { b, rank } });
      return new Promise((resolve, reject) => {
        w.once('message', (m) => {
          resolve(m);
          void w.terminate();
        });
        w.once('error', reject);
      });
    }),
  );
}

describe('Reducer (SharedArrayBuffer all-reduce with an Atomics barrier)', () => {
  it('sums every call over the ranks of the step, identically on all of them, across many calls', async () => {
    const b = createReducerBuffers(3, 8);
    resetReducer(b, 3);
    // Each rank contributes (rank + 1) * 10^call + 0.1 * i; 50 calls alternate the two banks.
    const results = await runRanks(b, 3, `
      const out = [];
      for (let call = 0; call < 50; call++) {
        const v = new Float64Array(5 + (call % 3));
        for (let i = 0; i < v.length; i++) v[i] = (rank + 1) * (call + 1) + 0.1 * i;
        r.allReduce(v);
        out.push(Array.from(v));
      }
      return out;`);
    const expected = Array.from({ length: 50 }, (_, call) => Array.from({ length: 5 + (call % 3) }, (_, i) => 6 * (call + 1) + 0.3 * i));
    for (const r of results) expect(r).toEqual(results[0]);
    const got = results[0] as number[][];
    got.forEach((row, call) => row.forEach((v, i) => expect(v).toBeCloseTo(expected[call][i], 12)));
  });

  it('a step with fewer parties than workers reduces over those only; one party is the identity', async () => {
    const b = createReducerBuffers(3, 4);
    resetReducer(b, 2);
    const two = await runRanks(b, 2, `const v = Float64Array.of(rank + 1, 10); r.allReduce(v); return Array.from(v);`);
    expect(two).toEqual([[3, 20], [3, 20]]);
    resetReducer(b, 1);
    const one = await runRanks(b, 1, `const v = Float64Array.of(7, 8); r.allReduce(v); return Array.from(v);`);
    expect(one).toEqual([[7, 8]]);
  });

  it('a failing worker aborts: the others waiting at the barrier throw instead of hanging', async () => {
    const b = createReducerBuffers(2, 4);
    resetReducer(b, 2);
    const results = await runRanks(b, 2, `
      if (rank === 0) { await new Promise((s) => setTimeout(s, 100)); r.abort(); return 'aborted the others'; }
      r.allReduce(new Float64Array(2));
      return 'not reached';`);
    expect(results[0]).toBe('aborted the others');
    expect(results[1]).toEqual({ error: 'allReduce: another worker failed', aborted: true });
  });

  it('refuses more values than the buffers hold', async () => {
    const b = createReducerBuffers(2, 4);
    resetReducer(b, 2);
    const results = await runRanks(b, 1, `r.allReduce(new Float64Array(5)); return 'not reached';`);
    expect(results[0]).toEqual({ error: 'allReduce: 5 values, the buffers hold 4', aborted: false });
  });
});
