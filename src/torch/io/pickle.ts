// A protocol-2 pickle writer for the PyValue model, producing the same opcode shapes as CPython's
// pickler does for these types (so that torch.load, and any Python, reads back the same values):
// ints as BININT1/BININT2/BININT/LONG1, floats as BINFLOAT, str as BINUNICODE, dict/list filled in
// batches of 1000 via SETITEMS/APPENDS, OrderedDict via REDUCE + SETITEMS + BUILD of its __dict__,
// every object memoized so that shared references stay shared. Reading is in unpickle.ts.
import {
  type PyValue, PyGlobal, PyObject, PyOrderedDict, PyPersistent, PySet, PyTuple, isRawTensor, pyTypeName,
} from './pyvalue.js';

export { unpickle, decodeLong, type PyCallable, type UnpickleOptions, type UnpickleResult } from './unpickle.js';

export interface PickleOptions {
  /**
   * Turns a value the model cannot pickle by itself (a RawTensor) into its reduction recipe,
   * e.g. torch._utils._rebuild_tensor_v2(...) with a persistent storage id.
   */
  reduce?: (v: PyValue) => PyObject | undefined;
  /** Which PyPersistent ids may be written (default: all); .pth refuses ids it did not create. */
  allowPersistent?: (p: PyPersistent) => boolean;
}

const BATCH = 1000;

/** Pickles `value` with protocol 2. */
export function pickle(value: PyValue, opts: PickleOptions = {}): Uint8Array {
  const p = new Pickler(opts);
  p.emit(0x80, 2); // PROTO 2
  p.save(value);
  p.emit(0x2e); // STOP
  return p.out.bytes();
}

/**
 * An append-only byte buffer kept as a list of chunks: weights are most of a pickle's bytes, and
 * growing one buffer by doubling would copy them again and again; here they are copied once, by bytes().
 */
class ByteSink {
  private static readonly CHUNK = 1 << 16;
  private readonly done: Uint8Array[] = [];
  private doneBytes = 0;
  private buf = new Uint8Array(ByteSink.CHUNK);
  private len = 0;
  private dv = new DataView(this.buf.buffer);
  /** Makes room for `n` contiguous bytes at `len`. */
  private ensure(n: number): void {
    if (this.len + n <= this.buf.byteLength) return;
    this.done.push(this.buf.subarray(0, this.len));
    this.doneBytes += this.len;
    this.buf = new Uint8Array(Math.max(ByteSink.CHUNK, n));
    this.len = 0;
    this.dv = new DataView(this.buf.buffer);
  }
  u8(...v: number[]): void { this.ensure(v.length); for (const x of v) this.buf[this.len++] = x; }
  u16(v: number): void { this.ensure(2); this.dv.setUint16(this.len, v, true); this.len += 2; }
  u32(v: number): void { this.ensure(4); this.dv.setUint32(this.len, v, true); this.len += 4; }
  i32(v: number): void { this.ensure(4); this.dv.setInt32(this.len, v, true); this.len += 4; }
  f64be(v: number): void { this.ensure(8); this.dv.setFloat64(this.len, v, false); this.len += 8; }
  raw(b: Uint8Array): void { this.ensure(b.byteLength); this.buf.set(b, this.len); this.len += b.byteLength; }
  /** The bytes read as latin-1 text, written as UTF-8 (bytes ≥ 0x80 take two): how protocol 2 spells bytes. */
  latin1AsUtf8(b: Uint8Array, utf8Length: number): void {
    this.ensure(utf8Length);
    // locals, not fields, in the loop: this runs over every byte of every weight
    const buf = this.buf, n = b.byteLength;
    let o = this.len;
    for (let i = 0; i < n; i++) {
      const x = b[i];
      if (x < 0x80) buf[o++] = x;
      else { buf[o++] = 0xc0 | (x >> 6); buf[o++] = 0x80 | (x & 0x3f); }
    }
    this.len = o;
  }
  bytes(): Uint8Array {
    const out = new Uint8Array(this.doneBytes + this.len);
    let o = 0;
    for (const c of this.done) { out.set(c, o); o += c.byteLength; }
    out.set(this.buf.subarray(0, this.len), o);
    return out;
  }
}

/** Little-endian two's complement with the fewest bytes, as CPython's encode_long. */
export function encodeLong(v: bigint): Uint8Array {
  if (v === 0n) return new Uint8Array(0);
  const out: number[] = [];
  let x = v;
  for (;;) {
    out.push(Number(x & 0xffn));
    x >>= 8n; // arithmetic shift: stays -1 for negatives
    const signBit = out[out.length - 1] & 0x80;
    if ((x === 0n && !signBit) || (x === -1n && signBit)) break;
  }
  return Uint8Array.from(out);
}

