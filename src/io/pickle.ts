/**
 * A safe Python pickle reader (protocols 0 to 5). It interprets opcodes into
 * plain JS values and never runs anything: a global is only ever looked up in
 * the caller's allowlist, and any other global is refused with an error that
 * names it. This is what makes loading an untrusted `.pth` file harmless.
 *
 * Value mapping: None -> null, bool -> boolean, int -> number (bigint when it
 * does not fit a double exactly), float -> number, str -> string,
 * bytes/bytearray -> Uint8Array, list -> array, tuple -> frozen array,
 * dict -> PickleDict, set/frozenset -> Set.
 */

/** A Python dict (or OrderedDict): keeps insertion order and any BUILD state. */
export class PickleDict {
  readonly map = new Map<unknown, unknown>();
  /** Attributes set by BUILD (an OrderedDict's `_metadata`, for instance). */
  state: unknown = undefined;
  constructor(readonly className = 'dict') {}
}

/** An allowlisted global. `call` makes it usable by REDUCE/NEWOBJ; without it, it is only a value (a storage type). */
export class PickleGlobal {
  constructor(
    readonly module: string,
    readonly name: string,
    readonly call?: (args: readonly unknown[]) => unknown,
  ) {}

  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

export interface UnpickleOptions {
  /** File name used in every error message. */
  name?: string;
  /** Allowed globals by `module.name`. Everything else is refused. */
  globals: ReadonlyMap<string, PickleGlobal>;
  /** Resolves BINPERSID/PERSID ids (torch uses them for tensor storages). Without it, persistent ids are refused. */
  persistentLoad?: (pid: unknown) => unknown;
  /** Where the pickle starts within `bytes` (legacy .pth files hold several pickles back to back). */
  offset?: number;
}

export interface UnpickleResult {
  value: unknown;
  /** Offset just past the STOP opcode. */
  end: number;
}

const MARK = Symbol('mark');

/** Modules whose globals are plain functions, never an nn.Module class, so a refusal there is a generic one. */
const NON_MODEL_MODULES = /^(builtins|__builtin__|os|posix|nt|subprocess|sys|socket|shutil|importlib|runpy|code|codeop|pickle|_pickle|io|codecs|_codecs|functools|operator|types|webbrowser|numpy|collections|copyreg|copy_reg|torch($|\.(?!nn\.modules)))/;

/** True when `module.name` looks like a class of a pickled model rather than a plain function. */
export function looksLikeModelClass(module: string, name: string): boolean {
  if (module === '__main__' || module.startsWith('__main__.')) return true;
  if (module.startsWith('torch.nn.modules') || module.startsWith('torchvision.models')) return true;
  return /^[A-Z]/.test(name) && !NON_MODEL_MODULES.test(module);
}

/** The error for a global outside the allowlist. */
export function refusedGlobalError(file: string, module: string, name: string): Error {
  const qualified = `${module}.${name}`;
  if (looksLikeModelClass(module, name)) {
    return new Error(
      `${file}: refusing to load global '${qualified}': the file holds a whole pickled model, not weights. ` +
        `Nothing was executed. Save the weights with torch.save(model.state_dict(), path) instead.`,
    );
  }
  return new Error(`${file}: refusing to load global '${qualified}' (only state_dict tensors are allowed; nothing was executed)`);
}

class Reader {
  pos: number;
  constructor(
    readonly bytes: Uint8Array,
    readonly file: string,
    start: number,
  ) {
    this.pos = start;
  }

  truncated(what: string): Error {
    return new Error(`${this.file}: pickle data is truncated (${what} at byte ${this.pos} runs past the end, ${this.bytes.length} bytes)`);
  }

  need(n: number, what: string): number {
    if (n < 0 || this.pos + n > this.bytes.length) throw this.truncated(what);
    const at = this.pos;
    this.pos += n;
    return at;
  }

  u8(): number {
    return this.bytes[this.need(1, 'opcode argument')];
  }

  u16(): number {
    const at = this.need(2, 'uint16');
    return this.bytes[at] | (this.bytes[at + 1] << 8);
  }

  u32(): number {
    const at = this.need(4, 'uint32');
    const b = this.bytes;
    return (b[at] | (b[at + 1] << 8) | (b[at + 2] << 16)) + b[at + 3] * 0x1000000;
  }

  i32(): number {
    const at = this.need(4, 'int32');
    const b = this.bytes;
    return b[at] | (b[at + 1] << 8) | (b[at + 2] << 16) | (b[at + 3] << 24);
  }

