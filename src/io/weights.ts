import type { Tensor } from '../tensor/tensor.js';
import { isLegacyPth, readPth } from './pth.js';
import { readSafetensors } from './safetensors.js';
import { isZip } from './zip.js';

/** Weights from any supported file, whatever its format. */
export interface WeightsFile {
  stateDict: Map<string, Tensor>;
  /** Original dtype per key: torch names ('float16') for .pth, safetensors names ('F16') for .safetensors. */
  dtypes: Map<string, string>;
  /** Non-tensor checkpoint entries (.pth) or the `__metadata__` strings (.safetensors). */
  extra: Record<string, unknown>;
  format: 'zip' | 'legacy' | 'safetensors';
}

export interface ReadWeightsOptions {
  /** File name for error messages. */
  name?: string;
  /** In a checkpoint dict, the entry holding the state_dict (.pth only). */
  key?: string;
}

/** Reads a `.pth` (zip or legacy) or `.safetensors` file, telling them apart by their first bytes. */
export function readWeights(bytes: Uint8Array, opts: ReadWeightsOptions = {}): WeightsFile {
  const name = opts.name ?? '<bytes>';
  if (isZip(bytes) || isLegacyPth(bytes)) return readPth(bytes, { name, key: opts.key });
  if (!looksLikeSafetensors(bytes)) {
    throw new Error(`${name}: not a weights file (neither a PyTorch .pth zip or legacy file nor safetensors)`);
  }
  const st = readSafetensors(bytes, name);
  return { stateDict: st.tensors, dtypes: st.dtypes, extra: { ...st.metadata }, format: 'safetensors' };
}

/** safetensors starts with a little-endian u64 header length followed by '{'. */
function looksLikeSafetensors(bytes: Uint8Array): boolean {
  if (bytes.length < 9) return false;
  const dv = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const len = dv.getBigUint64(0, true);
  return len >= 2n && len <= BigInt(bytes.length - 8) && bytes[8] === 0x7b;
}
