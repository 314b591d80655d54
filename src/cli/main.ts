#!/usr/bin/env node
/** Node-only: the `mnv2` command line. */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { predictCommand, type PredictOptions } from './predict.js';
import { infoCommand } from './info.js';
import { trainCommand, type TrainOptions } from './train.js';
import { evalCommand, type EvalOptions } from './eval.js';
import { packageRoot } from './paths.js';
import { parsePositiveInt, parsePositiveNumber, parseTriple } from './format.js';
import { processIO, type CliIO } from './io.js';

function version(): string {
  try {
    return (JSON.parse(readFileSync(join(packageRoot(), 'package.json'), 'utf8')) as { version: string }).version;
  } catch {
    return 'unknown';
  }
}

/** Turns our validators' errors into commander's "invalid argument" messages. */
function arg<T>(parse: (v: string, flag: string) => T, flag: string): (v: string) => T {
  return (v) => {
    try {
      return parse(v, flag);
    } catch (e) {
      throw new InvalidArgumentError((e as Error).message);
    }
  };
}

function buildProgram(io: CliIO, setCode: (code: number) => void): Command {
  const program = new Command('mnv2')
    .description('MobileNetV2 in TypeScript: classify images, train and evaluate classifiers, inspect PyTorch/safetensors weights')
    .version(version(), '-V, --version')
    .configureOutput({ writeOut: (s) => io.stdout.write(s), writeErr: (s) => io.stderr.write(s) })
    .exitOverride()
    .showHelpAfterError('(run with --help for usage)');

  program
    .command('predict')
    .description('classify images with MobileNetV2 (defaults: the bundled ImageNet weights and labels)')
    .argument('<images...>', 'image files (JPEG, PNG or BMP)')
    .option('-w, --weights <file>', 'weights: .pth (state_dict or checkpoint) or .safetensors (default: bundled ImageNet MobileNetV2 1.0)')
    .option('--key <name>', 'checkpoint entry holding the state_dict (default: found automatically)')
    .option('-l, --labels <file>', 'class names: JSON array, or text with one name per line')
    .option('-c, --classes <file>', "class names as class_indices.json ({\"0\": \"daisy\", ...}) or a JSON array")
    .option('-k, --topk <k>', 'how many classes to show per image', arg(parsePositiveInt, '--topk'), 5)
    .option('--json', 'print a JSON array [{file, top: [{index, label, prob}], ms}] on stdout', false)
    .addOption(new Option('-b, --backend <name>', 'inference engine').choices(['wasm', 'js']).default('wasm'))
    .option('--alpha <a>', 'width multiplier (default: inferred from the weights)', arg(parsePositiveNumber, '--alpha'))
    .option('--image-size <n>', 'center crop size', arg(parsePositiveInt, '--image-size'), 224)
    .option('--resize <n>', 'resize the shorter side to this before cropping', arg(parsePositiveInt, '--resize'), 256)
    .addOption(new Option('--mean <r,g,b>', 'normalization mean (the bundled weights expect 0.5; ImageNet-trained torchvision ones 0.485,0.456,0.406)').argParser(arg(parseTriple, '--mean')).default([0.5, 0.5, 0.5], '0.5,0.5,0.5'))
    .addOption(new Option('--std <r,g,b>', 'normalization std (torchvision ImageNet: 0.229,0.224,0.225)').argParser(arg(parseTriple, '--std')).default([0.5, 0.5, 0.5], '0.5,0.5,0.5'))
    .option('--batch-size <n>', 'images per forward pass', arg(parsePositiveInt, '--batch-size'), 8)
    .option('--threads <n>', 'wasm: worker threads each batch is split over (default 1: worker start-up outweighs the gain on a few images; at most --batch-size)', arg(parsePositiveInt, '--threads'))
    .action(async (images: string[], o: PredictOptions) => {
      if (o.std.some((s) => s === 0)) {
        program.error('mnv2: --std values must be non-zero', { exitCode: 1 });
      }
      setCode(await predictCommand(images, o, io));
    });

  program
    .command('info')
    .description('describe a weights file: format, tensors, parameter count, guessed alpha and classes')
    .argument('<weights>', '.pth or .safetensors file')
    .option('--json', 'print the description as JSON', false)
    .option('--key <name>', 'checkpoint entry holding the state_dict')
    .action((file: string, o: { json: boolean; key?: string }) => {
      setCode(infoCommand(file, o, io));
    });

  program
    .command('train')
    .description('transfer learning on an image folder (class sub-folders; DIR/train + DIR/val, or the standard split)')
    .requiredOption('-d, --data <dir>', 'dataset folder')
    .option('-w, --weights <file>', "pretrained weights ('none': random init; default: bundled ImageNet MobileNetV2 1.0); classifier shapes that differ are skipped")
    .option('--alpha <a>', 'width multiplier (default: inferred from the weights)', arg(parsePositiveNumber, '--alpha'))
    .option('--epochs <n>', 'total epochs', arg(parsePositiveInt, '--epochs'), 10)
    .option('--batch <n>', 'batch size', arg(parsePositiveInt, '--batch'), 32)
    .option('--lr <lr>', 'learning rate', arg(parsePositiveNumber, '--lr'), 1e-3)
    .addOption(new Option('--optimizer <name>', 'optimizer').choices(['adam', 'sgd', 'adamw']).default('adam'))
    .option('--weight-decay <wd>', 'weight decay', arg(parseNonNegative, '--weight-decay'), 0)
    .option('--momentum <m>', 'SGD momentum', arg(parseNonNegative, '--momentum'), 0.9)
    .option('--label-smoothing <eps>', 'label smoothing in [0, 1)', arg(parseNonNegative, '--label-smoothing'), 0)
    .addOption(new Option('--scheduler <name>', 'lr schedule per epoch (step: x0.1 every epochs/3)').choices(['cosine', 'step', 'none']).default('cosine'))
    .option('--freeze-features', 'train only the classifier (the seed\'s transfer-learning setup)', false)
    .addOption(new Option('--bn <mode>', 'BatchNorm while training: train (batch stats, running stats update) or frozen (running stats)').choices(['train', 'frozen']))
    .option('--augment', 'RandomResizedCrop + RandomHorizontalFlip on train images (else Resize((S, S)))', false)
    .option('--color-jitter <s>', 'with --augment: ColorJitter(s, s, s, s/4)', arg(parsePositiveNumber, '--color-jitter'))
    .option('--image-size <n>', 'input size S', arg(parsePositiveInt, '--image-size'), 224)
    .option('--cache-features', 'linear probe: run the frozen backbone once per image, train the head on cached features', false)
    .option('-o, --out <dir>', 'output folder', 'runs/train')
    .option('--resume [file]', 'continue from last.pth (default: <out>/last.pth)')
    .option('--seed <n>', 'seed for init, shuffling, augmentation and dropout', arg(parseNonNegativeInt, '--seed'), 0)
    .addOption(new Option('-b, --backend <name>', 'engine for training, feature caching and evaluation').choices(['wasm', 'js']).default('wasm'))
    .option('--threads <n>', 'wasm: worker threads each batch is split over, BatchNorm statistics exact over the whole batch (default: number of cores, at most --batch)', arg(parsePositiveInt, '--threads'))
    .option('--workers <n>', 'decode worker threads (0: main thread; default: number of cores)', arg(parseNonNegativeInt, '--workers'))
    .option('--json', 'print a JSON summary on stdout', false)
    .action(async (o: TrainOptions) => {
      setCode(await trainCommand(o, io));
    });

  program
    .command('eval')
    .description('accuracy, per-class precision/recall and confusion matrix of trained weights on an image folder')
    .requiredOption('-d, --data <dir>', 'dataset folder (same layout as for train)')
    .requiredOption('-w, --weights <file>', 'trained weights, e.g. runs/train/best.pth')
    .option('-c, --classes <file>', 'class_indices.json (default: the one next to the weights, else the class folders)')
    .addOption(new Option('--split <name>', 'which images').choices(['val', 'train', 'all']).default('val'))
    .option('--image-size <n>', 'input size S (Resize((S, S)))', arg(parsePositiveInt, '--image-size'), 224)
    .option('--batch <n>', 'images per forward pass', arg(parsePositiveInt, '--batch'), 16)
    .addOption(new Option('-b, --backend <name>', 'inference engine').choices(['wasm', 'js']).default('wasm'))
    .option('--alpha <a>', 'width multiplier (default: inferred from the weights)', arg(parsePositiveNumber, '--alpha'))
    .option('--workers <n>', 'decode worker threads (0: main thread)', arg(parseNonNegativeInt, '--workers'))
    .option('--json', 'print the report as JSON', false)
    .action(async (o: EvalOptions) => {
      setCode(await evalCommand(o, io));
    });

  return program;
}

