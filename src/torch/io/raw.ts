// Helpers over RawTensor: element counts, validation, and conversion to/from JS numbers (for tests,
// checksums and small tensors; the tensor engine copies the bytes itself).
import {
  type DType, type RawTensor, bfloat16ToFloat, floatToBfloat16, floatToHalf, halfToFloat, isDType, itemSize,
} from './dtypes.js';

export function numel(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Row-major strides in elements; like torch, a size-0 or size-1 dim does not scale the others. */
export function contiguousStrides(shape: readonly number[]): number[] {
  const strides = new Array<number>(shape.length);
  let s = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    strides[i] = s;
    s *= Math.max(shape[i], 1);
  }
  return strides;
}

/** Throws a one-line error (prefixed with `what`) unless `t` is a well-formed RawTensor. */
export function checkRawTensor(t: RawTensor, what: string): void {
  if (!isDType(t.dtype)) throw new Error(`${what}: unsupported dtype ${JSON.stringify(t.dtype)}`);
  if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${what}: shape must be an array of non-negative integers, got ${JSON.stringify(t.shape)}`);
  }
  if (!(t.data instanceof Uint8Array)) throw new Error(`${what}: data must be a Uint8Array`);
  const want = numel(t.shape) * itemSize(t.dtype);
  if (t.data.byteLength !== want) {
    throw new Error(`${what}: ${t.dtype} shape [${t.shape}] needs ${want} bytes but data has ${t.data.byteLength}`);
  }
}

function view(t: RawTensor): DataView {
  return new DataView(t.data.buffer, t.data.byteOffset, t.data.byteLength);
}

/** Every element as a JS number (int64 beyond 2^53 loses precision; bool -> 0/1). */
export function toNumbers(t: RawTensor): Float64Array {
  const n = numel(t.shape);
  const out = new Float64Array(n);
  const dv = view(t);
  const get = reader(t.dtype, dv);
  for (let i = 0; i < n; i++) out[i] = get(i);
  return out;
}

function reader(dtype: DType, dv: DataView): (i: number) => number {
  switch (dtype) {
    case 'float32': return (i) => dv.getFloat32(i * 4, true);
    case 'float64': return (i) => dv.getFloat64(i * 8, true);
    case 'float16': return (i) => halfToFloat(dv.getUint16(i * 2, true));
    case 'bfloat16': return (i) => bfloat16ToFloat(dv.getUint16(i * 2, true));
    case 'int64': return (i) => Number(dv.getBigInt64(i * 8, true));
    case 'int32': return (i) => dv.getInt32(i * 4, true);
    case 'int16': return (i) => dv.getInt16(i * 2, true);
    case 'int8': return (i) => dv.getInt8(i);
    case 'uint8': return (i) => dv.getUint8(i);
    case 'bool': return (i) => (dv.getUint8(i) ? 1 : 0);
  }
}

/**
 * A RawTensor from JS values. Floats are rounded to the dtype (half/bfloat16 to nearest even);
 * integers must be exact (bigint accepted for int64).
 */
export function fromNumbers(dtype: DType, shape: number[], values: ArrayLike<number | bigint | boolean>): RawTensor {
  const n = numel(shape);
  if (values.length !== n) throw new Error(`fromNumbers: shape [${shape}] has ${n} elements but ${values.length} values were given`);
  const data = new Uint8Array(n * itemSize(dtype));
  const dv = new DataView(data.buffer);
  for (let i = 0; i < n; i++) {
    const v = values[i];
    const x = typeof v === 'boolean' ? (v ? 1 : 0) : v;
    switch (dtype) {
      case 'float32': dv.setFloat32(i * 4, Number(x), true); break;
      case 'float64': dv.setFloat64(i * 8, Number(x), true); break;
      case 'float16': dv.setUint16(i * 2, floatToHalf(Number(x)), true); break;
      case 'bfloat16': dv.setUint16(i * 2, floatToBfloat16(Number(x)), true); break;
      case 'int64': dv.setBigInt64(i * 8, BigInt(x), true); break;
      case 'int32': dv.setInt32(i * 4, Number(x), true); break;
      case 'int16': dv.setInt16(i * 2, Number(x), true); break;
      case 'int8': dv.setInt8(i, Number(x)); break;
      case 'uint8': dv.setUint8(i, Number(x)); break;
      case 'bool': dv.setUint8(i, x ? 1 : 0); break;
    }
  }
  return { dtype, shape: [...shape], data };
}

/** True when both tensors have the same dtype, shape and bytes. */
export function rawEqual(a: RawTensor, b: RawTensor): boolean {
  if (a.dtype !== b.dtype || a.shape.length !== b.shape.length) return false;
  if (!a.shape.every((d, i) => d === b.shape[i])) return false;
  if (a.data.byteLength !== b.data.byteLength) return false;
  for (let i = 0; i < a.data.byteLength; i++) if (a.data[i] !== b.data[i]) return false;
  return true;
}

/** True when `strides` (in elements) are row-major for `shape`; strides of size-1 dims don't matter. */
export function isContiguous(shape: readonly number[], strides: readonly number[]): boolean {
  let expect = 1;
  for (let i = shape.length - 1; i >= 0; i--) {
    if (shape[i] !== 1 && strides[i] !== expect) return false;
    expect *= shape[i];
  }
  return true;
}

/**
 * Copies a strided view into fresh row-major bytes. Element (i0, i1, ...) of the view is at element
 * `base + Σ ik·strides[k]` of `src`.
 */
export function gatherStrided(
  src: Uint8Array, base: number, itemBytes: number, shape: readonly number[], strides: readonly number[],
): Uint8Array {
  const n = numel(shape);
  const out = new Uint8Array(n * itemBytes);
  if (n === 0) return out;
  const nd = shape.length;
  const idx = new Array<number>(nd).fill(0);
  let off = base;
  for (let e = 0; e < n; e++) {
    const s = off * itemBytes;
    for (let b = 0; b < itemBytes; b++) out[e * itemBytes + b] = src[s + b];
    // odometer increment, innermost dim fastest
    for (let d = nd - 1; d >= 0; d--) {
      if (++idx[d] < shape[d]) { off += strides[d]; break; }
      off -= strides[d] * (shape[d] - 1);
      idx[d] = 0;
    }
  }
  return out;
}
