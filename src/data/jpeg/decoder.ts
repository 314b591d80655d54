/**
 * A baseline + progressive (Huffman) JPEG decoder that reproduces what Pillow
 * returns for `Image.open(f).convert('RGB')`: libjpeg-turbo with its defaults
 * (ISLOW IDCT, fancy upsampling, integer YCbCr->RGB), Pillow's inverted-CMYK
 * reading of 4-component files, and no EXIF orientation. Runtime-safe: no
 * Node or npm imports.
 *
 * Coefficients of all scans are collected first and transformed at the end,
 * which gives the same samples as libjpeg's single-pass baseline path.
 */

import type { RgbImage } from '../image.js';
import { BitReader, buildHuffmanTable, type HuffmanTable } from './huffman.js';
import { idctIslow } from './idct.js';
import { upsample, type Plane } from './upsample.js';
import { toRgb, type ColorSpace } from './color.js';

/** Zigzag position -> natural (row-major) index; 16 extra entries absorb corrupt run lengths, as in libjpeg. */
const NATURAL = new Int32Array([
  0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20, 13, 6, 7, 14, 21,
  28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59, 52, 45, 38, 31, 39, 46, 53, 60, 61, 54,
  47, 55, 62, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63, 63,
]);

interface Component {
  id: number;
  h: number;
  v: number;
  tq: number;
  /** Quantization table latched when the component's first scan starts (libjpeg's rule). */
  quant: Int32Array | null;
  blocksPerLine: number;
  blocksPerCol: number;
  /** libjpeg's downsampled_width/height: the real samples of this component. */
  width: number;
  height: number;
  coef: Int16Array;
  pred: number;
  dcTable: HuffmanTable | null;
  acTable: HuffmanTable | null;
}

interface Frame {
  progressive: boolean;
  width: number;
  height: number;
  hMax: number;
  vMax: number;
  mcusX: number;
  mcusY: number;
  comps: Component[];
}

class JpegError extends Error {}

/** Decodes a JPEG file's bytes to 8-bit RGB; `name` labels errors. */
export function decodeJpeg(bytes: Uint8Array, name = 'JPEG data'): RgbImage {
  try {
    return decode(bytes);
  } catch (e) {
    const msg = (e as Error).message;
    if (e instanceof JpegError || /^(corrupt|truncated|unsupported|invalid)/.test(msg)) throw new Error(`${name}: ${msg}`);
    throw new Error(`${name}: corrupt JPEG (${msg})`);
  }
}

function fail(msg: string): never {
  throw new JpegError(msg);
}

