// A pickle reader for the subset that PyTorch checkpoints use: protocol 2 as torch.save writes it,
// plus the opcodes of protocols 0-1 and 3-5 that plain data needs. It never executes anything:
// GLOBAL only names a class/function, and REDUCE/NEWOBJ call one of a small set of known
// constructors (collections.OrderedDict, set, bytes, and whatever the caller adds, e.g. torch's
// tensor rebuild).
//
// Like PyTorch's `torch.load(weights_only=True)`, a global outside that allow-list makes reading
// fail, naming the global: an inert copy would be just as dangerous, because writing it back (savePth)
// hands the payload to the next Python `torch.load`. Only for files one trusts, `allowUnknownGlobals`
// keeps such objects as opaque PyObjects that round-trip. Either way the result is checked for
// nesting deeper than Python's pickler can write and for cycles, so walking it cannot overflow the stack.
import {
  type PyValue, PyGlobal, PyObject, PyOrderedDict, PyPersistent, PySet, PyTuple, isRawTensor, pyTypeName,
} from './pyvalue.js';

/** A known callable: receives REDUCE's argument tuple (or NEWOBJ's args), returns the object. */
export type PyCallable = (args: PyValue[]) => PyValue;

export interface UnpickleOptions {
  /** Resolves the pid of BINPERSID/PERSID; by default the pid is kept as a PyPersistent. */
  persistentLoad?: (pid: PyValue) => PyValue;
  /** Extra callables keyed by 'module.name'; they take precedence over the built-in ones. */
  callables?: Record<string, PyCallable>;
  /** Globals that may be named but are never called (e.g. torch's storage classes in persistent ids). */
  isKnownName?: (qualifiedName: string) => boolean;
  /**
   * Keep globals outside the allow-list as opaque PyGlobal/PyObject values instead of failing. Only
   * for files you trust: saving such a value again writes the same calls for Python to execute.
   */
  allowUnknownGlobals?: boolean;
  /** Prefix for error messages, e.g. the file name. */
  what?: string;
}

export interface UnpickleResult {
  value: PyValue;
  /** 'module.name' of every GLOBAL outside the allow-list (sorted, distinct; empty unless allowUnknownGlobals). */
  unknownGlobals: string[];
}

/**
 * Python's pickler recurses once per nesting level and stops at its recursion limit (1000), so no
 * real checkpoint is nested deeper; a deeper pickle is corrupt or hostile.
 */
export const MAX_PICKLE_DEPTH = 1000;

/** Python 2 module names that pickles written with fix_imports use. */
const MODULE_ALIASES: Record<string, string> = { __builtin__: 'builtins', copy_reg: 'copyreg' };

function latin1(s: string): Uint8Array {
  const b = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) b[i] = s.charCodeAt(i) & 0xff;
  return b;
}

/** Globals that are understood without being called (not reported as unknown). */
const KNOWN_NAMES = new Set(['builtins.object']);

/** Callables that only ever build plain data: the allow-list (with the caller's). */
const SAFE_CALLABLES: Record<string, PyCallable> = {
  'collections.OrderedDict': (args) => {
    const d = new PyOrderedDict();
    const init = args[0];
    if (Array.isArray(init)) {
      for (const kv of init) {
        const pair = kv instanceof PyTuple ? kv.items : Array.isArray(kv) ? kv : undefined;
        if (!pair || pair.length !== 2) throw new Error(`OrderedDict() argument must hold (key, value) pairs, got ${pyTypeName(kv)}`);
        d.set(pair[0], pair[1]);
      }
    }
    return d;
  },
  'builtins.set': (args) => new PySet(iterItems(args[0])),
  'builtins.frozenset': (args) => new PySet(iterItems(args[0]), true),
  'builtins.bytes': (args) => (args.length === 0 ? new Uint8Array(0) : bytesOf(args[0])),
  'builtins.bytearray': (args) => (args.length === 0 ? new Uint8Array(0) : bytesOf(args[0])),
  // protocol <3 writes bytes as _codecs.encode(str_of_latin1_chars, 'latin1')
  '_codecs.encode': (args) => {
    if (typeof args[0] !== 'string') throw new Error('_codecs.encode expects a str');
    const enc = typeof args[1] === 'string' ? args[1].toLowerCase().replace('-', '') : 'utf8';
    return enc === 'latin1' || enc === 'iso88591' ? latin1(args[0]) : new TextEncoder().encode(args[0]);
  },
};

