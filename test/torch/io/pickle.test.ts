import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeLong, encodeLong, pickle, unpickle } from '../../../src/torch/io/pickle.js';
import {
  PyGlobal, PyObject, PyOrderedDict, PyPersistent, PySet, PyTuple, type PyValue, pyDict, tuple,
} from '../../../src/torch/io/pyvalue.js';
import { pythonHas, runPython } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex');
const unhex = (s: string) => new Uint8Array(Buffer.from(s.trim(), 'hex'));

test('LONG encoding: the examples of CPython pickle.encode_long', () => {
  const cases: [bigint, string][] = [
    [0n, ''], [255n, 'ff00'], [32767n, 'ff7f'], [-256n, '00ff'], [-32768n, '0080'], [-128n, '80'], [127n, '7f'],
  ];
  for (const [v, h] of cases) {
    assert.equal(hex(encodeLong(v)), h, String(v));
    assert.equal(decodeLong(unhex(h)), v);
  }
  for (let e = 0; e < 130; e++) {
    for (const v of [1n << BigInt(e), -(1n << BigInt(e)), (1n << BigInt(e)) - 1n, -(1n << BigInt(e)) + 1n]) {
      assert.equal(decodeLong(encodeLong(v)), v);
    }
  }
});

function sample(): PyValue {
  const shared = [1n, 'shared'];
  const od = new PyOrderedDict([['a', 1n], ['b', 2.0]]);
  od.attrs.set('_metadata', new PyOrderedDict([['', pyDict({ version: 1n })]]));
  return pyDict({
    ints: [0n, 1n, 255n, 256n, 65535n, 65536n, -1n, 2147483647n, 2147483648n, -2147483648n, -2147483649n, 1n << 70n, -(1n << 40n)],
    floats: [1.0, -0.0, 0.1, 1e300, Infinity, -Infinity, 5e-324],
    text: 'héllo ✓ 𝄞',
    bytes: new Uint8Array([0, 255, 10, 128]),
    empty_bytes: new Uint8Array(0),
    tuples: [tuple(), tuple(null), tuple(1n, 2.5), tuple(1n, 2n, 3n), tuple(1n, 2n, 3n, 4n, 5n)],
    nested: [true, false, null, [[]], new Map<PyValue, PyValue>([[1n, 'int key'], [tuple(1n, 'a'), 'tuple key']])],
    od,
    set: new PySet([3n]),
    frozen: new PySet([], true),
    long_list: Array.from({ length: 2500 }, (_, i) => BigInt(i)),
    s1: shared,
    s2: shared,
  });
}

test('round trip keeps types (int vs float, tuple vs list, dict vs OrderedDict) and sharing', () => {
  const v = sample() as Map<PyValue, PyValue>;
  const back = unpickle(pickle(v));
  assert.deepEqual(back.unknownGlobals, []);
  assert.deepEqual(back.value, v);
  const b = back.value as Map<PyValue, PyValue>;
  assert.equal(b.get('s1'), b.get('s2'), 'one shared list stays one object');
  assert.ok(b.get('od') instanceof PyOrderedDict);
  assert.equal(typeof (b.get('floats') as PyValue[])[0], 'number');
  // 1.0 is written as a float: BINFLOAT 'G' followed by big-endian 1.0
  assert.ok(hex(pickle(1.0)).includes('473ff0000000000000'));
  assert.ok(hex(pickle(1n)).includes('4b01'));
});

test('unknown classes are refused by name; with allowUnknownGlobals they become opaque objects that write back unchanged', () => {
  const ns = new PyObject(new PyGlobal('argparse', 'Namespace'), tuple(), true);
  ns.state = pyDict({ lr: 0.1, bs: 32n });
  const weird = new PyObject(new PyGlobal('numpy.core.multiarray', 'scalar'), tuple(new PyGlobal('numpy', 'dtype'), new Uint8Array([1, 2])));
  const v = pyDict({ args: ns, x: weird });
  const bytes = pickle(v);
  assert.throws(() => unpickle(bytes, { what: 'x.pkl' }),
    /^Error: x\.pkl: pickle: refuses to load global argparse\.Namespace \(offset \d+\): it is not on the allow-list of checkpoint types .*load it with allowUnknownGlobals$/);
  const back = unpickle(bytes, { allowUnknownGlobals: true });
  assert.deepEqual(back.unknownGlobals, ['argparse.Namespace', 'numpy.core.multiarray.scalar', 'numpy.dtype']);
  assert.deepEqual(back.value, v);
  assert.deepEqual(pickle(back.value), bytes);
});

test('persistent ids: kept as PyPersistent, or resolved by the caller', () => {
  const v = [new PyPersistent(tuple('storage', 'k0'))];
  const bytes = pickle(v);
  assert.deepEqual(unpickle(bytes).value, v);
  assert.deepEqual(unpickle(bytes, { persistentLoad: (pid) => (pid as PyTuple).items[1] }).value, ['k0']);
  assert.throws(() => pickle(v, { allowPersistent: () => false }), /bare storage/);
});