function parseNonNegative(value: string, flag: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n) || n < 0) throw new Error(`${flag} must be a number >= 0, got '${value}'`);
  return n;
}

function parseNonNegativeInt(value: string, flag: string): number {
  const n = Number(value);
  if (!/^\s*\d+\s*$/.test(value) || !Number.isSafeInteger(n)) throw new Error(`${flag} must be an integer >= 0, got '${value}'`);
  return n;
}

/** Runs the CLI on `argv` (without node and the script path); resolves to the exit code. */
export async function run(argv: string[], io: CliIO = processIO): Promise<number> {
  let code = 0;
  const program = buildProgram(io, (c) => (code = c));
  if (argv.length === 0) {
    program.outputHelp({ error: true });
    return 1;
  }
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    io.stderr.write(`mnv2: error: ${(e as Error).message}\n`);
    return 1;
  }
  return code;
}

function isMain(): boolean {
  if (!process.argv[1]) return false;
  try {
    // npm's bin entries are symlinks, so compare real paths.
    return realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
}

if (isMain()) {
  run(process.argv.slice(2)).then(
    (code) => {
      process.exitCode = code;
    },
    (e: unknown) => {
      process.stderr.write(`mnv2: error: ${(e as Error).message}\n`);
      process.exitCode = 1;
    },
  );
}