class Pickler {
  readonly out = new ByteSink();
  private readonly memo = new Map<unknown, number>();
  private readonly globals = new Map<string, number>();
  private readonly strings = new Map<string, number>();
  /** memo slots of the empty (-1) and one-byte bytes objects written so far */
  private readonly singleBytes = new Map<number, number>();
  private readonly path: string[] = [];
  private readonly enc = new TextEncoder();
  private nextMemo = 0;

  constructor(private readonly opts: PickleOptions) {}

  emit(...b: number[]): void { this.out.u8(...b); }

  private put(): number {
    const i = this.nextMemo++;
    if (i < 256) this.emit(0x71, i); // BINPUT
    else { this.emit(0x72); this.out.u32(i); } // LONG_BINPUT
    return i;
  }

  private getMemo(i: number): void {
    if (i < 256) this.emit(0x68, i); // BINGET
    else { this.emit(0x6a); this.out.u32(i); } // LONG_BINGET
  }

  private fail(v: PyValue, why: string): never {
    const where = this.path.length ? ` at ${this.path.join('')}` : '';
    throw new Error(`pickle: cannot write ${pyTypeName(v)}${where}: ${why}`);
  }

  save(v: PyValue): void {
    if (v === null) { this.emit(0x4e); return; } // NONE
    if (v === true) { this.emit(0x88); return; }
    if (v === false) { this.emit(0x89); return; }
    if (typeof v === 'bigint') { this.saveInt(v); return; }
    if (typeof v === 'number') { this.emit(0x47); this.out.f64be(v); return; } // BINFLOAT
    if (typeof v === 'string') { this.saveStr(v); return; }
    if (typeof v !== 'object') this.fail(v, `JS ${typeof v} has no Python counterpart (ints are bigint, floats number)`);
    const seen = this.memo.get(v);
    if (seen !== undefined) { this.getMemo(seen); return; }
    if (v instanceof PyGlobal) { this.saveGlobal(v); return; }
    if (v instanceof PyTuple) { this.saveTuple(v); return; }
    if (Array.isArray(v)) { this.saveList(v); return; }
    if (v instanceof PyOrderedDict) { this.saveOrderedDict(v); return; }
    if (v instanceof Map) { this.saveDict(v); return; }
    if (v instanceof PySet) {
      this.saveReduce(v, new PyGlobal('builtins', v.frozen ? 'frozenset' : 'set'), new PyTuple([v.items]));
      return;
    }
    if (v instanceof Uint8Array) { this.saveBytes(v); return; }
    if (v instanceof PyObject) { this.saveObject(v, v); return; }
    if (v instanceof PyPersistent) {
      if (this.opts.allowPersistent && !this.opts.allowPersistent(v)) this.fail(v, 'a bare storage/persistent id cannot be written here (only tensors)');
      this.save(v.pid);
      this.emit(0x51); // BINPERSID
      return;
    }
    const reduced = this.opts.reduce?.(v);
    if (reduced) { this.saveObject(reduced, v); return; }
    if (isRawTensor(v)) this.fail(v, 'tensors can only be written inside a .pth file (use savePth)');
    this.fail(v, 'plain JS objects are not Python values (use a Map for a dict)');
  }

  private saveInt(v: bigint): void {
    if (v >= 0n && v <= 0xffn) this.emit(0x4b, Number(v)); // BININT1
    else if (v >= 0n && v <= 0xffffn) { this.emit(0x4d); this.out.u16(Number(v)); } // BININT2
    else if (v >= -0x80000000n && v <= 0x7fffffffn) { this.emit(0x4a); this.out.i32(Number(v)); } // BININT
    else {
      const b = encodeLong(v);
      if (b.length < 256) this.emit(0x8a, b.length); // LONG1
      else { this.emit(0x8b); this.out.u32(b.length); } // LONG4
      this.out.raw(b);
    }
  }

  private saveStr(s: string): void {
    const seen = this.strings.get(s);
    if (seen !== undefined) { this.getMemo(seen); return; }
    const b = this.enc.encode(s);
    this.emit(0x58); // BINUNICODE
    this.out.u32(b.byteLength);
    this.out.raw(b);
    this.strings.set(s, this.put());
  }

  // Protocol 2 has no bytes opcode; CPython writes _codecs.encode(latin-1 text, 'latin1'). As in CPython,
  // the text is a fresh object each time (memoized but never shared by value: two equal weight tensors
  // stay two strings), while the empty and one-byte bytes objects are CPython singletons, shared.
  private saveBytes(b: Uint8Array): void {
    if (b.byteLength <= 1) {
      const single = this.singleBytes.get(b.byteLength ? b[0] : -1);
      if (single !== undefined) { this.getMemo(single); return; }
    }
    if (b.byteLength === 0) {
      this.saveReduce(b, new PyGlobal('builtins', 'bytes'), new PyTuple([]));
    } else {
      this.saveGlobal(new PyGlobal('_codecs', 'encode'));
      let high = 0;
      for (let i = 0, n = b.byteLength; i < n; i++) high += b[i] >> 7;
      this.emit(0x58); // BINUNICODE
      this.out.u32(b.byteLength + high);
      this.out.latin1AsUtf8(b, b.byteLength + high);
      this.put();
      this.saveStr('latin1');
      this.emit(0x86); // TUPLE2
      this.put();
      this.emit(0x52); // REDUCE
      this.memo.set(b, this.put());
    }
    if (b.byteLength <= 1) this.singleBytes.set(b.byteLength ? b[0] : -1, this.memo.get(b)!);
  }

