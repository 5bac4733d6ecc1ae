// Data types, devices and the typed arrays that carry tensor data across the JS boundary.

export type DType = 'float32' | 'float64' | 'float16' | 'bfloat16' | 'int64' | 'int32' | 'int16' | 'int8' | 'uint8' | 'bool';
export type MemoryFormat = 'contiguous' | 'channels_last' | 'preserve';
/** `cpu`, `cuda` or `cuda:<n>` */
export type Device = string;

export interface TensorOptions {
  dtype?: DType;
  device?: Device;
  requiresGrad?: boolean;
}

export const DTYPES: readonly DType[] = ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'];

export type TypedArray =
  | Float32Array | Float64Array | BigInt64Array | Int32Array | Int16Array | Int8Array | Uint8Array | Uint16Array;

/** The typed array a dtype's raw bytes are read into. float16/bfloat16 come back as raw Uint16 bits. */
export function typedArrayFor(dtype: DType, buf: ArrayBuffer): TypedArray {
  switch (dtype) {
    case 'float32': return new Float32Array(buf);
    case 'float64': return new Float64Array(buf);
    case 'int64': return new BigInt64Array(buf);
    case 'int32': return new Int32Array(buf);
    case 'int16': return new Int16Array(buf);
    case 'int8': return new Int8Array(buf);
    case 'uint8': case 'bool': return new Uint8Array(buf);
    case 'float16': case 'bfloat16': return new Uint16Array(buf);
  }
}

export function dtypeOfTypedArray(a: ArrayBufferView): DType {
  if (a instanceof Float32Array) return 'float32';
  if (a instanceof Float64Array) return 'float64';
  if (a instanceof BigInt64Array) return 'int64';
  if (a instanceof Int32Array) return 'int32';
  if (a instanceof Int16Array) return 'int16';
  if (a instanceof Int8Array) return 'int8';
  if (a instanceof Uint8Array) return 'uint8';
  throw new Error(`cannot infer a dtype from ${a.constructor.name}; pass {dtype}`);
}

export function isFloating(d: DType): boolean {
  return d === 'float32' || d === 'float64' || d === 'float16' || d === 'bfloat16';
}

export function halfToFloat(h: number): number {
  const s = h & 0x8000 ? -1 : 1;
  const e = (h >> 10) & 0x1f;
  const f = h & 0x3ff;
  if (e === 0) return s * f * 2 ** -24;
  if (e === 31) return f ? NaN : s * Infinity;
  return s * (1 + f / 1024) * 2 ** (e - 15);
}

export function bfloat16ToFloat(b: number): number {
  const v = new DataView(new ArrayBuffer(4));
  v.setUint32(0, b << 16, true);
  return v.getFloat32(0, true);
}

/** Element values of a typed array as JS numbers (int64 via Number, halves decoded). */
export function toNumbers(dtype: DType, a: TypedArray): number[] {
  if (dtype === 'float16') return Array.from(a as Uint16Array, halfToFloat);
  if (dtype === 'bfloat16') return Array.from(a as Uint16Array, bfloat16ToFloat);
  if (dtype === 'int64') return Array.from(a as BigInt64Array, Number);
  return Array.from(a as ArrayLike<number>);
}
