/**
 * libjpeg's "ISLOW" inverse DCT (jidctint.c, the default in libjpeg-turbo and
 * so in Pillow): a separable Loeffler-Ligtenberg-Moschytz IDCT in 13-bit fixed
 * point, columns first with 2 extra bits of precision kept between the passes.
 * libjpeg-turbo's SIMD versions give the same integers, so matching this gives
 * PIL's pixels exactly. Every constant, rounding and shift below is libjpeg's.
 */

const CONST_BITS = 13;
const PASS1_BITS = 2;

// FIX(x) = round(x * 2^13), as libjpeg tabulates them.
const FIX_0_298631336 = 2446;
const FIX_0_390180644 = 3196;
const FIX_0_541196100 = 4433;
const FIX_0_765366865 = 6270;
const FIX_0_899976223 = 7373;
const FIX_1_175875602 = 9633;
const FIX_1_501321110 = 12299;
const FIX_1_847759065 = 15137;
const FIX_1_961570560 = 16069;
const FIX_2_053119869 = 16819;
const FIX_2_562915447 = 20995;
const FIX_3_072711026 = 25172;

/**
 * libjpeg's post-IDCT range limiting: the centred sample v is looked up as
 * table[v & 1023], which clamps to 0..255 for |v| < 512 and wraps beyond (only
 * reachable with corrupt data, but kept so such files still decode identically).
 */
const RANGE_LIMIT = (() => {
  const t = new Uint8Array(1024);
  for (let u = 0; u < 1024; u++) t[u] = u < 128 ? u + 128 : u < 512 ? 255 : u < 896 ? 0 : u - 896;
  return t;
})();

/**
 * Dequantizes and inverse-transforms one 8x8 block. Products use 32-bit
 * integer multiplies (exact for any valid JPEG; corrupt data wraps like
 * libjpeg-turbo's 32-bit SIMD lanes rather than its 64-bit C path).
 * coef: 64 coefficients in natural (row-major) order at `off`; quant: the
 * natural-order quantization table; the 64 samples go to out[outOff + y*stride + x].
 */
