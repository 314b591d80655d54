import { describe, expect, it } from 'vitest';
import { readSafetensors, writeSafetensors } from '../../src/io/safetensors.js';
import { Tensor } from '../../src/tensor/tensor.js';
import { loadFixture } from '../helpers/fixtures.js';

describe('safetensors', () => {
  it('reads the PyTorch-written small model', () => {
    const f = loadFixture('small.safetensors');
    const w = f.tensors.get('features.0.0.weight')!;
    expect(w.shape).toEqual([16, 3, 3, 3]);
    const nbt = f.tensors.get('features.0.1.num_batches_tracked')!;
    expect(nbt.dtype).toBe('int64');
    expect(f.dtypes.get('features.0.1.num_batches_tracked')).toBe('I64');
  });

  it('round-trips float32 and int64 tensors bit-exactly', () => {
    const a = Tensor.from([1.5, -2, Math.PI, 1e-30], [2, 2]);
    const b = new Tensor(BigInt64Array.of(7n, -(2n ** 40n)), [2]);
    const bytes = writeSafetensors({ a, b }, { note: 'x' });
    const back = readSafetensors(bytes);
    expect(Array.from(back.tensors.get('a')!.data)).toEqual(Array.from(a.data));
    expect(Array.from(back.tensors.get('b')!.int64!)).toEqual([7n, -(2n ** 40n)]);
    expect(back.metadata).toEqual({ note: 'x' });
  });

  it('rejects truncated and random bytes with the file name', () => {
    const bytes = writeSafetensors({ a: Tensor.from([1, 2, 3]) });
    expect(() => readSafetensors(bytes.subarray(0, bytes.length - 2), 'cut.safetensors')).toThrow(/cut\.safetensors.*(truncated|outside)/);
    const junk = new Uint8Array(64).map((_, i) => (i * 37 + 11) & 255);
    expect(() => readSafetensors(junk, 'junk.bin')).toThrow(/junk\.bin/);
  });
});