/** With allowUnknownGlobals only: builds opaque objects of arbitrary classes. */
const TRUSTED_CALLABLES: Record<string, PyCallable> = {
  // protocols 0-1 spell `cls.__new__(cls)` for plain objects as _reconstructor(cls, object, None);
  // it becomes the same PyObject that protocol 2's NEWOBJ gives
  'copyreg._reconstructor': (args) => {
    const [cls, base, state] = args;
    if (base instanceof PyGlobal && base.qualifiedName === 'builtins.object' && state === null) {
      return new PyObject(cls, new PyTuple([]), true);
    }
    return new PyObject(new PyGlobal('copyreg', '_reconstructor'), new PyTuple(args));
  },
};

function iterItems(v: PyValue | undefined): PyValue[] {
  if (v === undefined) return [];
  if (Array.isArray(v)) return [...v];
  if (v instanceof PyTuple) return [...v.items];
  if (v instanceof PySet) return [...v.items];
  throw new Error(`expected an iterable, got ${pyTypeName(v)}`);
}

function bytesOf(v: PyValue): Uint8Array {
  if (v instanceof Uint8Array) return v;
  if (Array.isArray(v)) return Uint8Array.from(v.map((x) => Number(x)));
  throw new Error(`bytes() argument must be bytes or a list of ints, got ${pyTypeName(v)}`);
}

type Stack = PyValue[];

export function unpickle(data: Uint8Array, opts: UnpickleOptions = {}): UnpickleResult {
  return new Unpickler(data, opts).load();
}

class Unpickler {
  private pos = 0;
  private readonly dv: DataView;
  private stack: Stack = [];
  private readonly metastack: Stack[] = [];
  private readonly memo = new Map<number, PyValue>();
  private readonly unknown = new Set<string>();
  private readonly callables: Record<string, PyCallable>;
  private readonly what: string;

