#!/usr/bin/env node
/** Node-only: the `mnv2` command line. */
import { readFileSync, realpathSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { Command, CommanderError, InvalidArgumentError, Option } from 'commander';
import { predictCommand, type PredictOptions } from './predict.js';
import { infoCommand } from './info.js';
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
    .description('MobileNetV2 in TypeScript: classify images and inspect PyTorch/safetensors weights')
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

  return program;
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
