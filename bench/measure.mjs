// One tinybench Bench per cell, so every cell gets its own time budget and iteration floor.
import { Bench } from 'tinybench';

/**
 * Median milliseconds per call of `fn` (sync or async). `time` is the budget in ms; at least
 * `iterations` timed calls run even past it, after `warmup` untimed calls (0 = none).
 * `async` says that `fn` returns a promise; tinybench then awaits each call inside the timing
 * (without it, its own detection call may overlap the first timed one).
 */
export async function measure(name, fn, { time = 2000, iterations = 3, warmup = 1, async = false } = {}) {
  const bench = new Bench({
    name,
    time,
    iterations,
    warmup: warmup > 0,
    warmupIterations: warmup,
    warmupTime: 0,
    throws: true,
  });
  bench.add(name, fn, { async });
  await bench.run();
  const r = bench.tasks[0].result;
  if (r.state !== 'completed') throw new Error(`${name}: benchmark ${r.state}${r.error ? `: ${r.error.message}` : ''}`);
  return r.latency.p50;
}

/** The median of a list of numbers (the mean of the middle two for an even count). */
export function median(values) {
  const s = [...values].sort((a, b) => a - b);
  const h = s.length >> 1;
  return s.length % 2 ? s[h] : (s[h - 1] + s[h]) / 2;
}
