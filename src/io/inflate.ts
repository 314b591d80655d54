/**
 * A raw DEFLATE (RFC 1951) decoder, for `.pth` files that someone re-zipped
 * with compression. torch.save itself only writes stored entries.
 */

const LENGTH_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83, 99, 115, 131, 163, 195, 227, 258];
const LENGTH_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 5, 0];
const DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769, 1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577];
const DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11, 12, 12, 13, 13];
/** Order in which code-length code lengths are sent in a dynamic block header. */
const CLEN_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15];

/**
 * A canonical Huffman code as one lookup table indexed by the next `bits`
 * input bits (LSB first): entry = symbol << 4 | code length.
 */
interface Huffman {
  table: Uint32Array;
  bits: number;
}

function buildHuffman(lengths: ArrayLike<number>, where: string): Huffman {
  const counts = new Uint16Array(16);
  let maxLen = 0;
  for (let i = 0; i < lengths.length; i++) {
    counts[lengths[i]]++;
    if (lengths[i] > maxLen) maxLen = lengths[i];
  }
  counts[0] = 0;
  let left = 1;
  for (let len = 1; len < 16; len++) {
    left = left * 2 - counts[len];
    if (left < 0) throw new Error(`${where}: corrupt deflate data (over-subscribed Huffman code)`);
  }
  const bits = Math.max(maxLen, 1);
  const table = new Uint32Array(1 << bits);
  const next = new Uint16Array(16);
  for (let len = 1, code = 0; len < 16; len++) {
    code = (code + counts[len - 1]) << 1;
    next[len] = code;
  }
  for (let sym = 0; sym < lengths.length; sym++) {
    const len = lengths[sym];
    if (!len) continue;
    const code = next[len]++;
    let rev = 0;
    for (let i = 0; i < len; i++) rev |= ((code >> i) & 1) << (len - 1 - i);
    for (let j = rev; j < table.length; j += 1 << len) table[j] = (sym << 4) | len;
  }
  return { table, bits };
}

let fixedLit: Huffman | undefined;
let fixedDist: Huffman | undefined;

/**
 * Inflates raw DEFLATE data. `expectedSize` sizes the output buffer up front
 * (the zip directory knows it); the result is trimmed or grown as needed.
 */
export function inflateRaw(input: Uint8Array, expectedSize = 0, where = 'inflate'): Uint8Array {
  let out = new Uint8Array(Math.max(expectedSize, 1024));
  let outPos = 0;
  let pos = 0;
  let bitBuf = 0;
  let bitCount = 0;

  const corrupt = (why: string) => new Error(`${where}: corrupt or truncated deflate data (${why})`);
  const bits = (n: number): number => {
    while (bitCount < n) {
      if (pos >= input.length) throw corrupt('unexpected end of input');
      bitBuf |= input[pos++] << bitCount;
      bitCount += 8;
    }
    const v = bitBuf & ((1 << n) - 1);
    bitBuf >>>= n;
    bitCount -= n;
    return v;
  };
  const ensure = (n: number) => {
    if (outPos + n <= out.length) return;
    const grown = new Uint8Array(Math.max(out.length * 2, outPos + n));
    grown.set(out.subarray(0, outPos));
    out = grown;
  };
  const decode = (h: Huffman): number => {
    while (bitCount < h.bits && pos < input.length) {
      bitBuf |= input[pos++] << bitCount;
      bitCount += 8;
    }
    const entry = h.table[bitBuf & ((1 << h.bits) - 1)];
    const len = entry & 15;
    if (len === 0) throw corrupt('invalid Huffman code');
    if (len > bitCount) throw corrupt('unexpected end of input');
    bitBuf >>>= len;
    bitCount -= len;
    return entry >> 4;
  };

  let last = 0;
  while (!last) {
    last = bits(1);
    const type = bits(2);
    if (type === 0) {
      // Stored blocks start on a byte boundary; whole bytes the Huffman decoder read ahead go back.
      pos -= bitCount >> 3;
      bitBuf = 0;
      bitCount = 0;
      if (pos + 4 > input.length) throw corrupt('stored block header cut short');
      const len = input[pos] | (input[pos + 1] << 8);
      const nlen = input[pos + 2] | (input[pos + 3] << 8);
      pos += 4;
      if ((len ^ 0xffff) !== nlen) throw corrupt('stored block length check failed');
      if (pos + len > input.length) throw corrupt('stored block cut short');
      ensure(len);
      out.set(input.subarray(pos, pos + len), outPos);
      pos += len;
      outPos += len;
      continue;
    }
    let lit: Huffman;
    let dist: Huffman;
    if (type === 1) {
      if (!fixedLit || !fixedDist) {
        const l = new Uint8Array(288);
        l.fill(8, 0, 144).fill(9, 144, 256).fill(7, 256, 280).fill(8, 280, 288);
        fixedLit = buildHuffman(l, where);
        fixedDist = buildHuffman(new Uint8Array(30).fill(5), where);
      }
      lit = fixedLit;
      dist = fixedDist;
    } else if (type === 2) {
      const hlit = bits(5) + 257;
      const hdist = bits(5) + 1;
      const hclen = bits(4) + 4;
      const clen = new Uint8Array(19);
      for (let i = 0; i < hclen; i++) clen[CLEN_ORDER[i]] = bits(3);
      const clenCode = buildHuffman(clen, where);
      const lengths = new Uint8Array(hlit + hdist);
      for (let i = 0; i < hlit + hdist; ) {
        const sym = decode(clenCode);
        if (sym < 16) {
          lengths[i++] = sym;
          continue;
        }
        let repeat: number;
        let value = 0;
        if (sym === 16) {
          if (i === 0) throw corrupt('repeat with no previous length');
          value = lengths[i - 1];
          repeat = 3 + bits(2);
        } else if (sym === 17) repeat = 3 + bits(3);
        else repeat = 11 + bits(7);
        if (i + repeat > hlit + hdist) throw corrupt('code lengths overflow');
        lengths.fill(value, i, i + repeat);
        i += repeat;
      }
      lit = buildHuffman(lengths.subarray(0, hlit), where);
      dist = buildHuffman(lengths.subarray(hlit), where);
    } else {
      throw corrupt('reserved block type');
    }
    for (;;) {
      const sym = decode(lit);
      if (sym < 256) {
        ensure(1);
        out[outPos++] = sym;
      } else if (sym === 256) {
        break;
      } else {
        const li = sym - 257;
        if (li >= 29) throw corrupt('bad length symbol');
        const len = LENGTH_BASE[li] + bits(LENGTH_EXTRA[li]);
        const di = decode(dist);
        if (di >= 30) throw corrupt('bad distance symbol');
        const d = DIST_BASE[di] + bits(DIST_EXTRA[di]);
        if (d > outPos) throw corrupt('distance reaches before the start');
        ensure(len);
        for (let k = 0; k < len; k++, outPos++) out[outPos] = out[outPos - d];
      }
    }
  }
  return out.length === outPos ? out : out.subarray(0, outPos);
}