  constructor(private readonly data: Uint8Array, private readonly opts: UnpickleOptions) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength);
    this.callables = { ...SAFE_CALLABLES, ...(opts.allowUnknownGlobals ? TRUSTED_CALLABLES : {}), ...opts.callables };
    this.what = opts.what ? `${opts.what}: ` : '';
  }

  load(): UnpickleResult {
    try {
      const value = this.run();
      checkNesting(value);
      return { value, unknownGlobals: [...this.unknown].sort() };
    } catch (e) {
      const msg = (e as Error).message;
      throw new Error(`${this.what}pickle: ${msg}`);
    }
  }

  // ---- byte access ----
  private need(n: number): number {
    const p = this.pos;
    if (p + n > this.data.byteLength) throw new Error(`data is truncated (wanted ${n} bytes at offset ${p} of ${this.data.byteLength})`);
    this.pos += n;
    return p;
  }
  private u8(): number { return this.dv.getUint8(this.need(1)); }
  private u16(): number { return this.dv.getUint16(this.need(2), true); }
  private u32(): number { return this.dv.getUint32(this.need(4), true); }
  private u64(): number {
    const v = this.dv.getBigUint64(this.need(8), true);
    if (v > BigInt(this.data.byteLength)) throw new Error(`length ${v} exceeds the data (truncated or corrupt)`);
    return Number(v);
  }
  private bytes(n: number): Uint8Array {
    const p = this.need(n);
    return this.data.slice(p, p + n);
  }
  private utf8(n: number): string {
    const p = this.need(n);
    return new TextDecoder().decode(this.data.subarray(p, p + n));
  }
  private line(): string {
    const end = this.data.indexOf(0x0a, this.pos);
    if (end < 0) throw new Error('data is truncated (unterminated text line)');
    const s = new TextDecoder('latin1').decode(this.data.subarray(this.pos, end));
    this.pos = end + 1;
    return s;
  }

  // ---- stack ----
  private push(v: PyValue): void { this.stack.push(v); }
  private pop(): PyValue {
    if (this.stack.length === 0) throw new Error(`stack underflow at offset ${this.pos - 1} (corrupt pickle)`);
    return this.stack.pop() as PyValue;
  }
  private top(): PyValue {
    if (this.stack.length === 0) throw new Error(`stack underflow at offset ${this.pos - 1} (corrupt pickle)`);
    return this.stack[this.stack.length - 1];
  }
  private popMark(): PyValue[] {
    const items = this.stack;
    const prev = this.metastack.pop();
    if (!prev) throw new Error(`no MARK before offset ${this.pos - 1} (corrupt pickle)`);
    this.stack = prev;
    return items;
  }
  private get(i: number): PyValue {
    if (!this.memo.has(i)) throw new Error(`memo key ${i} is not defined (corrupt pickle)`);
    return this.memo.get(i) as PyValue;
  }

  private global(module: string, name: string, at: number): PyGlobal {
    const m = MODULE_ALIASES[module] ?? module;
    const g = new PyGlobal(m, name);
    const q = g.qualifiedName;
    if (!Object.hasOwn(this.callables, q) && !KNOWN_NAMES.has(q) && !this.opts.isKnownName?.(q)) {
      if (!this.opts.allowUnknownGlobals) {
        throw new Error(`refuses to load global ${q} (offset ${at}): it is not on the allow-list of checkpoint types ` +
          '(tensors, storages, OrderedDict, set, bytes, plain values); only for a file you trust, load it with allowUnknownGlobals');
      }
      this.unknown.add(q);
    }
    return g;
  }

  private call(fn: PyValue, args: PyTuple, viaNewobj: boolean): PyValue {
    if (fn instanceof PyGlobal && Object.hasOwn(this.callables, fn.qualifiedName)) {
      try {
        return this.callables[fn.qualifiedName](args.items);
      } catch (e) {
        throw new Error(`${fn.qualifiedName}(): ${(e as Error).message}`);
      }
    }
    if (!this.opts.allowUnknownGlobals) {
      // a known name that is not a constructor (builtins.object, a storage class) or a non-global
      throw new Error(`refuses to call ${fn instanceof PyGlobal ? fn.qualifiedName : pyTypeName(fn)}: not a constructor this reader knows`);
    }
    return new PyObject(fn, args, viaNewobj);
  }

  private setItems(target: PyValue, kv: PyValue[]): void {
    if (kv.length % 2) throw new Error('SETITEMS with an odd number of items (corrupt pickle)');
    const put = target instanceof Map ? (k: PyValue, v: PyValue) => target.set(k, v)
      : target instanceof PyObject ? (k: PyValue, v: PyValue) => target.dictItems.set(k, v)
        : undefined;
    if (!put) throw new Error(`cannot set items on ${pyTypeName(target)}`);
    for (let i = 0; i < kv.length; i += 2) put(kv[i], kv[i + 1]);
  }

  private appendItems(target: PyValue, items: PyValue[]): void {
    const list = Array.isArray(target) ? target : target instanceof PyObject ? target.listItems : undefined;
    if (!list) throw new Error(`cannot append to ${pyTypeName(target)}`);
    for (const v of items) list.push(v);   // not push(...items): a huge APPENDS would overflow the call
  }

  private build(target: PyValue, state: PyValue): void {
    if (target instanceof PyOrderedDict) {
      // state is the instance __dict__, or (dict | None, slots dict)
      const parts = state instanceof PyTuple ? state.items : [state];
      for (const part of parts) {
        if (part === null) continue;
        if (!(part instanceof Map)) throw new Error(`OrderedDict state must be a dict, got ${pyTypeName(part)}`);
        for (const [k, v] of part) {
          if (typeof k !== 'string') throw new Error(`OrderedDict attribute names must be str, got ${pyTypeName(k)}`);
          target.attrs.set(k, v);
        }
      }
    } else if (target instanceof PyObject) {
      target.state = state;
    } else if (isRawTensor(target)) {
      // Tensor.__setstate__ carries only autograd flags (requires_grad, hooks); a RawTensor has none.
    } else {
      throw new Error(`BUILD on ${pyTypeName(target)} is not supported`);
    }
  }

  private run(): PyValue {
    for (;;) {
      const at = this.pos;
      const op = this.u8();
      switch (op) {
        case 0x80: { // PROTO
          const v = this.u8();
          if (v > 5) throw new Error(`unsupported pickle protocol ${v}`);
          break;
        }
        case 0x95: this.u64(); break; // FRAME: frames are transparent to a reader of the whole data
        case 0x2e: return this.pop(); // STOP
        case 0x28: this.metastack.push(this.stack); this.stack = []; break; // MARK
        case 0x30: this.pop(); break; // POP
        case 0x31: this.popMark(); break; // POP_MARK
        case 0x32: this.push(this.top()); break; // DUP
        // ---- constants and numbers ----
        case 0x4e: this.push(null); break; // NONE
        case 0x88: this.push(true); break; // NEWTRUE
        case 0x89: this.push(false); break; // NEWFALSE
        case 0x4b: this.push(BigInt(this.u8())); break; // BININT1
        case 0x4d: this.push(BigInt(this.u16())); break; // BININT2
        case 0x4a: this.push(BigInt(this.dv.getInt32(this.need(4), true))); break; // BININT
        case 0x8a: this.push(decodeLong(this.bytes(this.u8()))); break; // LONG1
        case 0x8b: this.push(decodeLong(this.bytes(this.u32()))); break; // LONG4
        case 0x47: this.push(this.dv.getFloat64(this.need(8), false)); break; // BINFLOAT (big-endian)
        case 0x49: { // INT (text); protocol 0 spells bools I01/I00
          const s = this.line();
          this.push(s === '01' ? true : s === '00' ? false : parseIntText(s));
          break;
        }
        case 0x4c: this.push(parseIntText(this.line().replace(/L$/, ''))); break; // LONG (text)
        case 0x46: this.push(parseFloatText(this.line())); break; // FLOAT (text)
        // ---- strings and bytes ----
        case 0x58: this.push(this.utf8(this.u32())); break; // BINUNICODE
        case 0x8c: this.push(this.utf8(this.u8())); break; // SHORT_BINUNICODE
        case 0x8d: this.push(this.utf8(this.u64())); break; // BINUNICODE8
        case 0x56: this.push(rawUnicodeEscape(this.line())); break; // UNICODE (text)
        case 0x53: this.push(parseStringRepr(this.line())); break; // STRING (text)
        // Python 2 str: decoded as latin-1 so that no byte is lost
        case 0x54: this.push(new TextDecoder('latin1').decode(this.bytes(this.u32()))); break; // BINSTRING
        case 0x55: this.push(new TextDecoder('latin1').decode(this.bytes(this.u8()))); break; // SHORT_BINSTRING
        case 0x42: this.push(this.bytes(this.u32())); break; // BINBYTES
        case 0x43: this.push(this.bytes(this.u8())); break; // SHORT_BINBYTES
        case 0x8e: this.push(this.bytes(this.u64())); break; // BINBYTES8
        case 0x96: this.push(this.bytes(this.u64())); break; // BYTEARRAY8
        // ---- containers ----
        case 0x29: this.push(new PyTuple([])); break; // EMPTY_TUPLE
        case 0x85: this.push(new PyTuple([this.pop()])); break; // TUPLE1
        case 0x86: { const b = this.pop(); const a = this.pop(); this.push(new PyTuple([a, b])); break; } // TUPLE2
        case 0x87: { // TUPLE3
          const c = this.pop(); const b = this.pop(); const a = this.pop();
          this.push(new PyTuple([a, b, c]));
          break;
        }
        case 0x74: this.push(new PyTuple(this.popMark())); break; // TUPLE
        case 0x5d: this.push([]); break; // EMPTY_LIST
        case 0x6c: this.push(this.popMark()); break; // LIST
        case 0x7d: this.push(new Map()); break; // EMPTY_DICT
        case 0x64: { const d = new Map<PyValue, PyValue>(); this.setItems(d, this.popMark()); this.push(d); break; } // DICT
        case 0x8f: this.push(new PySet()); break; // EMPTY_SET
        case 0x91: this.push(new PySet(this.popMark(), true)); break; // FROZENSET
        case 0x61: { const v = this.pop(); this.appendItems(this.top(), [v]); break; } // APPEND
        case 0x65: { const items = this.popMark(); this.appendItems(this.top(), items); break; } // APPENDS
        case 0x73: { const v = this.pop(); const k = this.pop(); this.setItems(this.top(), [k, v]); break; } // SETITEM
        case 0x75: { const kv = this.popMark(); this.setItems(this.top(), kv); break; } // SETITEMS
        case 0x90: { // ADDITEMS
          const items = this.popMark();
          const s = this.top();
          if (!(s instanceof PySet)) throw new Error(`ADDITEMS on ${pyTypeName(s)}`);
          for (const v of items) s.items.push(v);
          break;
        }
        // ---- memo ----
        case 0x71: this.memo.set(this.u8(), this.top()); break; // BINPUT
        case 0x72: this.memo.set(this.u32(), this.top()); break; // LONG_BINPUT
        case 0x70: this.memo.set(Number(this.line()), this.top()); break; // PUT
        case 0x94: this.memo.set(this.memo.size, this.top()); break; // MEMOIZE
        case 0x68: this.push(this.get(this.u8())); break; // BINGET
        case 0x6a: this.push(this.get(this.u32())); break; // LONG_BINGET
        case 0x67: this.push(this.get(Number(this.line()))); break; // GET
        // ---- objects ----
        case 0x63: { const module = this.line(); const name = this.line(); this.push(this.global(module, name, at)); break; } // GLOBAL
        case 0x93: { // STACK_GLOBAL
          const name = this.pop(); const module = this.pop();
          if (typeof module !== 'string' || typeof name !== 'string') throw new Error('STACK_GLOBAL needs two str');
          this.push(this.global(module, name, at));
          break;
        }
        case 0x52: { // REDUCE
          const args = this.pop(); const fn = this.pop();
          if (!(args instanceof PyTuple)) throw new Error(`REDUCE arguments must be a tuple, got ${pyTypeName(args)}`);
          this.push(this.call(fn, args, false));
          break;
        }
        case 0x81: { // NEWOBJ: cls.__new__(cls, *args)
          const args = this.pop(); const cls = this.pop();
          if (!(args instanceof PyTuple)) throw new Error(`NEWOBJ arguments must be a tuple, got ${pyTypeName(args)}`);
          this.push(this.call(cls, args, true));
          break;
        }
        case 0x92: { // NEWOBJ_EX: keyword arguments are kept in the opaque object's args
          const kwargs = this.pop(); const args = this.pop(); const cls = this.pop();
          if (!(args instanceof PyTuple)) throw new Error('NEWOBJ_EX arguments must be a tuple');
          const all = kwargs instanceof Map && kwargs.size > 0 ? new PyTuple([...args.items, kwargs]) : args;
          this.push(this.call(cls, all, true));
          break;
        }
        case 0x62: { const state = this.pop(); this.build(this.top(), state); break; } // BUILD
        case 0x69: { // INST (protocol 0): class by name, args from the mark
          const module = this.line(); const name = this.line();
          this.push(this.call(this.global(module, name, at), new PyTuple(this.popMark()), false));
          break;
        }
        case 0x6f: { // OBJ (protocol 1): class and args from the mark
          const items = this.popMark();
          if (items.length === 0) throw new Error('OBJ without a class');
          this.push(this.call(items[0], new PyTuple(items.slice(1)), false));
          break;
        }
        case 0x51: { const pid = this.pop(); this.push(this.persistent(pid)); break; } // BINPERSID
        case 0x50: this.push(this.persistent(this.line())); break; // PERSID
        default:
          throw new Error(`unsupported opcode 0x${op.toString(16).padStart(2, '0')} at offset ${at} (not a checkpoint pickle, or corrupt)`);
      }
    }
  }

  private persistent(pid: PyValue): PyValue {
    return this.opts.persistentLoad ? this.opts.persistentLoad(pid) : new PyPersistent(pid);
  }
}

