// Element types shared by every weight file format, and the neutral tensor that those formats
// exchange with the rest of sparkts. Nothing here touches the tensor engine: a RawTensor is just
// bytes plus a dtype and a shape, so the readers/writers work (and are tested) without libtorch.

export type DType =
  | 'float32' | 'float64' | 'float16' | 'bfloat16'
  | 'int64' | 'int32' | 'uint8' | 'bool' | 'int8' | 'int16';

/** A dense tensor as bytes: `data` holds numel·itemSize little-endian bytes in row-major (C) order. */
export interface RawTensor {
  dtype: DType;
  shape: number[];
  data: Uint8Array;
}

interface DTypeInfo {
  /** bytes per element */
  itemSize: number;
  /** the dtype string of the safetensors header */
  safetensors: string;
  /** the storage class torch.save pickles as `torch.<name>` */
  storage: string;
}

const INFO: Record<DType, DTypeInfo> = {
  float32: { itemSize: 4, safetensors: 'F32', storage: 'FloatStorage' },
  float64: { itemSize: 8, safetensors: 'F64', storage: 'DoubleStorage' },
  float16: { itemSize: 2, safetensors: 'F16', storage: 'HalfStorage' },
  bfloat16: { itemSize: 2, safetensors: 'BF16', storage: 'BFloat16Storage' },
  int64: { itemSize: 8, safetensors: 'I64', storage: 'LongStorage' },
  int32: { itemSize: 4, safetensors: 'I32', storage: 'IntStorage' },
  int16: { itemSize: 2, safetensors: 'I16', storage: 'ShortStorage' },
  int8: { itemSize: 1, safetensors: 'I8', storage: 'CharStorage' },
  uint8: { itemSize: 1, safetensors: 'U8', storage: 'ByteStorage' },
  bool: { itemSize: 1, safetensors: 'BOOL', storage: 'BoolStorage' },
};

export const DTYPES: readonly DType[] = Object.keys(INFO) as DType[];

export function isDType(s: unknown): s is DType {
  return typeof s === 'string' && Object.prototype.hasOwnProperty.call(INFO, s);
}

export function itemSize(dtype: DType): number {
  return INFO[dtype].itemSize;
}

export function safetensorsCode(dtype: DType): string {
  return INFO[dtype].safetensors;
}

export function storageClassName(dtype: DType): string {
  return INFO[dtype].storage;
}

const BY_SAFETENSORS = new Map(DTYPES.map((d) => [INFO[d].safetensors, d]));
const BY_STORAGE = new Map(DTYPES.map((d) => [INFO[d].storage, d]));

/** The dtype of a safetensors header code (F32, BF16, ...), or undefined when unsupported. */
export function dtypeFromSafetensors(code: string): DType | undefined {
  return BY_SAFETENSORS.get(code);
}

/** The dtype of a torch storage class name (FloatStorage, ...), or undefined when unsupported. */
export function dtypeFromStorageClass(name: string): DType | undefined {
  return BY_STORAGE.get(name);
}

// ---- 16-bit floats -------------------------------------------------------------------------

const f32 = new Float32Array(1);
const u32 = new Uint32Array(f32.buffer);

/** IEEE binary16 bits -> number (exact). */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24; // zero and subnormals
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1024 + frac) * 2 ** (exp - 25);
}

/** number -> IEEE binary16 bits, round to nearest even (what torch's .half() does). */
export function floatToHalf(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  const sign = x < 0 || Object.is(x, -0) ? 0x8000 : 0;
  const a = Math.abs(x);
  if (a >= 65520) return sign | 0x7c00; // rounds to infinity
  if (a < 2 ** -14) {
    // subnormal: units of 2^-24, rounded half to even
    return sign | roundHalfEven(a * 2 ** 24);
  }
  let exp = Math.floor(Math.log2(a));
  if (2 ** exp > a) exp -= 1; // guard log2 rounding
  if (2 ** (exp + 1) <= a) exp += 1;
  let mant = roundHalfEven((a / 2 ** exp - 1) * 1024);
  if (mant === 1024) { mant = 0; exp += 1; }
  if (exp > 15) return sign | 0x7c00;
  return sign | ((exp + 15) << 10) | mant;
}

function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** bfloat16 bits -> number (exact: bfloat16 is the top half of a float32). */
export function bfloat16ToFloat(b: number): number {
  u32[0] = (b & 0xffff) << 16;
  return f32[0];
}

/** number -> bfloat16 bits, via float32 then round to nearest even (torch's conversion). */
export function floatToBfloat16(x: number): number {
  f32[0] = x;
  const bits = u32[0];
  if (Number.isNaN(f32[0])) return 0x7fc0;
  const lsb = (bits >>> 16) & 1;
  return ((bits + 0x7fff + lsb) >>> 16) & 0xffff;
}
