// The seed's transfer-learning recipe, as gen_fixtures.py runs it in PyTorch: ImageNet
// weights minus the classifier (fresh head, the model's own init), `features` frozen,
// model.train() (BN on batch statistics, running stats updating, Dropout(0.2) on),
// Adam(lr 1e-4) on the head, batch 16 shuffled each epoch (last batch partial),
// RandomResizedCrop(224) + RandomHorizontalFlip + Normalize(0.5), 5 epochs, val after each
// epoch with Resize((224, 224)). Run through `mnv2 train`'s own entry point, so the benchmark
// measures exactly what users get from
//   mnv2 train --freeze-features --bn train --augment --batch 16 --lr 1e-4 --scheduler none --epochs 5
import { mkdirSync } from 'node:fs';
import { IMAGE_SIZE, lib, now } from './common.mjs';

export async function seedRecipe(ds, opts) {
  const { trainCommand } = await lib('cli/train.js');
  mkdirSync(opts.out, { recursive: true });
  let stdout = '';
  const io = {
    stdout: { write: (s) => ((stdout += s), true) },
    stderr: { write: (s) => process.stderr.write(`seed-recipe: ${s}`) },
  };
  const t0 = now();
  const code = await trainCommand(
    {
      data: ds.root, weights: opts.weights, epochs: opts.seedEpochs, batch: 16, lr: 1e-4, optimizer: 'adam', weightDecay: 0, momentum: 0,
      labelSmoothing: 0, scheduler: 'none', freezeFeatures: true, bn: 'train', augment: true, imageSize: IMAGE_SIZE, cacheFeatures: false,
      out: opts.out, seed: opts.seed, backend: 'wasm', threads: opts.threads, workers: opts.workers, json: true,
    },
    io,
  );
  const wallS = now() - t0;
  if (code !== 0) throw new Error(`seed-recipe: mnv2 train exited with code ${code} (see the lines above)`);
  const summary = JSON.parse(stdout.trim().split('\n').pop());
  const epochs = summary.epochs;
  return {
    recipe: 'seed-recipe', val_acc: epochs[epochs.length - 1].val_acc, wall_s: wallS,
    val_acc_by_epoch: epochs.map((e) => e.val_acc), epoch_s: epochs.map((e) => e.time_s), train_acc_by_epoch: epochs.map((e) => e.train_acc),
    train: summary.train, val: summary.val, out: opts.out, reference_acc: 0.814, reference_by_epoch: [0.704, 0.77, 0.756, 0.793, 0.814], threshold: 0.79,
  };
}