/**
 * Little-endian two's complement, as LONG1/LONG4 store it (empty = 0). Through one hex string, so a
 * LONG4 of megabytes costs linear time, not a shift per byte.
 */
export function decodeLong(b: Uint8Array): bigint {
  if (b.length === 0) return 0n;
  const v = BigInt(`0x${Buffer.from(b).reverse().toString('hex')}`);
  return b[b.length - 1] & 0x80 ? v - (1n << BigInt(8 * b.length)) : v;
}

/** The values a container holds (keys included), for the nesting check; [] for a leaf. */
function childrenOf(v: PyValue): PyValue[] {
  if (Array.isArray(v)) return v;
  if (v instanceof PyTuple) return v.items;
  if (v instanceof Map) {
    const out: PyValue[] = [];
    for (const [k, x] of v) out.push(k, x);
    if (v instanceof PyOrderedDict) for (const x of v.attrs.values()) out.push(x);
    return out;
  }
  if (v instanceof PySet) return v.items;
  if (v instanceof PyObject) {
    const out: PyValue[] = [v.cls, v.args, ...v.listItems];
    for (const [k, x] of v.dictItems) out.push(k, x);
    if (v.state !== undefined) out.push(v.state);
    return out;
  }
  if (v instanceof PyPersistent) return [v.pid];
  return [];
}