function decode(d: Uint8Array): RgbImage {
  if (d.length < 4 || d[0] !== 0xff || d[1] !== 0xd8) fail('not a JPEG (no start-of-image marker)');
  const qt: Array<Int32Array | null> = [null, null, null, null];
  const dcTables: Array<HuffmanTable | null> = [null, null, null, null];
  const acTables: Array<HuffmanTable | null> = [null, null, null, null];
  let frame: Frame | null = null;
  let restartInterval = 0;
  let jfif = false;
  let adobeTransform = -1;
  let pos = 2;
  for (;;) {
    // Like libjpeg's next_marker: skip stray bytes, then any 0xFF fill.
    while (pos < d.length && d[pos] !== 0xff) pos++;
    while (pos < d.length && d[pos] === 0xff) pos++;
    if (pos >= d.length) fail(frame ? 'truncated JPEG (no end-of-image marker)' : 'truncated JPEG (header ends early)');
    const marker = d[pos++];
    if (marker === 0xd9) break; // EOI
    if (marker === 0x01 || (marker >= 0xd0 && marker <= 0xd7)) continue; // standalone markers
    if (pos + 2 > d.length) fail(`truncated JPEG (marker 0xFF${hex(marker)} at byte ${pos - 2})`);
    const len = (d[pos] << 8) | d[pos + 1];
    if (len < 2) fail(`corrupt JPEG (segment length ${len} at byte ${pos})`);
    if (pos + len > d.length) fail(`truncated JPEG (segment 0xFF${hex(marker)} at byte ${pos - 2} runs past the end)`);
    const seg = d.subarray(pos + 2, pos + len);
    pos += len;
    switch (marker) {
      case 0xc0:
      case 0xc1:
      case 0xc2:
        if (frame) fail('corrupt JPEG (more than one frame header)');
        frame = readFrame(seg, marker === 0xc2);
        break;
      case 0xc3:
      case 0xc5:
      case 0xc6:
      case 0xc7:
      case 0xcb:
      case 0xcd:
      case 0xce:
      case 0xcf:
        fail(`unsupported JPEG (lossless or hierarchical coding, SOF${marker - 0xc0})`);
      case 0xc9:
      case 0xca:
        fail('unsupported JPEG (arithmetic coding)');
      case 0xc4:
        readHuffmanTables(seg, dcTables, acTables);
        break;
      case 0xdb:
        readQuantTables(seg, qt);
        break;
      case 0xdd:
        if (seg.length < 2) fail('corrupt JPEG (short DRI segment)');
        restartInterval = (seg[0] << 8) | seg[1];
        break;
      case 0xe0:
        if (seg.length >= 5 && seg[0] === 0x4a && seg[1] === 0x46 && seg[2] === 0x49 && seg[3] === 0x46 && seg[4] === 0) jfif = true;
        break;
      case 0xee:
        if (seg.length >= 12 && seg[0] === 0x41 && seg[1] === 0x64 && seg[2] === 0x6f && seg[3] === 0x62 && seg[4] === 0x65) {
          adobeTransform = seg[11];
        }
        break;
      case 0xda: {
        if (!frame) fail('corrupt JPEG (scan before frame header)');
        pos = readScan(d, pos, seg, frame, qt, dcTables, acTables, restartInterval);
        break;
      }
      case 0xdc:
        fail('unsupported JPEG (DNL marker)');
      default:
        break; // APPn, COM, and others carry nothing the pixels depend on
    }
  }
  if (!frame) fail('corrupt JPEG (no frame header)');
  if (frame.comps.some((c) => !c.quant)) fail('corrupt JPEG (a component never appears in any scan)');
  return render(frame, colorSpace(frame, jfif, adobeTransform));
}

function hex(v: number): string {
  return v.toString(16).toUpperCase().padStart(2, '0');
}

function readFrame(s: Uint8Array, progressive: boolean): Frame {
  if (s.length < 6) fail('corrupt JPEG (short frame header)');
  const precision = s[0];
  if (precision !== 8) fail(`unsupported JPEG (${precision}-bit samples)`);
  const height = (s[1] << 8) | s[2];
  const width = (s[3] << 8) | s[4];
  const n = s[5];
  if (height === 0) fail('unsupported JPEG (height defined by a DNL marker)');
  if (width === 0) fail('corrupt JPEG (zero width)');
  if (n !== 1 && n !== 3 && n !== 4) fail(`unsupported JPEG (${n} components)`);
  if (s.length < 6 + 3 * n) fail('corrupt JPEG (short frame header)');
  const comps: Component[] = [];
  for (let i = 0; i < n; i++) {
    const h = s[7 + 3 * i] >> 4;
    const v = s[7 + 3 * i] & 15;
    if (h < 1 || h > 4 || v < 1 || v > 4) fail(`corrupt JPEG (sampling factors ${h}x${v})`);
    comps.push({
      id: s[6 + 3 * i], h, v, tq: s[8 + 3 * i] & 3, quant: null, blocksPerLine: 0, blocksPerCol: 0,
      width: 0, height: 0, coef: new Int16Array(0), pred: 0, dcTable: null, acTable: null,
    });
  }
  const hMax = Math.max(...comps.map((c) => c.h));
  const vMax = Math.max(...comps.map((c) => c.v));
  const mcusX = Math.ceil(width / (8 * hMax));
  const mcusY = Math.ceil(height / (8 * vMax));
  for (const c of comps) {
    c.blocksPerLine = mcusX * c.h;
    c.blocksPerCol = mcusY * c.v;
    c.width = Math.ceil((width * c.h) / hMax);
    c.height = Math.ceil((height * c.v) / vMax);
    c.coef = new Int16Array(c.blocksPerLine * c.blocksPerCol * 64);
  }
  return { progressive, width, height, hMax, vMax, mcusX, mcusY, comps };
}

