// Hostile and broken .pth files: each must fail with one clear line naming the file and the problem,
// before anything is called or allocated (as torch.load(weights_only=True) refuses them), while the
// reference's checkpoints and ours keep loading with no opt-in.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../../src/torch/io/atomic.js';
import { pickle } from '../../../src/torch/io/pickle.js';
import { loadPth, loadPthDetailed, savePth, MAX_EXPANSION } from '../../../src/torch/io/pth.js';
import { PyGlobal, PyObject, PyOrderedDict, PyPersistent, PyTuple, type PyValue, tuple } from '../../../src/torch/io/pyvalue.js';
import { MAX_PICKLE_DEPTH, unpickle } from '../../../src/torch/io/unpickle.js';
import { ZipWriter } from '../../../src/torch/io/zip.js';
import { sampleCheckpoint } from './samples.js';
import { golden, tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

checkNoLeaks();

const dir = tmpDir();
const MARKER = path.join(dir, 'pwned');

// ---- a tiny pickle assembler: opcodes as bytes, strings as SHORT_BINUNICODE ----
const enc = new TextEncoder();
type Part = number | string | Uint8Array | number[];
const bytes = (...parts: Part[]): Uint8Array => {
  const out: number[] = [];
  for (const p of parts) {
    if (typeof p === 'number') out.push(p);
    else for (const b of typeof p === 'string' ? enc.encode(p) : p) out.push(b);   // no spreads: parts can be huge
  }
  return Uint8Array.from(out);
};
const PROTO2 = [0x80, 0x02];
const STOP = 0x2e, MARK = 0x28, TUPLE1 = 0x85, REDUCE = 0x52, EMPTY_TUPLE = 0x29, EMPTY_LIST = 0x5d, APPEND = 0x61;
const str = (s: string): Uint8Array => bytes(0x8c, enc.encode(s).length, s);   // SHORT_BINUNICODE
const global = (m: string, n: string): Uint8Array => bytes(0x63, `${m}\n${n}\n`);   // GLOBAL
const stackGlobal = (m: string, n: string): Uint8Array => bytes(str(m), str(n), 0x93);   // STACK_GLOBAL

/** A zip laid out as torch.save does, with the given raw data.pkl and records. */
function pthWith(name: string, pkl: Uint8Array, records: Record<string, Uint8Array> = {}, folder = 'archive'): string {
  const file = path.join(dir, name);
  writeFileAtomic(file, (fd) => {
    const z = new ZipWriter(fd);
    z.add(`${folder}/data.pkl`, pkl);
    // record names are relative to the folder, unless they name it (or the root) themselves
    for (const [k, d] of Object.entries(records)) z.add(k.startsWith(folder) || k.startsWith('/') ? k : `${folder}/${k}`, d);
    z.finish();
  });
  return file;
}

/** loadPth must throw one line that names the file and matches `re`; internal JS errors don't count. */
function refuses(file: string, re: RegExp, opts = {}): string {
  let msg = '';
  assert.throws(() => loadPth(file, opts), (e: Error) => { msg = e.message; return true; });
  assert.ok(msg.startsWith(`loadPth ${file}: `), msg);
  assert.equal(msg.split('\n').length, 1, msg);
  assert.doesNotMatch(msg, /outside the bounds|Cannot read properties|Maximum call stack|Invalid array length|allocation failed|is not a function/, msg);
  assert.match(msg, re);
  return msg;
}

const storagePid = (cls: string, key: string, n: bigint): PyPersistent => new PyPersistent(tuple('storage', new PyGlobal('torch', cls), key, 'cpu', n));
const rebuild = (pid: PyPersistent, offset: bigint, size: bigint[], stride: bigint[]): PyObject =>
  new PyObject(new PyGlobal('torch._utils', '_rebuild_tensor_v2'), tuple(pid, offset, new PyTuple(size), new PyTuple(stride), false, new PyOrderedDict()));

test('os.system via GLOBAL + REDUCE, STACK_GLOBAL or INST is refused, naming the global and the file; nothing runs', () => {
  const cmd = `touch ${MARKER}`;
  const viaReduce = pthWith('reduce.pth', bytes(PROTO2, global('os', 'system'), str(cmd), TUPLE1, REDUCE, STOP));
  refuses(viaReduce, /^loadPth \S+reduce\.pth: pickle: refuses to load global os\.system \(offset 2\): it is not on the allow-list/);
  const viaStack = pthWith('stack.pth', bytes(0x80, 0x04, stackGlobal('posix', 'system'), str(cmd), TUPLE1, REDUCE, STOP));
  refuses(viaStack, /refuses to load global posix\.system/);
  const viaInst = pthWith('inst.pth', bytes(MARK, str(cmd), 0x69, 'os\nsystem\n', STOP));
  refuses(viaInst, /refuses to load global os\.system/);
  // the Python 2 spelling and the usual escape hatches are refused the same way
  refuses(pthWith('b.pth', bytes(PROTO2, global('__builtin__', 'eval'), str('1'), TUPLE1, REDUCE, STOP)), /refuses to load global builtins\.eval/);
  refuses(pthWith('g.pth', bytes(0x80, 0x04, stackGlobal('builtins', 'getattr'), STOP)), /refuses to load global builtins\.getattr/);
  // names that are allowed but are not constructors cannot be called
  refuses(pthWith('obj.pth', bytes(PROTO2, global('builtins', 'object'), EMPTY_TUPLE, REDUCE, STOP)), /refuses to call builtins\.object: not a constructor this reader knows/);
  refuses(pthWith('st.pth', bytes(PROTO2, global('torch', 'FloatStorage'), EMPTY_TUPLE, REDUCE, STOP)), /refuses to call torch\.FloatStorage/);
  refuses(pthWith('str.pth', bytes(PROTO2, str('os.system'), EMPTY_TUPLE, REDUCE, STOP)), /refuses to call str/);

  // an explicit opt-in for a trusted file: the call is kept as an inert recipe, still never executed
  const { value, unknownGlobals } = loadPthDetailed(viaReduce, { allowUnknownGlobals: true });
  assert.deepEqual(unknownGlobals, ['os.system']);
  assert.ok(value instanceof PyObject && (value.cls as PyGlobal).qualifiedName === 'os.system');
  assert.deepEqual(value.args, tuple(cmd));
  assert.equal(fs.existsSync(MARKER), false, 'nothing was executed');
});

test('a rebuild chain through _rebuild_from_type_v2 is refused instead of recursing', () => {
  const fromType = global('torch._tensor', '_rebuild_from_type_v2');
  // _rebuild_from_type_v2(_rebuild_from_type_v2, None, (…), {}) nested: each level a new call
  let inner = bytes(0x4e);   // None
  for (let i = 0; i < 5; i++) inner = bytes(fromType, MARK, fromType, 0x4e, MARK, inner, 0x74, 0x7d, 0x74, REDUCE);
  refuses(pthWith('chain.pth', bytes(PROTO2, inner, STOP)), /cannot rebuild a tensor through <class torch\._tensor\._rebuild_from_type_v2>/);
  // a parameter wrapping something that is not a tensor
  refuses(pthWith('param.pth', bytes(PROTO2, global('torch._utils', '_rebuild_parameter'), MARK, str('x'), 0x88, 0x7d, 0x74, REDUCE, STOP)),
    /_rebuild_parameter\(\): expected a tensor, got str/);
});

test('a huge declared storage is refused before anything is allocated', () => {
  // the persistent id claims 2^40 floats; the record holds 12 bytes
  const big = pthWith('bigpid.pth', pickle(rebuild(storagePid('FloatStorage', '0', 1n << 40n), 0n, [1n << 40n], [1n])), { 'data/0': new Uint8Array(12) });
  refuses(big, /storage archive\/data\/0 has 12 bytes, expected 1099511627776 × 4/);
  // the zip's central directory claims the same: 4 GiB − 16 bytes in a tiny file
  const claimed = 0xfffffff0;
  const file = pthWith('bigzip.pth', pickle(rebuild(storagePid('FloatStorage', '0', BigInt(claimed / 4)), 0n, [BigInt(claimed / 4)], [1n])), { 'data/0': new Uint8Array(12) });
  const buf = fs.readFileSync(file);
  const name = Buffer.from('archive/data/0');
  const central = buf.lastIndexOf(name) - 46;   // the central directory entry comes after the local one
  assert.equal(buf.readUInt32LE(central), 0x02014b50);
  buf.writeUInt32LE(claimed, central + 20);
  buf.writeUInt32LE(claimed, central + 24);
  fs.writeFileSync(file, buf);
  refuses(file, /entry archive\/data\/0: data runs past the end of the file \(truncated\)/);
  // a view far past a small storage
  refuses(pthWith('past.pth', pickle(rebuild(storagePid('FloatStorage', '0', 3n), 1n << 60n, [3n], [1n])), { 'data/0': new Uint8Array(12) }),
    /tensor view \[offset 1152921504606846976, size \[3\], stride \[1\]\] runs past its storage of 3 elements/);
  refuses(pthWith('key.pth', pickle(rebuild(storagePid('FloatStorage', '../data.pkl', 3n), 0n, [3n], [1n])), { 'data/0': new Uint8Array(12) }),
    /storage key "\.\.\/data\.pkl" is not a plain name/);
});

test('a stride-0 view of a huge shape is refused; memory stays bounded', () => {
  const rss = process.memoryUsage().rss;
  const one = { 'data/0': new Uint8Array(4) };
  // 2^40 elements from one float: far past any budget
  refuses(pthWith('s0huge.pth', pickle(rebuild(storagePid('FloatStorage', '0', 1n), 0n, [1n << 20n, 1n << 20n], [0n, 0n])), one),
    /tensor view \[offset 0, size \[1048576,1048576\], stride \[0,0\]\] would need 4398046511104 bytes, which takes this file's tensors past \d+ bytes/);
  // 256 MiB from a 1 KB file: allocatable, but beyond twice the file plus 64 MiB
  const mid = pthWith('s0mid.pth', pickle(rebuild(storagePid('FloatStorage', '0', 1n), 0n, [8192n, 8192n], [0n, 0n])), one);
  refuses(mid, /would need 268435456 bytes/);
  // many views that each fit still share one budget
  const many = pthWith('s0many.pth', pickle(Array.from({ length: 8 }, () => rebuild(storagePid('FloatStorage', '0', 1n), 0n, [4096n, 1024n], [0n, 0n]))), one);
  refuses(many, /would need 16777216 bytes, which takes this file's tensors past/);
  assert.ok(process.memoryUsage().rss - rss < MAX_EXPANSION * 2, `rss grew by ${(process.memoryUsage().rss - rss) / 2 ** 20} MiB`);
  // a small expand() still loads, and a trusted caller may raise the budget
  const small = pthWith('s0small.pth', pickle(rebuild(storagePid('FloatStorage', '0', 1n), 0n, [4n, 3n], [0n, 0n])), one);
  assert.deepEqual((loadPth(small) as { shape: number[] }).shape, [4, 3]);
  refuses(small, /would need 48 bytes/, { maxTensorBytes: 40 });
});

test('truncated or corrupted zips give one clear line, whatever byte is cut or flipped', () => {
  const good = path.join(dir, 'good.pth');
  savePth(good, sampleCheckpoint());
  const buf = fs.readFileSync(good);
  const bad = path.join(dir, 'cut.pth');
  for (let len = 0; len < buf.length; len += Math.max(1, Math.floor(buf.length / 97))) {
    fs.writeFileSync(bad, buf.subarray(0, len));
    refuses(bad, /./);
  }
  // flipped bytes either still load (padding, unused fields) or fail cleanly
  let failed = 0;
  for (let at = 0; at < buf.length; at += 7) {
    const b = Buffer.from(buf);
    b[at] ^= 0xff;
    fs.writeFileSync(bad, b);
    try { loadPth(bad); } catch { refuses(bad, /./); failed++; }
  }
  assert.ok(failed > 0);
});

test('zip entries that escape their folder, and duplicate entries, are refused', () => {
  const ok = pickle(1n);
  for (const name of ['archive/data/../../../etc/passwd', '/etc/passwd', 'archive\\..\\x', 'archive/./data.pkl2']) {
    const msg = refuses(pthWith('escape.pth', ok, { [name]: new Uint8Array(1) }), /escapes its folder \(not a torch\.save checkpoint; corrupt or hostile file\)$/);
    assert.ok(msg.includes(`zip entry ${JSON.stringify(name)} escapes`), msg);
  }
  const dup = path.join(dir, 'dup.pth');
  writeFileAtomic(dup, (fd) => {
    const z = new ZipWriter(fd);
    z.add('archive/data.pkl', ok);
    z.add('archive/data.pkl', pickle(2n));
    z.finish();
  });
  refuses(dup, /two entries are named "archive\/data\.pkl"/);
});

test('deeply nested and cyclic pickles are refused without overflowing the stack; shared structure is fine', () => {
  const deep = new Uint8Array(2 + 20_000 + 2);
  deep.set([0x80, 0x02, 0x4e]);   // None, then TUPLE1 20 000 times
  deep.fill(TUPLE1, 3, deep.length - 1);
  deep[deep.length - 1] = STOP;
  refuses(pthWith('deep.pth', deep), new RegExp(`pickle: nesting deeper than ${MAX_PICKLE_DEPTH} levels`));
  // 20 000 nested MARK…LIST
  const marks = bytes(PROTO2, new Array(20_000).fill(MARK), new Array(20_000).fill(0x6c), STOP);
  refuses(pthWith('marks.pth', marks), /nesting deeper than 1000 levels/);
  // a list that contains itself, through the memo
  refuses(pthWith('cycle.pth', bytes(PROTO2, EMPTY_LIST, 0x71, 0, 0x68, 0, APPEND, STOP)), /a list contains itself/);
  // exactly at the limit is fine, one more is not
  const nested = (n: number): Uint8Array => bytes(PROTO2, 0x4e, new Array(n).fill(TUPLE1), STOP);
  assert.ok(unpickle(nested(MAX_PICKLE_DEPTH)).value instanceof PyTuple);
  assert.throws(() => unpickle(nested(MAX_PICKLE_DEPTH + 1)), /nesting deeper than 1000 levels/);
  // 2^60 paths through 60 shared levels: measured once each, loads at once
  let p = bytes(PROTO2, EMPTY_LIST);
  for (let i = 0; i < 60; i++) p = bytes(p, 0x71, i, 0x68, i, 0x86);   // BINPUT i; BINGET i; TUPLE2 → (x, x)
  const t0 = Date.now();
  const v = unpickle(bytes(p, STOP)).value as PyValue;
  assert.ok(v instanceof PyTuple && v.items[0] === v.items[1]);
  assert.ok(Date.now() - t0 < 1000);
  // a huge APPENDS and a megabyte integer are read in linear time, without spreading arguments
  const n = 300_000;
  const appends = bytes(PROTO2, EMPTY_LIST, MARK, Array.from({ length: n }, () => [0x4b, 7]).flat(), 0x65, STOP);
  assert.equal((unpickle(appends).value as PyValue[]).length, n);
  const long4 = new Uint8Array(2 + 5 + 1_000_000 + 1);
  long4.set([0x80, 0x02, 0x8b, 0x40, 0x42, 0x0f, 0x00]);   // LONG4 of 1 000 000 bytes
  long4[long4.length - 2] = 0x01;
  long4[long4.length - 1] = STOP;
  const t1 = Date.now();
  assert.equal(unpickle(long4).value, 1n << BigInt(8 * (1_000_000 - 1)));
  assert.ok(Date.now() - t1 < 2000, `${Date.now() - t1} ms`);
});

test("the reference's checkpoints and ours load with no opt-in", () => {
  for (const f of ['resnet_basic_96.timm_style.pth', 'resnet_basic_96.spark_style.pth']) {
    const { value, unknownGlobals } = loadPthDetailed(golden(f));
    assert.deepEqual(unknownGlobals, []);
    assert.ok(value instanceof Map && value.size > 0, f);
  }
  const ours = path.join(dir, 'ours.pth');
  savePth(ours, sampleCheckpoint());
  assert.deepEqual(loadPth(ours), sampleCheckpoint());
  fs.rmSync(dir, { recursive: true, force: true });
});
