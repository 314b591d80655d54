/** IEEE half precision bits to a float32 value (exact: every half is representable). */
export function float16ToFloat32(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** bfloat16 is the top half of a float32. */
export function bfloat16ToFloat32(b: number): number {
  const buf = new DataView(new ArrayBuffer(4));
  buf.setUint32(0, (b & 0xffff) << 16);
  return buf.getFloat32(0);
}
