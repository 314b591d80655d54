/**
 * Node-only: batches of decoded, transformed images with seeded shuffling, decoding
 * prefetched on a worker_threads pool so the main thread (running the model) and
 * the decoders keep every core busy.
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { Tensor } from '../tensor/tensor.js';
import { Rng } from '../tensor/rng.js';
import type { Sample } from './folder.js';
import { WORKER_ROLE, loadSample, sampleSeed, type SampleTensor, type TransformSpec, type WorkerResponse } from './worker.js';

/**
 * The compiled worker script: next to this file when running from dist/, or dist's copy
 * when running from the TypeScript sources (vitest), since worker threads need plain JS.
 */
export function workerScriptPath(): string | undefined {
  const here = fileURLToPath(import.meta.url);
  const candidates = here.endsWith('.js')
    ? [fileURLToPath(new URL('./worker.js', import.meta.url))]
    : [fileURLToPath(new URL('../../dist/src/data/worker.js', import.meta.url))];
  return candidates.find((p) => existsSync(p));
}

/** The pool itself failed (a crashed worker, or closed): not a property of the image, so never skipped. */
export class DecodePoolError extends Error {}

interface Task {
  path: string;
  spec: TransformSpec;
  seed: number;
  resolve: (s: SampleTensor) => void;
  reject: (e: Error) => void;
}

/** A fixed set of decode workers sharing one FIFO queue. */
export class DecodePool {
  readonly size: number;
  private readonly workers: Worker[] = [];
  private readonly idle: Worker[] = [];
  private readonly queue: Task[] = [];
  private readonly running = new Map<number, Task>();
  private readonly owner = new Map<Worker, number>();
  private nextId = 0;
  private closed = false;

  /** `size` defaults to the number of cores. Throws when the compiled worker script is missing. */
  constructor(size = availableParallelism(), script = workerScriptPath()) {
    if (!script) throw new Error('decode worker script not found (dist/src/data/worker.js): run `npm run build`');
    if (!(Number.isInteger(size) && size > 0)) throw new Error(`DecodePool: size must be a positive integer, got ${size}`);
    this.size = size;
    for (let i = 0; i < size; i++) {
      const w = new Worker(script, { workerData: { role: WORKER_ROLE } });
      w.on('message', (m: WorkerResponse) => this.onMessage(w, m));
      w.on('error', (e) => this.onCrash(w, e));
      w.unref();
      this.workers.push(w);
      this.idle.push(w);
    }
  }

  run(path: string, spec: TransformSpec, seed: number): Promise<SampleTensor> {
    if (this.closed) return Promise.reject(new DecodePoolError('DecodePool: closed'));
    return new Promise((resolve, reject) => {
      this.queue.push({ path, spec, seed, resolve, reject });
      this.pump();
    });
  }

  private pump(): void {
    while (this.idle.length && this.queue.length) {
      const w = this.idle.pop()!;
      const t = this.queue.shift()!;
      const id = this.nextId++;
      this.running.set(id, t);
      this.owner.set(w, id);
      w.ref(); // a busy worker keeps the process alive until its answer arrives
      w.postMessage({ id, path: t.path, spec: t.spec, seed: t.seed });
    }
  }

  private onMessage(w: Worker, m: WorkerResponse): void {
    const t = this.running.get(m.id);
    this.running.delete(m.id);
    this.owner.delete(w);
    w.unref();
    this.idle.push(w);
    if (t) {
      if ('error' in m) t.reject(new Error(m.error));
      else t.resolve({ data: m.data, shape: m.shape });
    }
    this.pump();
  }

