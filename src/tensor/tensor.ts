/**
 * A dense, contiguous, row-major tensor. Float tensors hold float32 data; int64
 * tensors (BatchNorm's `num_batches_tracked`) hold a BigInt64Array so that they
 * round-trip through `.pth` and safetensors unchanged.
 */
export type DType = 'float32' | 'int64';
export type TensorData = Float32Array | BigInt64Array;

export class Tensor {
  readonly shape: readonly number[];
  readonly dtype: DType;
  data: Float32Array;
  /** Set only for int64 tensors; `data` is then an empty Float32Array. */
  readonly int64?: BigInt64Array;

  constructor(data: Float32Array | BigInt64Array, shape: readonly number[]) {
    const n = sizeOf(shape);
    if (data.length !== n) {
      throw new Error(`Tensor: data has ${data.length} elements but shape [${shape.join(', ')}] needs ${n}`);
    }
    this.shape = Object.freeze([...shape]);
    if (data instanceof BigInt64Array) {
      this.dtype = 'int64';
      this.int64 = data;
      this.data = new Float32Array(0);
    } else {
      this.dtype = 'float32';
      this.data = data;
    }
  }

  static zeros(shape: readonly number[]): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)), shape);
  }

  static full(shape: readonly number[], value: number): Tensor {
    return new Tensor(new Float32Array(sizeOf(shape)).fill(value), shape);
  }

  static scalarInt64(value: bigint): Tensor {
    return new Tensor(BigInt64Array.of(value), []);
  }

  static from(values: ArrayLike<number>, shape?: readonly number[]): Tensor {
    return new Tensor(Float32Array.from(values), shape ?? [values.length]);
  }

  get size(): number {
    return sizeOf(this.shape);
  }

  get ndim(): number {
    return this.shape.length;
  }

  /** A tensor sharing this one's data under a new shape (one dimension may be -1). */
  reshape(shape: readonly number[]): Tensor {
    const resolved = resolveShape(shape, this.size);
    return this.dtype === 'int64' ? new Tensor(this.int64!, resolved) : new Tensor(this.data, resolved);
  }

  clone(): Tensor {
    return this.dtype === 'int64' ? new Tensor(this.int64!.slice(), this.shape) : new Tensor(this.data.slice(), this.shape);
  }

  /** Copies `src` into this tensor in place, so that references held elsewhere (optimizers) stay valid. */
  copy_(src: Tensor): this {
    if (!sameShape(this.shape, src.shape)) {
      throw new Error(`copy_: shape [${src.shape.join(', ')}] does not match [${this.shape.join(', ')}]`);
    }
    if (this.dtype === 'int64') {
      const dst = this.int64!;
      if (src.dtype === 'int64') dst.set(src.int64!);
      else for (let i = 0; i < dst.length; i++) dst[i] = BigInt(Math.round(src.data[i]));
    } else if (src.dtype === 'int64') {
      const s = src.int64!;
      for (let i = 0; i < s.length; i++) this.data[i] = Number(s[i]);
    } else {
      this.data.set(src.data);
    }
    return this;
  }

  /** Element values as plain numbers, whatever the dtype. */
  toArray(): number[] {
    return this.dtype === 'int64' ? Array.from(this.int64!, Number) : Array.from(this.data);
  }

  toString(): string {
    return `Tensor(${this.dtype}, [${this.shape.join(', ')}])`;
  }
}

export function sizeOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) {
    if (!Number.isInteger(d) || d < 0) throw new Error(`invalid dimension ${d} in shape [${shape.join(', ')}]`);
    n *= d;
  }
  return n;
}

export function sameShape(a: readonly number[], b: readonly number[]): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function formatShape(shape: readonly number[]): string {
  return `[${shape.join(', ')}]`;
}

function resolveShape(shape: readonly number[], size: number): number[] {
  const out = [...shape];
  const free = out.indexOf(-1);
  if (free >= 0) {
    const rest = out.reduce((p, d, i) => (i === free ? p : p * d), 1);
    if (rest === 0 || size % rest !== 0) throw new Error(`reshape: cannot view ${size} elements as [${shape.join(', ')}]`);
    out[free] = size / rest;
  }
  if (sizeOf(out) !== size) throw new Error(`reshape: cannot view ${size} elements as [${shape.join(', ')}]`);
  return out;
}