function readHuffmanTables(s: Uint8Array, dc: Array<HuffmanTable | null>, ac: Array<HuffmanTable | null>): void {
  let p = 0;
  while (p < s.length) {
    if (p + 17 > s.length) fail('corrupt JPEG (short Huffman table)');
    const tc = s[p] >> 4;
    const th = s[p] & 15;
    const counts = s.subarray(p + 1, p + 17);
    const total = counts.reduce((a, b) => a + b, 0);
    if (tc > 1 || th > 3 || total > 256 || p + 17 + total > s.length) fail('corrupt JPEG (bad Huffman table)');
    let table: HuffmanTable;
    try {
      table = buildHuffmanTable(counts, s.subarray(p + 17, p + 17 + total));
    } catch (e) {
      fail(`corrupt JPEG (${(e as Error).message})`);
    }
    (tc === 0 ? dc : ac)[th] = table;
    p += 17 + total;
  }
}

function readQuantTables(s: Uint8Array, qt: Array<Int32Array | null>): void {
  let p = 0;
  while (p < s.length) {
    const pq = s[p] >> 4;
    const tq = s[p] & 15;
    const size = pq === 0 ? 64 : 128;
    if (pq > 1 || tq > 3 || p + 1 + size > s.length) fail('corrupt JPEG (bad quantization table)');
    const t = new Int32Array(64);
    for (let k = 0; k < 64; k++) {
      t[NATURAL[k]] = pq === 0 ? s[p + 1 + k] : (s[p + 1 + 2 * k] << 8) | s[p + 2 + 2 * k];
    }
    qt[tq] = t;
    p += 1 + size;
  }
}