const isContainer = (v: PyValue): v is PyValue & object =>
  typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !(v instanceof PyGlobal) && !isRawTensor(v);

/**
 * Refuses a value nested deeper than MAX_PICKLE_DEPTH or containing itself (memo references can build
 * cycles), so that every later recursive walk (savePth, comparisons, conversions) is safe. Iterative,
 * and each shared container is measured once (memo references can also build exponentially many paths).
 */
function checkNesting(root: PyValue): void {
  const height = new Map<object, number>();   // finished containers: levels below and including them
  const onPath = new Set<object>();
  const frames: { node: object; kids: PyValue[]; i: number; h: number }[] = [];
  const enter = (v: PyValue & object): void => {
    if (frames.length >= MAX_PICKLE_DEPTH) throw new Error(`nesting deeper than ${MAX_PICKLE_DEPTH} levels, more than Python's pickle can write (corrupt or hostile file)`);
    onPath.add(v);
    frames.push({ node: v, kids: childrenOf(v), i: 0, h: 1 });
  };
  if (!isContainer(root)) return;
  enter(root);
  while (frames.length) {
    const f = frames[frames.length - 1];
    if (f.i < f.kids.length) {
      const k = f.kids[f.i++];
      if (!isContainer(k)) continue;
      if (onPath.has(k)) throw new Error(`a ${pyTypeName(k)} contains itself (a cyclic structure, which no checkpoint holds)`);
      const done = height.get(k);
      if (done === undefined) { enter(k); continue; }
      if (frames.length + done > MAX_PICKLE_DEPTH) throw new Error(`nesting deeper than ${MAX_PICKLE_DEPTH} levels, more than Python's pickle can write (corrupt or hostile file)`);
      f.h = Math.max(f.h, done + 1);
    } else {
      frames.pop();
      onPath.delete(f.node);
      height.set(f.node, f.h);
      if (frames.length) frames[frames.length - 1].h = Math.max(frames[frames.length - 1].h, f.h + 1);
    }
  }
}