  u64(): number {
    const lo = this.u32();
    const hi = this.u32();
    const v = hi * 0x100000000 + lo;
    if (!Number.isSafeInteger(v)) throw new Error(`${this.file}: pickle length ${v} is too large`);
    return v;
  }

  f64be(): number {
    const at = this.need(8, 'float64');
    return new DataView(this.bytes.buffer, this.bytes.byteOffset + at, 8).getFloat64(0, false);
  }

  take(n: number, what: string): Uint8Array {
    const at = this.need(n, what);
    return this.bytes.subarray(at, at + n);
  }

  line(): string {
    const nl = this.bytes.indexOf(0x0a, this.pos);
    if (nl < 0) throw this.truncated('text line');
    const s = latin1(this.bytes.subarray(this.pos, nl));
    this.pos = nl + 1;
    return s;
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: false });

function latin1(b: Uint8Array): string {
  let s = '';
  for (let i = 0; i < b.length; i += 8192) s += String.fromCharCode(...b.subarray(i, i + 8192));
  return s;
}

/** Two's-complement little-endian integer (LONG1/LONG4), as a number when it is exact. */
function decodeLong(b: Uint8Array): number | bigint {
  if (b.length === 0) return 0;
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  if (b[b.length - 1] & 0x80) v -= 1n << BigInt(8 * b.length);
  return normalizeInt(v);
}

function normalizeInt(v: bigint): number | bigint {
  return v >= BigInt(Number.MIN_SAFE_INTEGER) && v <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(v) : v;
}

function parseTextInt(s: string, file: string): number | bigint | boolean {
  const t = s.trim().replace(/L$/, '');
  if (t === '00') return false;
  if (t === '01') return true;
  if (!/^[-+]?\d+$/.test(t)) throw new Error(`${file}: bad integer '${s}' in pickle`);
  return normalizeInt(BigInt(t));
}

/** Python 2 `repr()` of a str, as written by the text STRING opcode. */
function parseQuotedString(s: string, file: string): string {
  const q = s[0];
  if (s.length < 2 || (q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new Error(`${file}: bad STRING argument in pickle`);
  return s.slice(1, -1).replace(/\\(x[0-9a-fA-F]{2}|[0-7]{1,3}|.)/g, (_, e: string) => {
    if (e[0] === 'x') return String.fromCharCode(parseInt(e.slice(1), 16));
    if (/^[0-7]/.test(e)) return String.fromCharCode(parseInt(e, 8));
    return ({ n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"' } as Record<string, string>)[e] ?? `\\${e}`;
  });
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_, u: string, U: string) => String.fromCodePoint(parseInt(u ?? U, 16)));
}

/**
 * Runs the pickle VM over `bytes` from `opts.offset` to the STOP opcode and
 * returns the unpickled value. Throws, naming `opts.name`, on refused globals,
 * malformed or truncated data.
 */
export function unpickle(bytes: Uint8Array, opts: UnpickleOptions): UnpickleResult {
  const file = opts.name ?? '<bytes>';
  const r = new Reader(bytes, file, opts.offset ?? 0);
  const stack: unknown[] = [];
  const marks: number[] = [];
  const memo = new Map<number, unknown>();

  const fail = (msg: string): Error => new Error(`${file}: ${msg} (pickle byte ${r.pos})`);
  const pop = (): unknown => {
    if (stack.length === 0 || (marks.length && stack.length <= marks[marks.length - 1])) throw fail('pickle stack underflow');
    return stack.pop();
  };
  const top = (): unknown => {
    if (stack.length === 0) throw fail('pickle stack underflow');
    return stack[stack.length - 1];
  };
  const popMark = (): unknown[] => {
    const m = marks.pop();
    if (m === undefined) throw fail('pickle MARK missing');
    return stack.splice(m);
  };
  const resolveGlobal = (module: string, name: string): PickleGlobal => {
    const g = opts.globals.get(`${module}.${name}`);
    if (!g) throw refusedGlobalError(file, module, name);
    return g;
  };
  const callGlobal = (f: unknown, args: unknown, op: string): unknown => {
    if (!(f instanceof PickleGlobal) || !f.call) throw fail(`${op} applied to something that is not an allowed callable`);
    if (!Array.isArray(args)) throw fail(`${op} arguments are not a tuple`);
    return f.call(args);
  };
  const setItems = (dict: unknown, items: unknown[]): void => {
    if (!(dict instanceof PickleDict)) throw fail('SETITEM(S) target is not a dict');
    if (items.length % 2) throw fail('SETITEMS with an odd number of items');
    for (let i = 0; i < items.length; i += 2) dict.map.set(items[i], items[i + 1]);
  };
  const appendItems = (list: unknown, items: unknown[]): void => {
    if (!Array.isArray(list) || Object.isFrozen(list)) throw fail('APPEND(S) target is not a list');
    for (const x of items) list.push(x);
  };
  const persistent = (pid: unknown): unknown => {
    if (!opts.persistentLoad) throw fail('persistent id found, but this pickle may not reference external data');
    return opts.persistentLoad(pid);
  };
  const memoGet = (i: number): unknown => {
    if (!memo.has(i)) throw fail(`memo key ${i} read before it was written`);
    return memo.get(i);
  };

  for (;;) {
    if (r.pos >= bytes.length) throw r.truncated('opcode');
    const op = bytes[r.pos++];
    switch (op) {
      case 0x80: // PROTO
        if (r.u8() > 5) throw fail('unsupported pickle protocol');
        break;
      case 0x95: // FRAME: frames are inline, their length is only a read-ahead hint
        r.u64();
        break;
      case 0x2e: // STOP
        if (stack.length !== 1 || marks.length) throw fail('pickle ended with a malformed stack');
        return { value: stack[0], end: r.pos };
      case 0x28: // MARK
        marks.push(stack.length);
        break;
      case 0x30: // POP
        if (marks.length && stack.length === marks[marks.length - 1]) marks.pop();
        else pop();
        break;
      case 0x31: // POP_MARK
        popMark();
        break;
      case 0x32: // DUP
        stack.push(top());
        break;

      case 0x4e: // NONE
        stack.push(null);
        break;
      case 0x88: // NEWTRUE
        stack.push(true);
        break;
      case 0x89: // NEWFALSE
        stack.push(false);
        break;
      case 0x4b: // BININT1
        stack.push(r.u8());
        break;
      case 0x4d: // BININT2
        stack.push(r.u16());
        break;
      case 0x4a: // BININT
        stack.push(r.i32());
        break;
      case 0x8a: // LONG1
        stack.push(decodeLong(r.take(r.u8(), 'LONG1')));
        break;
      case 0x8b: {
        // LONG4
        const n = r.i32();
        stack.push(decodeLong(r.take(n, 'LONG4')));
        break;
      }
      case 0x49: // INT
        stack.push(parseTextInt(r.line(), file));
        break;
      case 0x4c: // LONG
        stack.push(parseTextInt(r.line(), file));
        break;
      case 0x47: // BINFLOAT
        stack.push(r.f64be());
        break;
      case 0x46: {
        // FLOAT
        const s = r.line().trim();
        const v = Number(s);
        if (Number.isNaN(v) && s.toLowerCase() !== 'nan') throw fail(`bad float '${s}'`);
        stack.push(v);
        break;
      }

      case 0x58: // BINUNICODE
        stack.push(utf8.decode(r.take(r.u32(), 'BINUNICODE')));
        break;
      case 0x8c: // SHORT_BINUNICODE
        stack.push(utf8.decode(r.take(r.u8(), 'SHORT_BINUNICODE')));
        break;
      case 0x8d: // BINUNICODE8
        stack.push(utf8.decode(r.take(r.u64(), 'BINUNICODE8')));
        break;
      case 0x56: // UNICODE
        stack.push(rawUnicodeEscape(r.line()));
        break;
      case 0x54: {
        // BINSTRING: Python 2 str; torch.load decodes these as UTF-8
        const n = r.i32();
        stack.push(utf8.decode(r.take(n, 'BINSTRING')));
        break;
      }
      case 0x55: // SHORT_BINSTRING
        stack.push(utf8.decode(r.take(r.u8(), 'SHORT_BINSTRING')));
        break;
      case 0x53: // STRING
        stack.push(parseQuotedString(r.line(), file));
        break;
      case 0x42: // BINBYTES
        stack.push(r.take(r.u32(), 'BINBYTES').slice());
        break;
      case 0x43: // SHORT_BINBYTES
        stack.push(r.take(r.u8(), 'SHORT_BINBYTES').slice());
        break;
      case 0x8e: // BINBYTES8
        stack.push(r.take(r.u64(), 'BINBYTES8').slice());
        break;
      case 0x96: // BYTEARRAY8
        stack.push(r.take(r.u64(), 'BYTEARRAY8').slice());
        break;
      case 0x97: // NEXT_BUFFER
      case 0x98: // READONLY_BUFFER
        throw fail('out-of-band pickle buffers are not supported');

      case 0x29: // EMPTY_TUPLE
        stack.push(Object.freeze([]));
        break;
      case 0x85: // TUPLE1
        stack.push(Object.freeze([pop()]));
        break;
      case 0x86: {
        // TUPLE2
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b]));
        break;
      }
      case 0x87: {
        // TUPLE3
        const c = pop();
        const b = pop();
        const a = pop();
        stack.push(Object.freeze([a, b, c]));
        break;
      }
      case 0x74: // TUPLE
        stack.push(Object.freeze(popMark()));
        break;
      case 0x5d: // EMPTY_LIST
        stack.push([]);
        break;
      case 0x6c: // LIST
        stack.push(popMark());
        break;
      case 0x61: {
        // APPEND
        const x = pop();
        appendItems(top(), [x]);
        break;
      }
      case 0x65: {
        // APPENDS
        const items = popMark();
        appendItems(top(), items);
        break;
      }
      case 0x7d: // EMPTY_DICT
        stack.push(new PickleDict());
        break;
      case 0x64: {
        // DICT
        const d = new PickleDict();
        setItems(d, popMark());
        stack.push(d);
        break;
      }
      case 0x73: {
        // SETITEM
        const v = pop();
        const k = pop();
        setItems(top(), [k, v]);
        break;
      }
      case 0x75: {
        // SETITEMS
        const items = popMark();
        setItems(top(), items);
        break;
      }
      case 0x8f: // EMPTY_SET
        stack.push(new Set());
        break;
      case 0x90: {
        // ADDITEMS
        const items = popMark();
        const s = top();
        if (!(s instanceof Set)) throw fail('ADDITEMS target is not a set');
        for (const x of items) s.add(x);
        break;
      }
      case 0x91: // FROZENSET
        stack.push(new Set(popMark()));
        break;

      case 0x70: // PUT
        memo.set(Number(r.line()), top());
        break;
      case 0x71: // BINPUT
        memo.set(r.u8(), top());
        break;
      case 0x72: // LONG_BINPUT
        memo.set(r.u32(), top());
        break;
      case 0x94: // MEMOIZE
        memo.set(memo.size, top());
        break;
      case 0x67: // GET
        stack.push(memoGet(Number(r.line())));
        break;
      case 0x68: // BINGET
        stack.push(memoGet(r.u8()));
        break;
      case 0x6a: // LONG_BINGET
        stack.push(memoGet(r.u32()));
        break;

      case 0x63: {
        // GLOBAL
        const module = r.line();
        const name = r.line();
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x93: {
        // STACK_GLOBAL
        const name = pop();
        const module = pop();
        if (typeof module !== 'string' || typeof name !== 'string') throw fail('STACK_GLOBAL needs two strings');
        stack.push(resolveGlobal(module, name));
        break;
      }
      case 0x69: {
        // INST: GLOBAL and call in one opcode
        const module = r.line();
        const name = r.line();
        const g = resolveGlobal(module, name);
        stack.push(callGlobal(g, popMark(), 'INST'));
        break;
      }
      case 0x6f: {
        // OBJ
        const items = popMark();
        if (items.length === 0) throw fail('OBJ without a class');
        stack.push(callGlobal(items[0], items.slice(1), 'OBJ'));
        break;
      }
      case 0x52: {
        // REDUCE
        const args = pop();
        const f = pop();
        stack.push(callGlobal(f, args, 'REDUCE'));
        break;
      }
      case 0x81: {
        // NEWOBJ: cls.__new__(cls, *args); our allowed classes build the same way as a call
        const args = pop();
        const cls = pop();
        stack.push(callGlobal(cls, args, 'NEWOBJ'));
        break;
      }
      case 0x92: {
        // NEWOBJ_EX
        const kwargs = pop();
        const args = pop();
        const cls = pop();
        if (!(kwargs instanceof PickleDict) || kwargs.map.size) throw fail('NEWOBJ_EX with keyword arguments is not supported');
        stack.push(callGlobal(cls, args, 'NEWOBJ_EX'));
        break;
      }
      case 0x62: {
        // BUILD: only dicts take state here (an OrderedDict's `_metadata`); nothing's __setstate__ is ever called
        const state = pop();
        const obj = top();
        if (!(obj instanceof PickleDict)) throw fail('BUILD on an object that is not a dict');
        obj.state = state;
        break;
      }
      case 0x51: // BINPERSID
        stack.push(persistent(pop()));
        break;
      case 0x50: // PERSID
        stack.push(persistent(r.line()));
        break;
      case 0x82: // EXT1
      case 0x83: // EXT2
      case 0x84: // EXT4
        throw fail('pickle extension registry codes are not supported');
      default:
        throw fail(`unknown pickle opcode 0x${op.toString(16).padStart(2, '0')} (not a pickle, or corrupted)`);
    }
  }
}