  private onCrash(w: Worker, e: Error): void {
    const id = this.owner.get(w);
    const t = id === undefined ? undefined : this.running.get(id);
    if (id !== undefined) this.running.delete(id);
    t?.reject(new DecodePoolError(`decode worker failed: ${e.message}`));
    for (const q of this.queue.splice(0)) q.reject(new DecodePoolError(`decode worker failed: ${e.message}`));
    void this.close();
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const q of this.queue.splice(0)) q.reject(new DecodePoolError('DecodePool: closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}

export interface Batch {
  /** [B, 3, S, S] */
  x: Tensor;
  labels: Int32Array;
  /** Positions of the batch's samples in the loader's sample list. */
  indices: number[];
}

export interface LoaderOptions {
  batchSize: number;
  transform: TransformSpec;
  shuffle?: boolean;
  /** Seeds the per-epoch order and the per-sample augmentation draws. */
  seed?: number;
  dropLast?: boolean;
  /** Decode workers; null (or absent) decodes on the main thread. */
  pool?: DecodePool | null;
  /** Batches decoded ahead of the one being consumed (default 2). */
  prefetchBatches?: number;
}

/**
 * Like torch's DataLoader over an ImageFolder. The order of epoch e is a shuffle seeded by
 * (seed, e), so it is the same on every run and after --resume, whatever the pool size.
 */
export class DataLoader {
  readonly samples: readonly Sample[];
  readonly opts: Required<Omit<LoaderOptions, 'pool'>> & { pool: DecodePool | null };
  /** Samples that failed to decode (path -> why), over every epoch this loader ran. */
  readonly skipped = new Map<string, string>();

  constructor(samples: readonly Sample[], opts: LoaderOptions) {
    if (!(Number.isInteger(opts.batchSize) && opts.batchSize > 0)) throw new Error(`DataLoader: batchSize must be a positive integer, got ${opts.batchSize}`);
    if (samples.length === 0) throw new Error('DataLoader: no samples');
    this.samples = samples;
    this.opts = { shuffle: false, seed: 0, dropLast: false, prefetchBatches: 2, ...opts, pool: opts.pool ?? null };
  }

  get numBatches(): number {
    const n = this.samples.length / this.opts.batchSize;
    return this.opts.dropLast ? Math.floor(n) : Math.ceil(n);
  }

  /** Sample positions in the order epoch `epoch` visits them. */
  order(epoch: number): number[] {
    const idx = Array.from(this.samples.keys());
    if (this.opts.shuffle) new Rng(sampleSeed(this.opts.seed, epoch, -1)).shuffle(idx);
    return idx;
  }

  private load(i: number, epoch: number): Promise<SampleTensor> {
    const { transform, seed, pool } = this.opts;
    const s = this.samples[i];
    const sSeed = sampleSeed(seed, epoch, i);
    return pool ? pool.run(s.path, transform, sSeed) : loadSample(s.path, transform, sSeed);
  }

  async *epoch(epoch = 0): AsyncGenerator<Batch> {
    const { batchSize, pool, prefetchBatches } = this.opts;
    const order = this.order(epoch).slice(0, this.numBatches * batchSize);
    const ahead = Math.max(batchSize * (1 + prefetchBatches), pool ? 2 * pool.size : 1);
    const pending: Promise<SampleTensor>[] = [];
    let next = 0;
    const fill = (upTo: number) => {
      while (next < order.length && next < upTo) {
        const p = this.load(order[next++], epoch);
        p.catch(() => {}); // rejections surface when awaited below; avoid unhandled-rejection noise
        pending.push(p);
      }
    };
    // Without a pool, "prefetching" would serialize decoding anyway: load one batch at a time.
    for (let start = 0; start < order.length; start += batchSize) {
      const end = Math.min(start + batchSize, order.length);
      fill(pool ? start + ahead : end);
      const settled = await Promise.allSettled(pending.slice(start, end));
      for (let k = start; k < end; k++) delete pending[k];
      // An unreadable image drops out of its batch (labels and indices stay aligned) rather
      // than ending the run; the caller reports `skipped` once the epoch is done.
      const items: SampleTensor[] = [];
      const indices: number[] = [];
      settled.forEach((r, j) => {
        const i = order[start + j];
        if (r.status === 'fulfilled') {
          items.push(r.value);
          indices.push(i);
        } else {
          if (r.reason instanceof DecodePoolError) throw r.reason;
          const path = this.samples[i].path;
          this.skipped.set(path, withoutPathPrefix((r.reason as Error)?.message ?? String(r.reason), path));
        }
      });
      if (items.length === 0) continue;
      const [c, h, w] = items[0].shape;
      const per = c * h * w;
      const x = new Float32Array(items.length * per);
      items.forEach((it, j) => {
        if (it.shape[1] !== h || it.shape[2] !== w) throw new Error(`${this.samples[indices[j]].path}: transformed to ${it.shape.join('x')}, batch has ${c}x${h}x${w}`);
        x.set(it.data, j * per);
      });
      yield { x: new Tensor(x, [items.length, c, h, w]), labels: Int32Array.from(indices, (i) => this.samples[i].label), indices };
    }
  }
}

/** Decode errors start with the file's path; the skip report names the file itself. */
function withoutPathPrefix(message: string, path: string): string {
  return message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message;
}

/**
 * `skipped N unreadable image(s): a.jpg (why), ...`, or null when nothing was skipped;
 * `name` shortens each path (e.g. relative to the dataset folder).
 */
export function skippedImagesWarning(skipped: ReadonlyMap<string, string>, name: (path: string) => string = (p) => p): string | null {
  if (skipped.size === 0) return null;
  const list = [...skipped].map(([p, why]) => `${name(p)} (${why})`).join(', ');
  return `skipped ${skipped.size} unreadable image${skipped.size === 1 ? '' : 's'}: ${list}`;
}
