// Shared helpers for channel tails: lanes cannot be indexed dynamically, so a partial
// group of lanes goes through a small static scratch buffer.

const scratch: usize = memory.data(32, 16);

/** Stores the first `n` (< 8) lanes of [v0, v1] at `o`, adding `r[i]` when `r` is not null. */
@inline
export function storeTail(o: usize, r: usize, v0: v128, v1: v128, n: i32): void {
  v128.store(scratch, v0);
  v128.store(scratch, v1, 16);
  for (let i = 0; i < n; i++) {
    const off = <usize>i << 2;
    let v = load<f32>(scratch + off);
    if (r) v += load<f32>(r + off);
    store<f32>(o + off, v);
  }
}

@inline
export function clampf(v: f32, lo: f32, hi: f32): f32 {
  return v < lo ? lo : v > hi ? hi : v;
}