  private saveGlobal(g: PyGlobal): void {
    // protocol 2 GLOBAL uses Python 2 module names, as CPython's fix_imports does
    const module = g.module === 'builtins' ? '__builtin__' : g.module === 'copyreg' ? 'copy_reg' : g.module;
    const key = `${module}\n${g.name}\n`;
    const seen = this.globals.get(key);
    if (seen !== undefined) { this.getMemo(seen); return; }
    this.emit(0x63); // GLOBAL
    this.out.raw(this.enc.encode(key));
    this.globals.set(key, this.put());
  }

  private saveTuple(t: PyTuple): void {
    const n = t.items.length;
    if (n === 0) { this.emit(0x29); return; } // EMPTY_TUPLE (never memoized, as in CPython)
    if (n > 3) this.emit(0x28); // MARK
    t.items.forEach((x, i) => this.child(`[${i}]`, x));
    // A tuple that contains itself through a list was memoized while saving its items.
    const seen = this.memo.get(t);
    if (seen !== undefined) {
      if (n > 3) this.emit(0x31); else for (let i = 0; i < n; i++) this.emit(0x30); // POP_MARK / POP
      this.getMemo(seen);
      return;
    }
    this.emit(n === 1 ? 0x85 : n === 2 ? 0x86 : n === 3 ? 0x87 : 0x74); // TUPLE1/2/3 / TUPLE
    this.memo.set(t, this.put());
  }

  private saveList(l: PyValue[]): void {
    this.emit(0x5d); // EMPTY_LIST
    this.memo.set(l, this.put());
    this.saveAppends(l);
  }

  /** Appends `items` to the list-like object on top of the stack. */
  private saveAppends(items: PyValue[]): void {
    for (let i = 0; i < items.length; i += BATCH) {
      const chunk = items.slice(i, i + BATCH);
      if (chunk.length > 1) this.emit(0x28);
      chunk.forEach((x, j) => this.child(`[${i + j}]`, x));
      this.emit(chunk.length > 1 ? 0x65 : 0x61); // APPENDS / APPEND
    }
  }

  private saveItems(d: Map<PyValue, PyValue>): void {
    const entries = [...d];
    for (let i = 0; i < entries.length; i += BATCH) {
      const chunk = entries.slice(i, i + BATCH);
      if (chunk.length > 1) this.emit(0x28);
      for (const [k, x] of chunk) {
        this.child('.key', k);
        this.child(`[${typeof k === 'string' ? JSON.stringify(k) : String(k)}]`, x);
      }
      this.emit(chunk.length > 1 ? 0x75 : 0x73); // SETITEMS / SETITEM
    }
  }

  private saveDict(d: Map<PyValue, PyValue>): void {
    this.emit(0x7d); // EMPTY_DICT
    this.memo.set(d, this.put());
    this.saveItems(d);
  }

  private saveOrderedDict(d: PyOrderedDict): void {
    this.saveGlobal(new PyGlobal('collections', 'OrderedDict'));
    this.emit(0x29, 0x52); // EMPTY_TUPLE REDUCE
    this.memo.set(d, this.put());
    this.saveItems(d);
    if (d.attrs.size > 0) {
      this.saveDict(new Map<PyValue, PyValue>(d.attrs));
      this.emit(0x62); // BUILD
    }
  }

  private saveReduce(key: object, fn: PyValue, args: PyTuple): void {
    this.save(fn);
    this.save(args);
    this.emit(0x52); // REDUCE
    this.memo.set(key, this.put());
  }

  /** Writes an object recipe; `key` is what later references to the same object are memoized by. */
  private saveObject(o: PyObject, key: object): void {
    this.child('.__class__', o.cls);
    this.child('.__args__', o.args);
    this.emit(o.viaNewobj ? 0x81 : 0x52); // NEWOBJ / REDUCE
    this.memo.set(key, this.put());
    this.saveAppends(o.listItems);
    this.saveItems(o.dictItems);
    if (o.state !== undefined) {
      this.child('.__state__', o.state);
      this.emit(0x62); // BUILD
    }
  }

  private child(seg: string, v: PyValue): void {
    this.path.push(seg);
    this.save(v);
    this.path.pop();
  }
}
