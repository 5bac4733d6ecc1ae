// numpy ndarrays inside a pickle, spelled exactly as numpy's own `ndarray.__reduce__` makes CPython
// write them at protocol 2, so that any Python with numpy (and no torch) unpickles real arrays:
//
//   numpy.core.multiarray._reconstruct(numpy.ndarray, (0,), b'b')          REDUCE
//   BUILD (1, shape, dtype, is_fortran=False, raw little-endian bytes)      __setstate__
//   dtype = numpy.dtype('f4', False, True) BUILD (3, '<', None, None, None, -1, -1, 0)
//
// Every array of one dtype shares one dtype object (numpy's dtypes are singletons, so CPython memoizes
// them); `numpy.core.multiarray` is the module name numpy 1.x writes and numpy 2.x still reads.
// Writing only: sparkts never unpickles numpy arrays (such files are for Python tools).
import { type DType, type RawTensor } from './dtypes.js';
import { type PickleOptions, pickle } from './pickle.js';
import { PyGlobal, PyObject, PyTuple, type PyValue, isRawTensor } from './pyvalue.js';
import { checkRawTensor } from './raw.js';

/** numpy's type string and byte-order character per dtype; bfloat16 has no numpy counterpart. */
const NUMPY_DTYPES: Partial<Record<DType, [string, string]>> = {
  float32: ['f4', '<'], float64: ['f8', '<'], float16: ['f2', '<'],
  int64: ['i8', '<'], int32: ['i4', '<'], int16: ['i2', '<'], int8: ['i1', '|'],
  uint8: ['u1', '|'], bool: ['b1', '|'],
};

/**
 * A pickler `reduce` hook that writes every RawTensor as a numpy ndarray. Make one per pickle: it holds
 * the dtype objects that the arrays of that pickle share.
 */
export function ndarrayReducer(): NonNullable<PickleOptions['reduce']> {
  const reconstruct = new PyGlobal('numpy.core.multiarray', '_reconstruct');
  const ndarray = new PyGlobal('numpy', 'ndarray');
  const dtypeClass = new PyGlobal('numpy', 'dtype');
  // ndarray.__reduce__'s placeholder `b'b'` (a one-byte bytes object: a CPython singleton, so shared)
  const placeholder = new Uint8Array([0x62]);
  const dtypes = new Map<DType, PyObject>();
  const dtypeOf = (t: RawTensor): PyObject => {
    let d = dtypes.get(t.dtype);
    if (!d) {
      const np = NUMPY_DTYPES[t.dtype];
      if (!np) throw new Error(`numpy has no ${t.dtype}: convert the tensor to float32 before writing it as a numpy array`);
      d = new PyObject(dtypeClass, new PyTuple([np[0], false, true]));
      d.state = new PyTuple([3n, np[1], null, null, null, -1n, -1n, 0n]);
      dtypes.set(t.dtype, d);
    }
    return d;
  };
  return (v: PyValue): PyObject | undefined => {
    if (!isRawTensor(v)) return undefined;
    checkRawTensor(v, 'numpy array');
    const a = new PyObject(reconstruct, new PyTuple([ndarray, new PyTuple([0n]), placeholder]));
    // a view of its own: two arrays never share their data string, as two numpy arrays never do
    a.state = new PyTuple([1n, new PyTuple(v.shape.map((n) => BigInt(n))), dtypeOf(v), false, v.data.subarray(0)]);
    return a;
  };
}

/** Pickles `value` (protocol 2) with every RawTensor in it written as a numpy ndarray. */
export function pickleWithNdarrays(value: PyValue): Uint8Array {
  return pickle(value, { reduce: ndarrayReducer() });
}