test('unwritable values and corrupt data give one clear error', () => {
  assert.throws(() => pickle(pyDict({ a: [{ b: 1 } as unknown as PyValue] })), /at \["a"\]\[0\]: plain JS objects/);
  assert.throws(() => pickle(pyDict({ a: undefined as unknown as PyValue })), /JS undefined/);
  assert.throws(() => pickle({ dtype: 'float32', shape: [], data: new Uint8Array(4) }), /only be written inside a \.pth/);
  const bytes = pickle(sample());
  assert.throws(() => unpickle(bytes.subarray(0, bytes.length - 50), { what: 'x.pkl' }), /^Error: x\.pkl: pickle: data is truncated/);
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0xff])), /unsupported opcode 0xff at offset 2/);
  assert.throws(() => unpickle(new Uint8Array([0x80, 0x02, 0x68, 0x05, 0x2e])), /memo key 5 is not defined/);
});

// ---- against CPython itself ----

const PY_SAMPLE = `
import collections, pickle, sys
shared = [1, 'shared']
od = collections.OrderedDict([('a', 1), ('b', 2.0)])
od._metadata = collections.OrderedDict([('', {'version': 1})])
v = {
  'ints': [0, 1, 255, 256, 65535, 65536, -1, 2147483647, 2147483648, -2147483648, -2147483649, 1 << 70, -(1 << 40)],
  'floats': [1.0, -0.0, 0.1, 1e300, float('inf'), float('-inf'), 5e-324],
  'text': 'h\\xe9llo \\u2713 \\U0001d11e',
  'bytes': bytes([0, 255, 10, 128]),
  'empty_bytes': b'',
  'tuples': [(), (None,), (1, 2.5), (1, 2, 3), (1, 2, 3, 4, 5)],
  'nested': [True, False, None, [[]], {1: 'int key', (1, 'a'): 'tuple key'}],
  'od': od,
  'set': {3},
  'frozen': frozenset(),
  'long_list': list(range(2500)),
  's1': shared,
  's2': shared,
}
`;

test('CPython pickle.dumps(protocol=2) of the same value is byte-identical', (t) => {
  if (!pythonHas('pickle')) { t.skip('no /usr/bin/python3'); return; }
  const py = unhex(runPython(`${PY_SAMPLE}\nsys.stdout.write(pickle.dumps(v, protocol=2).hex())`));
  assert.equal(hex(pickle(sample())), hex(py));
});

test('reads what CPython writes with protocols 0 to 5', (t) => {
  if (!pythonHas('pickle')) { t.skip('no /usr/bin/python3'); return; }
  const out = runPython(`${PY_SAMPLE}
import argparse
v['ns'] = argparse.Namespace(lr=0.5)
for p in range(6):
    print(pickle.dumps(v, protocol=p).hex())`).trim().split('\n');
  assert.equal(out.length, 6);
  const want = sample() as Map<PyValue, PyValue>;
  out.forEach((h, p) => {
    // protocols 0-1 name copyreg._reconstructor, the others argparse.Namespace: refused by default
    assert.throws(() => unpickle(unhex(h)), /refuses to load global (copyreg\._reconstructor|argparse\.Namespace)/, `protocol ${p}`);
    const { value, unknownGlobals } = unpickle(unhex(h), { allowUnknownGlobals: true });
    assert.deepEqual(unknownGlobals, ['argparse.Namespace'], `protocol ${p}`);
    const got = value as Map<PyValue, PyValue>;
    const ns = got.get('ns');
    assert.ok(ns instanceof PyObject && ns.cls instanceof PyGlobal && ns.cls.qualifiedName === 'argparse.Namespace', `protocol ${p}`);
    assert.deepEqual(ns.state, pyDict({ lr: 0.5 }), `protocol ${p}`);
    got.delete('ns');
    assert.deepEqual(got, want, `protocol ${p}`);
    assert.equal(got.get('s1'), got.get('s2'), `protocol ${p}: sharing`);
  });
  // plain data of every protocol needs no opt-in (sets, bytes via _codecs.encode, OrderedDict)
  const plain = runPython(`${PY_SAMPLE}
for p in range(6):
    print(pickle.dumps(v, protocol=p).hex())`).trim().split('\n');
  plain.forEach((h, p) => assert.deepEqual(unpickle(unhex(h)), { value: want, unknownGlobals: [] }, `protocol ${p}`));
});

test('CPython reads what we write', (t) => {
  if (!pythonHas('pickle')) { t.skip('no /usr/bin/python3'); return; }
  const ok = runPython(`${PY_SAMPLE}
got = pickle.loads(bytes.fromhex(sys.argv[1]))
assert type(got['od']) is collections.OrderedDict and got['od']._metadata == od._metadata
assert got['s1'] is got['s2']
assert [type(x) for x in got['floats']] == [float] * 7
def same(a, b):
    if type(a) is not type(b): return False
    if isinstance(a, float) and a != a: return b != b
    if isinstance(a, (list, tuple)): return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict): return list(a.keys()) == list(b.keys()) and all(same(a[k], b[k]) for k in a)
    return a == b and str(a) == str(b)
assert same(got, v), got
print('ok')`, [hex(pickle(sample()))]);
  assert.equal(ok.trim(), 'ok');
});