function parseIntText(s: string): bigint {
  if (!/^[+-]?\d+$/.test(s.trim())) throw new Error(`bad integer literal ${JSON.stringify(s)}`);
  return BigInt(s.trim());
}

function parseFloatText(s: string): number {
  const t = s.trim().toLowerCase();
  if (t === 'nan') return NaN;
  if (t === 'inf') return Infinity;
  if (t === '-inf') return -Infinity;
  const v = Number(t);
  if (Number.isNaN(v)) throw new Error(`bad float literal ${JSON.stringify(s)}`);
  return v;
}

function rawUnicodeEscape(s: string): string {
  return s.replace(/\\u([0-9a-fA-F]{4})|\\U([0-9a-fA-F]{8})/g, (_m, a: string, b: string) =>
    String.fromCodePoint(parseInt(a ?? b, 16)));
}

// A Python 2 str repr: 'text' or "text" with backslash escapes.
function parseStringRepr(s: string): string {
  const q = s[0];
  if ((q !== "'" && q !== '"') || s[s.length - 1] !== q) throw new Error(`bad STRING literal ${JSON.stringify(s)}`);
  const body = s.slice(1, -1);
  const esc: Record<string, string> = { n: '\n', r: '\r', t: '\t', '\\': '\\', "'": "'", '"': '"', '0': '\0' };
  return body.replace(/\\(x[0-9a-fA-F]{2}|.)/g, (_m, e: string) =>
    e.length === 3 ? String.fromCharCode(parseInt(e.slice(1), 16)) : esc[e] ?? `\\${e}`);
}
