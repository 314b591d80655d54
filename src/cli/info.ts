/** Node-only: `mnv2 info`. */
import { Tensor } from '../tensor/tensor.js';
import { loadWeightsFile } from '../io/node.js';
import { countParameters, inferMobileNetV2Config } from './config.js';
import { groupDigits, table } from './format.js';
import type { CliIO } from './io.js';

export interface InfoOptions {
  json: boolean;
  key?: string;
}

export interface WeightsInfo {
  file: string;
  format: string;
  numTensors: number;
  params: number;
  tensors: { key: string; shape: number[]; dtype: string }[];
  /** Guessed config, or why it could not be guessed. */
  alpha: number | null;
  numClasses: number | null;
  configError?: string;
  extra: Record<string, unknown>;
}

/** Checkpoint extras as JSON-friendly values: tensors become a short summary, Sets arrays. */
function plain(v: unknown): unknown {
  if (v instanceof Tensor) {
    return v.size === 1 ? (v.dtype === 'int64' ? Number(v.int64![0]) : v.data[0]) : `tensor [${v.shape.join(', ')}] ${v.dtype}`;
  }
  if (typeof v === 'bigint') return Number(v);
  if (v instanceof Set) return [...v].map(plain);
  if (Array.isArray(v)) return v.map(plain);
  if (v && typeof v === 'object') return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, plain(x)]));
  return v;
}

export function describeWeights(path: string, key?: string): WeightsInfo {
  const w = loadWeightsFile(path, { key });
  const tensors = [...w.stateDict].map(([k, t]) => ({ key: k, shape: [...t.shape], dtype: w.dtypes.get(k) ?? t.dtype }));
  let alpha: number | null = null;
  let numClasses: number | null = null;
  let configError: string | undefined;
  try {
    ({ alpha, numClasses } = inferMobileNetV2Config(w.stateDict, { name: path }));
  } catch (e) {
    configError = (e as Error).message;
  }
  return {
    file: path,
    format: w.format,
    numTensors: w.stateDict.size,
    params: countParameters(w.stateDict),
    tensors,
    alpha,
    numClasses,
    ...(configError ? { configError } : {}),
    extra: plain(w.extra) as Record<string, unknown>,
  };
}

function short(v: unknown): string {
  const s = typeof v === 'string' ? v : JSON.stringify(v);
  return s.length > 200 ? `${s.slice(0, 197)}...` : s;
}

export function infoCommand(path: string, opts: InfoOptions, io: CliIO): number {
  let info: WeightsInfo;
  try {
    info = describeWeights(path, opts.key);
  } catch (e) {
    io.stderr.write(`mnv2: error: ${(e as Error).message}\n`);
    return 1;
  }
  if (opts.json) {
    io.stdout.write(`${JSON.stringify(info, null, 2)}\n`);
    return 0;
  }
  const formatName = { zip: 'PyTorch .pth (zip)', legacy: 'PyTorch .pth (legacy)', safetensors: 'safetensors' }[info.format] ?? info.format;
  const out = [
    `file:        ${info.file}`,
    `format:      ${formatName}`,
    `tensors:     ${info.numTensors}`,
    `parameters:  ${groupDigits(info.params)}`,
    info.alpha !== null
      ? `model:       MobileNetV2, alpha ${info.alpha.toFixed(2).replace(/0$/, '')}, ${info.numClasses} classes`
      : `model:       unknown (${info.configError})`,
  ];
  const extras = Object.entries(info.extra);
  if (extras.length) {
    out.push('', 'checkpoint entries:');
    out.push(...table(extras.map(([k, v]) => [`  ${k}`, short(v)])));
  }
  out.push('', ...table([['key', 'shape', 'dtype'], ...info.tensors.map((t) => [t.key, `[${t.shape.join(', ')}]`, t.dtype])]));
  io.stdout.write(`${out.join('\n')}\n`);
  return 0;
}
