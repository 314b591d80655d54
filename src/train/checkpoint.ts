/**
 * Training checkpoints as torch.save-format bytes (runtime-safe; the CLI writes them).
 * - best.pth: the model's plain state_dict, so `model.load_state_dict(torch.load('best.pth'))`
 *   works in PyTorch as in the seed, and `mnv2 predict --weights` reads it.
 * - last.pth: `{epoch, best_acc, best_epoch, classes, alpha, arch, scheduler, seed, state}` where
 *   `state` holds the model tensors under `model.` and the optimizer's under `optimizer.`
 *   (Optimizer.toTensors' layout), for --resume.
 */
import type { Tensor } from '../tensor/tensor.js';
import { readPth } from '../io/pth.js';
import { writePth, type PthExtraValue } from '../io/pth_writer.js';
import type { LRSchedulerState } from '../optim/lr_scheduler.js';

export const LAST_STATE_KEY = 'state';
const MODEL_PREFIX = 'model.';
const OPTIMIZER_PREFIX = 'optimizer.';

export function encodeBest(stateDict: Map<string, Tensor>): Uint8Array {
  return writePth({ stateDict }, 'best');
}

export interface ResumeState {
  /** Epochs completed (1-based count). */
  epoch: number;
  bestAcc: number;
  bestEpoch: number;
  classes: string[];
  alpha: number;
  seed: number;
  optimizer: string;
  scheduler: LRSchedulerState | null;
}

export function encodeLast(model: Map<string, Tensor>, optimizer: Map<string, Tensor>, s: ResumeState): Uint8Array {
  const tensors = new Map<string, Tensor>();
  for (const [k, t] of model) tensors.set(MODEL_PREFIX + k, t);
  for (const [k, t] of optimizer) tensors.set(OPTIMIZER_PREFIX + k, t);
  const extra: Record<string, PthExtraValue> = {
    epoch: s.epoch,
    best_acc: s.bestAcc,
    best_epoch: s.bestEpoch,
    arch: 'mobilenet_v2',
    alpha: s.alpha,
    classes: [...s.classes],
    seed: s.seed,
    optimizer: s.optimizer,
    scheduler: s.scheduler ? { last_epoch: s.scheduler.lastEpoch, base_lrs: [...s.scheduler.baseLrs] } : null,
  };
  return writePth({ stateDict: tensors, extra, key: LAST_STATE_KEY }, 'last');
}

function num(v: unknown, what: string, name: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isFinite(n)) throw new Error(`${name}: checkpoint entry '${what}' is missing or not a number`);
  return n;
}

/** Reads last.pth; `name` labels errors. */
export function decodeLast(bytes: Uint8Array, name: string): { model: Map<string, Tensor>; optimizer: Map<string, Tensor>; state: ResumeState } {
  let file;
  try {
    file = readPth(bytes, { name, key: LAST_STATE_KEY });
  } catch (e) {
    throw new Error(`${(e as Error).message} (not a last.pth written by mnv2 train?)`);
  }
  const model = new Map<string, Tensor>();
  const optimizer = new Map<string, Tensor>();
  for (const [k, t] of file.stateDict) {
    if (k.startsWith(MODEL_PREFIX)) model.set(k.slice(MODEL_PREFIX.length), t);
    else if (k.startsWith(OPTIMIZER_PREFIX)) optimizer.set(k.slice(OPTIMIZER_PREFIX.length), t);
    else throw new Error(`${name}: unexpected tensor '${k}' in the checkpoint state`);
  }
  const x = file.extra;
  const classes = x.classes;
  if (!Array.isArray(classes) || !classes.every((c) => typeof c === 'string')) throw new Error(`${name}: checkpoint has no 'classes' list`);
  let scheduler: LRSchedulerState | null = null;
  if (x.scheduler !== null && x.scheduler !== undefined) {
    const s = x.scheduler as { last_epoch?: unknown; base_lrs?: unknown };
    if (!Array.isArray(s.base_lrs)) throw new Error(`${name}: checkpoint 'scheduler' has no base_lrs`);
    scheduler = { lastEpoch: num(s.last_epoch, 'scheduler.last_epoch', name), baseLrs: s.base_lrs.map((v, i) => num(v, `scheduler.base_lrs[${i}]`, name)) };
  }
  return {
    model,
    optimizer,
    state: {
      epoch: num(x.epoch, 'epoch', name),
      bestAcc: num(x.best_acc, 'best_acc', name),
      bestEpoch: num(x.best_epoch, 'best_epoch', name),
      classes: classes as string[],
      alpha: num(x.alpha, 'alpha', name),
      seed: num(x.seed, 'seed', name),
      optimizer: String(x.optimizer),
      scheduler,
    },
  };
}