/** Decodes one scan whose entropy-coded data starts at `pos`; returns where the next marker starts. */
function readScan(
  d: Uint8Array,
  pos: number,
  s: Uint8Array,
  frame: Frame,
  qt: Array<Int32Array | null>,
  dcTables: Array<HuffmanTable | null>,
  acTables: Array<HuffmanTable | null>,
  restartInterval: number,
): number {
  const n = s[0];
  if (n < 1 || n > 4 || s.length < 4 + 2 * n) fail('corrupt JPEG (bad scan header)');
  const comps: Component[] = [];
  for (let i = 0; i < n; i++) {
    const c = frame.comps.find((x) => x.id === s[1 + 2 * i]);
    if (!c) fail(`corrupt JPEG (scan names unknown component ${s[1 + 2 * i]})`);
    c.dcTable = dcTables[s[2 + 2 * i] >> 4];
    c.acTable = acTables[s[2 + 2 * i] & 15];
    comps.push(c);
  }
  const ss = s[1 + 2 * n];
  const se = s[2 + 2 * n];
  const ah = s[3 + 2 * n] >> 4;
  const al = s[3 + 2 * n] & 15;
  const progressive = frame.progressive;
  if (progressive) {
    if (ss > se || se > 63 || (ss === 0 && se !== 0) || (ss > 0 && n !== 1) || al > 13) fail('corrupt JPEG (bad progressive scan parameters)');
  } else if (ss !== 0 || se !== 63 || ah !== 0 || al !== 0) {
    // libjpeg ignores these in sequential files (with a warning); so do we.
  }
  for (const c of comps) {
    if (!c.quant) {
      const q = qt[c.tq];
      if (!q) fail(`corrupt JPEG (component ${c.id} uses undefined quantization table ${c.tq})`);
      c.quant = q.slice();
    }
    const needDc = !progressive || (ss === 0 && ah === 0);
    const needAc = !progressive ? true : ss > 0;
    if (needDc && !c.dcTable) fail(`corrupt JPEG (component ${c.id} uses an undefined DC Huffman table)`);
    if (needAc && !c.acTable) fail(`corrupt JPEG (component ${c.id} uses an undefined AC Huffman table)`);
    c.pred = 0;
  }

  const r = new BitReader(d, pos);
  let eobrun = 0;

  type BlockFn = (c: Component, off: number) => void;
  const baseline: BlockFn = (c, off) => {
    const coef = c.coef;
    const t = r.decode(c.dcTable!);
    c.pred += t === 0 ? 0 : r.receiveExtend(t);
    coef[off] = c.pred;
    const ac = c.acTable!;
    for (let k = 1; k < 64; ) {
      const rs = r.decode(ac);
      const run = rs >> 4;
      const size = rs & 15;
      if (size !== 0) {
        k += run;
        coef[off + NATURAL[k]] = r.receiveExtend(size);
        k++;
      } else {
        if (run !== 15) break;
        k += 16;
      }
    }
  };
  const dcFirst: BlockFn = (c, off) => {
    const t = r.decode(c.dcTable!);
    c.pred += t === 0 ? 0 : r.receiveExtend(t);
    c.coef[off] = c.pred * (1 << al);
  };
  const dcRefine: BlockFn = (c, off) => {
    if (r.bit()) c.coef[off] |= 1 << al;
  };
  const acFirst: BlockFn = (c, off) => {
    if (eobrun > 0) {
      eobrun--;
      return;
    }
    const coef = c.coef;
    const ac = c.acTable!;
    for (let k = ss; k <= se; k++) {
      const rs = r.decode(ac);
      const run = rs >> 4;
      const size = rs & 15;
      if (size !== 0) {
        k += run;
        coef[off + NATURAL[k]] = r.receiveExtend(size) * (1 << al);
      } else if (run === 15) {
        k += 15;
      } else {
        eobrun = (1 << run) - 1;
        if (run) eobrun += r.receive(run);
        break;
      }
    }
  };
  const p1 = 1 << al;
  const m1 = -1 << al;
  const refineNonzero = (coef: Int16Array, i: number) => {
    if (r.bit() && (coef[i] & p1) === 0) coef[i] += coef[i] >= 0 ? p1 : m1;
  };
  const acRefine: BlockFn = (c, off) => {
    const coef = c.coef;
    let k = ss;
    if (eobrun === 0) {
      const ac = c.acTable!;
      for (; k <= se; k++) {
        const rs = r.decode(ac);
        let run = rs >> 4;
        let value = 0;
        if ((rs & 15) !== 0) {
          value = r.bit() ? p1 : m1; // newly nonzero coefficients are always +-1 at this bit
        } else if (run !== 15) {
          eobrun = 1 << run;
          if (run) eobrun += r.receive(run);
          break;
        }
        // Skip `run` zero coefficients, refining the nonzero ones passed on the way.
        while (k <= se) {
          const i = off + NATURAL[k];
          if (coef[i] !== 0) refineNonzero(coef, i);
          else if (--run < 0) break;
          k++;
        }
        if (value !== 0 && k <= 63) coef[off + NATURAL[k]] = value;
      }
    }
    if (eobrun > 0) {
      for (; k <= se; k++) {
        const i = off + NATURAL[k];
        if (coef[i] !== 0) refineNonzero(coef, i);
      }
      eobrun--;
    }
  };
  const block: BlockFn = !progressive ? baseline : ss === 0 ? (ah === 0 ? dcFirst : dcRefine) : ah === 0 ? acFirst : acRefine;

  const check = () => {
    if (r.overrun) {
      fail(r.atEnd ? 'truncated JPEG (image data ends early)' : `corrupt JPEG (entropy-coded data cut short by a marker at byte ${r.pos})`);
    }
  };
  const restart = () => {
    r.reset();
    let p = r.pos;
    while (p < d.length && d[p] !== 0xff) p++;
    while (p < d.length && d[p] === 0xff) p++;
    if (p >= d.length) fail('truncated JPEG (image data ends early)');
    if (d[p] < 0xd0 || d[p] > 0xd7) fail(`corrupt JPEG (expected a restart marker at byte ${p - 1})`);
    r.pos = p + 1;
    for (const c of comps) c.pred = 0;
    eobrun = 0;
  };

  let mcu = 0;
  if (n === 1) {
    // Non-interleaved: one block per MCU, covering only the component's real blocks.
    const c = comps[0];
    const bw = Math.ceil(c.width / 8);
    const bh = Math.ceil(c.height / 8);
    const total = bw * bh;
    for (let y = 0; y < bh; y++) {
      for (let x = 0; x < bw; x++) {
        block(c, (y * c.blocksPerLine + x) * 64);
        check();
        mcu++;
        if (restartInterval > 0 && mcu % restartInterval === 0 && mcu < total) restart();
      }
    }
  } else {
    const total = frame.mcusX * frame.mcusY;
    for (let my = 0; my < frame.mcusY; my++) {
      for (let mx = 0; mx < frame.mcusX; mx++) {
        for (const c of comps) {
          for (let v = 0; v < c.v; v++) {
            const row = (my * c.v + v) * c.blocksPerLine + mx * c.h;
            for (let h = 0; h < c.h; h++) block(c, (row + h) * 64);
          }
        }
        check();
        mcu++;
        if (restartInterval > 0 && mcu % restartInterval === 0 && mcu < total) restart();
      }
    }
  }
  return r.pos;
}