export function idctIslow(
  coef: Int16Array,
  off: number,
  quant: Int32Array,
  out: Uint8Array,
  outOff: number,
  stride: number,
  ws: Int32Array,
): void {
  const pass1Shift = CONST_BITS - PASS1_BITS;
  const pass1Round = 1 << (pass1Shift - 1);
  for (let c = 0; c < 8; c++) {
    const i = off + c;
    if (
      coef[i + 8] === 0 && coef[i + 16] === 0 && coef[i + 24] === 0 && coef[i + 32] === 0 &&
      coef[i + 40] === 0 && coef[i + 48] === 0 && coef[i + 56] === 0
    ) {
      // A column with only a DC term: the full computation below gives exactly this.
      const dc = (Math.imul(coef[i], quant[c])) << PASS1_BITS;
      for (let r = 0; r < 64; r += 8) ws[r + c] = dc;
      continue;
    }
    // Even part.
    let z2 = Math.imul(coef[i + 16], quant[c + 16]);
    let z3 = Math.imul(coef[i + 48], quant[c + 48]);
    let z1 = Math.imul(z2 + z3, FIX_0_541196100);
    let tmp2 = z1 - Math.imul(z3, FIX_1_847759065);
    let tmp3 = z1 + Math.imul(z2, FIX_0_765366865);
    z2 = Math.imul(coef[i], quant[c]);
    z3 = Math.imul(coef[i + 32], quant[c + 32]);
    let tmp0 = (z2 + z3) << CONST_BITS;
    let tmp1 = (z2 - z3) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    // Odd part.
    tmp0 = Math.imul(coef[i + 56], quant[c + 56]);
    tmp1 = Math.imul(coef[i + 40], quant[c + 40]);
    tmp2 = Math.imul(coef[i + 24], quant[c + 24]);
    tmp3 = Math.imul(coef[i + 8], quant[c + 8]);
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = Math.imul(z3 + z4, FIX_1_175875602);
    tmp0 = Math.imul(tmp0, FIX_0_298631336);
    tmp1 = Math.imul(tmp1, FIX_2_053119869);
    tmp2 = Math.imul(tmp2, FIX_3_072711026);
    tmp3 = Math.imul(tmp3, FIX_1_501321110);
    z1 = Math.imul(z1, -FIX_0_899976223);
    z2 = Math.imul(z2, -FIX_2_562915447);
    z3 = Math.imul(z3, -FIX_1_961570560) + z5;
    z4 = Math.imul(z4, -FIX_0_390180644) + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    ws[c] = (tmp10 + tmp3 + pass1Round) >> pass1Shift;
    ws[56 + c] = (tmp10 - tmp3 + pass1Round) >> pass1Shift;
    ws[8 + c] = (tmp11 + tmp2 + pass1Round) >> pass1Shift;
    ws[48 + c] = (tmp11 - tmp2 + pass1Round) >> pass1Shift;
    ws[16 + c] = (tmp12 + tmp1 + pass1Round) >> pass1Shift;
    ws[40 + c] = (tmp12 - tmp1 + pass1Round) >> pass1Shift;
    ws[24 + c] = (tmp13 + tmp0 + pass1Round) >> pass1Shift;
    ws[32 + c] = (tmp13 - tmp0 + pass1Round) >> pass1Shift;
  }
  // The final shift also undoes the 8x gain of the 2-D transform (the "+3").
  const pass2Shift = CONST_BITS + PASS1_BITS + 3;
  const pass2Round = 1 << (pass2Shift - 1);
  for (let r = 0; r < 64; r += 8) {
    const o = outOff + (r >> 3) * stride;
    if (ws[r + 1] === 0 && ws[r + 2] === 0 && ws[r + 3] === 0 && ws[r + 4] === 0 && ws[r + 5] === 0 && ws[r + 6] === 0 && ws[r + 7] === 0) {
      const v = RANGE_LIMIT[((ws[r] + (1 << (PASS1_BITS + 2))) >> (PASS1_BITS + 3)) & 1023];
      for (let x = 0; x < 8; x++) out[o + x] = v;
      continue;
    }
    let z2 = ws[r + 2];
    let z3 = ws[r + 6];
    let z1 = Math.imul(z2 + z3, FIX_0_541196100);
    let tmp2 = z1 - Math.imul(z3, FIX_1_847759065);
    let tmp3 = z1 + Math.imul(z2, FIX_0_765366865);
    let tmp0 = (ws[r] + ws[r + 4]) << CONST_BITS;
    let tmp1 = (ws[r] - ws[r + 4]) << CONST_BITS;
    const tmp10 = tmp0 + tmp3;
    const tmp13 = tmp0 - tmp3;
    const tmp11 = tmp1 + tmp2;
    const tmp12 = tmp1 - tmp2;
    tmp0 = ws[r + 7];
    tmp1 = ws[r + 5];
    tmp2 = ws[r + 3];
    tmp3 = ws[r + 1];
    z1 = tmp0 + tmp3;
    z2 = tmp1 + tmp2;
    z3 = tmp0 + tmp2;
    let z4 = tmp1 + tmp3;
    const z5 = Math.imul(z3 + z4, FIX_1_175875602);
    tmp0 = Math.imul(tmp0, FIX_0_298631336);
    tmp1 = Math.imul(tmp1, FIX_2_053119869);
    tmp2 = Math.imul(tmp2, FIX_3_072711026);
    tmp3 = Math.imul(tmp3, FIX_1_501321110);
    z1 = Math.imul(z1, -FIX_0_899976223);
    z2 = Math.imul(z2, -FIX_2_562915447);
    z3 = Math.imul(z3, -FIX_1_961570560) + z5;
    z4 = Math.imul(z4, -FIX_0_390180644) + z5;
    tmp0 += z1 + z3;
    tmp1 += z2 + z4;
    tmp2 += z2 + z3;
    tmp3 += z1 + z4;
    out[o] = RANGE_LIMIT[((tmp10 + tmp3 + pass2Round) >> pass2Shift) & 1023];
    out[o + 7] = RANGE_LIMIT[((tmp10 - tmp3 + pass2Round) >> pass2Shift) & 1023];
    out[o + 1] = RANGE_LIMIT[((tmp11 + tmp2 + pass2Round) >> pass2Shift) & 1023];
    out[o + 6] = RANGE_LIMIT[((tmp11 - tmp2 + pass2Round) >> pass2Shift) & 1023];
    out[o + 2] = RANGE_LIMIT[((tmp12 + tmp1 + pass2Round) >> pass2Shift) & 1023];
    out[o + 5] = RANGE_LIMIT[((tmp12 - tmp1 + pass2Round) >> pass2Shift) & 1023];
    out[o + 3] = RANGE_LIMIT[((tmp13 + tmp0 + pass2Round) >> pass2Shift) & 1023];
    out[o + 4] = RANGE_LIMIT[((tmp13 - tmp0 + pass2Round) >> pass2Shift) & 1023];
  }
}
