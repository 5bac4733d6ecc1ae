// numpy ndarrays in pickles: byte for byte what CPython's pickle.dumps(protocol=2) writes for the same
// numpy arrays, and what any Python with numpy reads back (values, dtypes, shapes, sharing).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RawTensor } from '../../../src/torch/io/dtypes.js';
import { pickleWithNdarrays } from '../../../src/torch/io/numpy.js';
import { unpickle } from '../../../src/torch/io/pickle.js';
import { PyGlobal, PyObject, PyTuple, type PyValue, pyDict } from '../../../src/torch/io/pyvalue.js';
import { fromNumbers } from '../../../src/torch/io/raw.js';
import { pythonHas, runPython } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

checkNoLeaks();

const hex = (b: Uint8Array): string => Buffer.from(b).toString('hex');

// The same arrays on both sides: every numpy dtype, a 0-d int64 (BN's num_batches_tracked), an empty
// array, two equal arrays (still two data strings), a one-byte array equal to ndarray's b'b'
// placeholder (a CPython singleton: shared), bytes ≥ 0x80 (two UTF-8 bytes each), one array twice.
// (Keys are not dtype codes: our pickler memoizes strings by value, CPython by identity, so a key 'f4'
// would be shared with the dtype's 'f4' here and written anew by CPython — same value, other bytes.)
function sample(): PyValue {
  const twice = fromNumbers('float32', [2], [1.5, -2]);
  return pyDict({
    arr_f4: fromNumbers('float32', [2, 3], [0, 1, -1, 0.5, 3.25, -1e-30]),
    arr_f8: fromNumbers('float64', [2], [Math.PI, -0]),
    arr_f2: fromNumbers('float16', [3], [1, -2, 0.5]),
    arr_i8: fromNumbers('int64', [], [123456789012n]),
    arr_i4: fromNumbers('int32', [2], [-7, 1 << 30]),
    arr_i2: fromNumbers('int16', [1, 2], [-300, 300]),
    arr_i1: fromNumbers('int8', [2], [-128, 127]),
    arr_u1: fromNumbers('uint8', [1], [0x62]),
    arr_b1: fromNumbers('bool', [3], [true, false, true]),
    empty: fromNumbers('float32', [0, 4], []),
    zeros_a: fromNumbers('float32', [4], [0, 0, 0, 0]),
    zeros_b: fromNumbers('float32', [4], [0, 0, 0, 0]),
    high: fromNumbers('uint8', [4], [0x80, 0xff, 0x7f, 0xc3]),
    s1: twice,
    s2: twice,
    text: 'not an array',
  });
}

const PY_SAMPLE = `
import numpy as np, pickle, sys
twice = np.array([1.5, -2], np.float32)
v = {
  'arr_f4': np.array([[0, 1, -1], [0.5, 3.25, -1e-30]], np.float32),
  'arr_f8': np.array([np.pi, -0.0], np.float64),
  'arr_f2': np.array([1, -2, 0.5], np.float16),
  'arr_i8': np.array(123456789012, np.int64),
  'arr_i4': np.array([-7, 1 << 30], np.int32),
  'arr_i2': np.array([[-300, 300]], np.int16),
  'arr_i1': np.array([-128, 127], np.int8),
  'arr_u1': np.array([0x62], np.uint8),
  'arr_b1': np.array([True, False, True]),
  'empty': np.zeros((0, 4), np.float32),
  'zeros_a': np.zeros(4, np.float32),
  'zeros_b': np.zeros(4, np.float32),
  'high': np.array([0x80, 0xff, 0x7f, 0xc3], np.uint8),
  's1': twice,
  's2': twice,
  'text': 'not an array',
}
`;

test('numpy arrays: byte-identical to CPython pickle.dumps(protocol=2) of the same numpy arrays', (t) => {
  if (!pythonHas('numpy')) { t.skip('no numpy: /usr/bin/python3 -c "import numpy" fails'); return; }
  const py = runPython(`${PY_SAMPLE}\nsys.stdout.write(pickle.dumps(v, protocol=2).hex())`);
  assert.equal(hex(pickleWithNdarrays(sample())), py.trim());
});

test('numpy arrays: Python reads them back as the same arrays, one array written twice stays one', (t) => {
  if (!pythonHas('numpy')) { t.skip('no numpy: /usr/bin/python3 -c "import numpy" fails'); return; }
  const ok = runPython(`${PY_SAMPLE}
got = pickle.loads(bytes.fromhex(sys.argv[1]))
assert list(got) == list(v), list(got)
for k, x in v.items():
    y = got[k]
    if isinstance(x, str): assert y == x; continue
    assert type(y) is np.ndarray and y.dtype == x.dtype and y.shape == x.shape, (k, y.dtype, y.shape)
    assert y.tobytes() == x.tobytes(), k
assert got['s1'] is got['s2'] and got['zeros_a'] is not got['zeros_b']
print('ok')`, [hex(pickleWithNdarrays(sample()))]);
  assert.equal(ok.trim(), 'ok');
});

test('numpy arrays: the recipe our own reader sees (no numpy needed), and bfloat16 refused in one line', () => {
  const bytes = pickleWithNdarrays(pyDict({ w: fromNumbers('float32', [2], [1, 2]) }));
  // numpy classes are outside the checkpoint allow-list: reading them takes the explicit opt-in
  assert.throws(() => unpickle(bytes), /refuses to load global numpy\.core\.multiarray\._reconstruct/);
  const { value, unknownGlobals } = unpickle(bytes, { allowUnknownGlobals: true });
  assert.deepEqual(unknownGlobals, ['numpy.core.multiarray._reconstruct', 'numpy.dtype', 'numpy.ndarray']);
  const a = (value as Map<PyValue, PyValue>).get('w');
  assert.ok(a instanceof PyObject && a.cls instanceof PyGlobal && a.cls.qualifiedName === 'numpy.core.multiarray._reconstruct');
  const st = a.state as PyTuple;
  assert.deepEqual(st.items[1], new PyTuple([2n]));
  assert.deepEqual([...(st.items[4] as Uint8Array)], [...fromNumbers('float32', [2], [1, 2]).data]);
  const bf16: RawTensor = fromNumbers('bfloat16', [1], [1]);
  assert.throws(() => pickleWithNdarrays(pyDict({ w: bf16 })), /numpy has no bfloat16: convert the tensor to float32/);
});