function colorSpace(frame: Frame, jfif: boolean, adobeTransform: number): ColorSpace {
  const c = frame.comps;
  if (c.length === 1) return 'gray';
  if (c.length === 3) {
    // libjpeg's guess (jdapimin.c default_decompress_parms), which Pillow leaves alone.
    if (jfif) return 'ycbcr';
    if (adobeTransform >= 0) return adobeTransform === 0 ? 'rgb' : 'ycbcr';
    if (c[0].id === 82 && c[1].id === 71 && c[2].id === 66) return 'rgb';
    return 'ycbcr';
  }
  if (adobeTransform >= 0) return adobeTransform === 0 ? 'cmyk' : 'ycck';
  return 'cmyk';
}

function render(frame: Frame, space: ColorSpace): RgbImage {
  const ws = new Int32Array(64);
  const planes: Plane[] = frame.comps.map((c) => {
    const stride = c.blocksPerLine * 8;
    const bw = Math.ceil(c.width / 8);
    const bh = Math.ceil(c.height / 8);
    const data = new Uint8Array(stride * bh * 8);
    for (let by = 0; by < bh; by++) {
      for (let bx = 0; bx < bw; bx++) {
        idctIslow(c.coef, (by * c.blocksPerLine + bx) * 64, c.quant!, data, by * 8 * stride + bx * 8, stride, ws);
      }
    }
    const hr = frame.hMax / c.h;
    const vr = frame.vMax / c.v;
    if (!Number.isInteger(hr) || !Number.isInteger(vr)) {
      fail(`unsupported JPEG (sampling factors ${c.h}x${c.v} do not divide ${frame.hMax}x${frame.vMax})`);
    }
    return upsample({ data, stride, width: c.width, height: c.height }, hr, vr);
  });
  return { width: frame.width, height: frame.height, data: toRgb(planes, space, frame.width, frame.height) };
}
