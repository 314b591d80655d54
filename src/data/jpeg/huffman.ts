/**
 * Huffman tables and the entropy-coded-segment bit reader, following the JPEG
 * spec (ITU T.81 Annex C/F): canonical codes from the 16 code-length counts,
 * 0xFF00 byte stuffing, and markers ending the segment. Past a marker or the
 * end of the data the reader supplies zero bits, as libjpeg does, but counts
 * them so the decoder can tell "ran out of data" from a clean end.
 */

const LOOKAHEAD = 9;

export interface HuffmanTable {
  /** Indexed by the next 9 bits: (code length << 8) | symbol, or 0 for longer codes. */
  lookup: Int32Array;
  /** Largest code of each length 1..16 (-1 where none). */
  maxCode: Int32Array;
  /** Index into `symbols` of the first code of each length, minus that code. */
  valOffset: Int32Array;
  symbols: Uint8Array;
}

/** Builds a table from the DHT counts (16 entries) and symbols; throws a plain message on an invalid table. */
export function buildHuffmanTable(counts: Uint8Array, symbols: Uint8Array): HuffmanTable {
  const lookup = new Int32Array(1 << LOOKAHEAD);
  const maxCode = new Int32Array(18).fill(-1);
  const valOffset = new Int32Array(18);
  let code = 0;
  let k = 0;
  for (let len = 1; len <= 16; len++) {
    const n = counts[len - 1];
    valOffset[len] = k - code;
    for (let i = 0; i < n; i++, k++, code++) {
      if (len <= LOOKAHEAD) {
        const shift = LOOKAHEAD - len;
        const base = code << shift;
        for (let j = 0; j < 1 << shift; j++) lookup[base + j] = (len << 8) | symbols[k];
      }
    }
    if (n > 0) maxCode[len] = code - 1;
    // A canonical code of this length that no longer fits means the counts are impossible.
    if (code > 1 << len) throw new Error('invalid Huffman table (code lengths over-subscribed)');
    code <<= 1;
  }
  maxCode[17] = 0x7fffffff; // sentinel so a corrupt code stops the search
  // Padded to 256 so a corrupt code can never index past the end.
  const sym = new Uint8Array(256);
  sym.set(symbols.subarray(0, 256));
  return { lookup, maxCode, valOffset, symbols: sym };
}

export class BitReader {
  private acc = 0;
  /** Unconsumed bits in `acc`. */
  bits = 0;
  /** How many of the buffered bits are zero padding past a marker or the end of data. */
  padding = 0;
  pos: number;
  /** Set once a marker is met: the reader then stays at it. */
  atMarker = false;

  constructor(
    private readonly data: Uint8Array,
    pos: number,
  ) {
    this.pos = pos;
  }

  private fill(): void {
    const d = this.data;
    while (this.bits <= 24) {
      let b = 0;
      if (this.atMarker || this.pos >= d.length) {
        this.padding += 8;
      } else {
        b = d[this.pos];
        if (b === 0xff) {
          let q = this.pos + 1;
          while (q < d.length && d[q] === 0xff) q++;
          if (q < d.length && d[q] === 0) {
            this.pos = q + 1;
          } else if (q >= d.length) {
            this.pos = d.length;
            b = 0;
            this.padding += 8;
          } else {
            this.atMarker = true;
            b = 0;
            this.padding += 8;
          }
        } else {
          this.pos++;
        }
      }
      this.acc = (this.acc << 8) | b;
      this.bits += 8;
    }
  }

  /** True once more bits were consumed than the segment holds. */
  get overrun(): boolean {
    return this.bits < this.padding;
  }

  /** Whether the data ended (as opposed to a marker cutting the segment short). */
  get atEnd(): boolean {
    return !this.atMarker && this.pos >= this.data.length;
  }

  decode(t: HuffmanTable): number {
    if (this.bits < 16) this.fill();
    const e = t.lookup[(this.acc >>> (this.bits - LOOKAHEAD)) & ((1 << LOOKAHEAD) - 1)];
    if (e !== 0) {
      this.bits -= e >> 8;
      return e & 0xff;
    }
    const code16 = (this.acc >>> (this.bits - 16)) & 0xffff;
    let len = LOOKAHEAD + 1;
    let code = code16 >> (16 - len);
    while (code > t.maxCode[len]) {
      len++;
      if (len > 16) {
        // libjpeg treats a bad code as symbol 0 after a warning; a clean error is more useful here.
        throw new Error('corrupt JPEG (bad Huffman code)');
      }
      code = code16 >> (16 - len);
    }
    this.bits -= len;
    return t.symbols[(code + t.valOffset[len]) & 0xff];
  }

  /** Reads n (<= 16) raw bits. */
  receive(n: number): number {
    if (n === 0) return 0;
    if (this.bits < n) this.fill();
    this.bits -= n;
    return (this.acc >>> this.bits) & ((1 << n) - 1);
  }

  /** Reads n bits as a JPEG signed magnitude (spec's EXTEND). */
  receiveExtend(n: number): number {
    if (n === 0) return 0;
    const v = this.receive(n);
    return v < 1 << (n - 1) ? v - (1 << n) + 1 : v;
  }

  bit(): number {
    if (this.bits < 1) this.fill();
    this.bits--;
    return (this.acc >>> this.bits) & 1;
  }

  /** Drops buffered bits (at a restart marker or the end of a scan). */
  reset(): void {
    this.acc = 0;
    this.bits = 0;
    this.padding = 0;
    this.atMarker = false;
  }
}
