import { describe, expect, test } from 'vitest';
import { MobileNetV2 } from '../../src/models/mobilenetv2.js';
import { Rng } from '../../src/tensor/rng.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { Adam } from '../../src/optim/index.js';
import { CosineAnnealingLR } from '../../src/optim/lr_scheduler.js';
import { readWeights } from '../../src/io/weights.js';
import { readZip } from '../../src/io/zip.js';
import { decodeLast, encodeBest, encodeLast } from '../../src/train/checkpoint.js';

function sameTensor(a: Tensor, b: Tensor): boolean {
  if (a.dtype !== b.dtype || a.shape.join() !== b.shape.join()) return false;
  const x = a.dtype === 'int64' ? a.int64! : a.data;
  const y = b.dtype === 'int64' ? b.int64! : b.data;
  return Buffer.from(x.buffer, x.byteOffset, x.byteLength).equals(Buffer.from(y.buffer, y.byteOffset, y.byteLength));
}

describe('training checkpoints', () => {
  const model = new MobileNetV2({ numClasses: 5, alpha: 0.35, rng: new Rng(3) });
  // Non-default BN statistics and counters, so buffers are checked too.
  for (const [k, t] of model.stateDict()) {
    if (k.endsWith('running_var')) t.data.fill(1.5);
    if (k.endsWith('num_batches_tracked')) t.int64![0] = 17n;
  }

  test('best.pth is a plain state_dict (torch.save zip) that loads into MobileNetV2 with identical tensors', () => {
    const bytes = encodeBest(model.stateDict());
    const names = readZip(bytes, 'best.pth').entries.map((e) => e.name);
    expect(names[0]).toBe('best/data.pkl');
    const w = readWeights(bytes, { name: 'best.pth' });
    expect(w.format).toBe('zip');
    expect(w.extra).toEqual({});
    expect([...w.stateDict.keys()]).toEqual([...model.stateDict().keys()]);
    const fresh = new MobileNetV2({ numClasses: 5, alpha: 0.35, rng: new Rng(99) });
    fresh.loadStateDict(w.stateDict, { strict: true });
    for (const [k, t] of model.stateDict()) expect(sameTensor(fresh.stateDict().get(k)!, t), k).toBe(true);
  });

  test('last.pth restores model, optimizer state, scheduler and counters', () => {
    const head = model.classifier.parameters();
    const opt = new Adam(head, { lr: 1e-3 });
    const sched = new CosineAnnealingLR(opt, { tMax: 10 });
    for (const p of head) p.grad = Tensor.full(p.shape, 0.25);
    opt.step();
    sched.step();
    sched.step();
    const bytes = encodeLast(model.stateDict(), opt.toTensors(''), {
      epoch: 2, bestAcc: 0.875, bestEpoch: 1, classes: ['a', 'b', 'c', 'd', 'e'], alpha: 0.35, seed: 4, optimizer: 'adam', scheduler: sched.stateDict(),
    });
    const back = decodeLast(bytes, 'last.pth');
    expect(back.state).toEqual({
      epoch: 2, bestAcc: 0.875, bestEpoch: 1, classes: ['a', 'b', 'c', 'd', 'e'], alpha: 0.35, seed: 4, optimizer: 'adam',
      scheduler: { lastEpoch: 2, baseLrs: [1e-3] },
    });
    const fresh = new MobileNetV2({ numClasses: 5, alpha: 0.35, rng: new Rng(5) });
    fresh.loadStateDict(back.model, { strict: true });
    for (const [k, t] of model.stateDict()) expect(sameTensor(fresh.stateDict().get(k)!, t), k).toBe(true);
    const opt2 = new Adam(fresh.classifier.parameters(), { lr: 1e-3 });
    opt2.fromTensors(back.optimizer, '');
    const s1 = opt.stateDict();
    const s2 = opt2.stateDict();
    expect(Object.keys(s2.state)).toEqual(Object.keys(s1.state));
    for (const i of Object.keys(s1.state)) {
      expect(s2.state[i].step).toBe(1);
      expect(sameTensor(s2.state[i].exp_avg as Tensor, s1.state[i].exp_avg as Tensor)).toBe(true);
      expect(sameTensor(s2.state[i].exp_avg_sq as Tensor, s1.state[i].exp_avg_sq as Tensor)).toBe(true);
    }
    expect(() => decodeLast(encodeBest(model.stateDict()), 'best.pth')).toThrow("best.pth: no entry 'state' in the checkpoint");
  });
});
