// The TypeScript Tensor: one owner of one native at::Tensor reference. Ops are attached to the
// prototype by the generated src/torch/generated/ops.ts; this file holds what is not an op.
import { native, type Handle } from './native.js';
import { track, keep as keepTensor, type Disposable } from './memory.js';
import {
  type DType, type Device, type TensorOptions, type TypedArray,
  DTYPES, dtypeOfTypedArray, typedArrayFor, toNumbers,
} from './dtype.js';

export type NestedArray = number | boolean | NestedArray[];

export class Tensor implements Disposable {
  #handle: Handle | null;
  #shape: number[] | null = null;
  #dtype: DType | null = null;
  #device: Device | null = null;
  kept = false;

  /** Use wrap(); constructing from a handle transfers ownership of that handle to this Tensor. */
  constructor(handle: Handle) {
    this.#handle = handle;
    track(this);
  }

  get handle(): Handle {
    if (this.#handle === null) throw new Error('this Tensor was disposed; keep() it or return it from tidy() to use it later');
    return this.#handle;
  }

  get isDisposed(): boolean { return this.#handle === null; }

  dispose(): void {
    if (this.#handle === null) return;
    native.dispose(this.#handle);
    this.#handle = null;
  }

  /** Exclude from tidy(): lives until dispose(). */
  keep(): this { return keepTensor(this); }

  /** Forget cached shape/dtype/device (after the data under this handle was swapped). */
  resetMeta(): void { this.#shape = null; this.#dtype = null; this.#device = null; }

  #meta(): void {
    const [shape, dtype, device] = native.meta(this.handle);
    this.#shape = shape; this.#dtype = dtype; this.#device = device;
  }
  get shape(): number[] { if (!this.#shape) this.#meta(); return this.#shape!.slice(); }
  get dtype(): DType { if (!this.#dtype) this.#meta(); return this.#dtype!; }
  get device(): Device { if (!this.#device) this.#meta(); return this.#device!; }
  get ndim(): number { if (!this.#shape) this.#meta(); return this.#shape!.length; }
  get numel(): number { if (!this.#shape) this.#meta(); return this.#shape!.reduce((a, b) => a * b, 1); }
  size(dim: number): number { const s = this.shape; return s[dim < 0 ? dim + s.length : dim]; }
  stride(): number[] { return native.strides(this.handle); }

  // ---- autograd ----
  get requiresGrad(): boolean { return native.meta(this.handle)[3]; }
  set requiresGrad(on: boolean) { native.setRequiresGrad(this.handle, on); }
  requiresGrad_(on = true): this { native.setRequiresGrad(this.handle, on); return this; }
  /** The accumulated gradient (a new handle onto it), or null. */
  get grad(): Tensor | null { return wrapOrNull(native.grad(this.handle)); }
  set grad(g: Tensor | null) { native.setGrad(this.handle, g === null ? null : g.handle); }
  get isLeaf(): boolean { return native.isLeaf(this.handle); }
  retainGrad(): void { native.retainGrad(this.handle); }
  backward(gradient?: Tensor | null, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
    native.backward([this.handle], gradient ? [gradient.handle] : null, opts.retainGraph ?? !!opts.createGraph, opts.createGraph ?? false);
  }

  // ---- readback ----
  /** The data as a typed array (a copy; float16/bfloat16 as raw Uint16 bits, bool as Uint8). */
  toTypedArray(): TypedArray { return typedArrayFor(this.dtype, native.toBuffer(this.handle)); }
  /** The data as nested JS arrays of numbers (booleans for bool). */
  toArray(): NestedArray {
    const flat = toNumbers(this.dtype, this.toTypedArray());
    const vals: NestedArray[] = this.dtype === 'bool' ? flat.map((v) => v !== 0) : flat;
    return nest(vals, this.shape);
  }
  item(): number { const v = native.item(this.handle); return typeof v === 'boolean' ? Number(v) : v; }

  // ---- conversion ----
  /** to('cuda'), to('float64'), to({device, dtype}) */
  to(target: Device | DType | { device?: Device; dtype?: DType }, opts: { copy?: boolean } = {}): Tensor {
    if (typeof target === 'string' && !isDType(target) && !/^(cpu|cuda|meta)(:\d+)?$/.test(target)) {
      // otherwise libtorch reports a misspelt dtype as an "invalid device string"
      throw new Error(`to(): '${target}' is neither a dtype (${DTYPES.join(', ')}) nor a device (cpu, cuda, cuda:<n>)`);
    }
    const t = typeof target === 'string' ? (isDType(target) ? { dtype: target } : { device: target }) : target;
    return wrap(native.ops.cast(this.handle, t.device ?? null, t.dtype ?? null, opts.copy ?? false));
  }
  float(): Tensor { return this.to({ dtype: 'float32' }); }
  double(): Tensor { return this.to({ dtype: 'float64' }); }
  long(): Tensor { return this.to({ dtype: 'int64' }); }
  bool(): Tensor { return this.to({ dtype: 'bool' }); }
  cpu(): Tensor { return this.to({ device: 'cpu' }); }
  cuda(index = 0): Tensor { return this.to({ device: `cuda:${index}` }); }

  toString(): string {
    if (this.isDisposed) return 'Tensor(disposed)';
    const body = this.numel <= 64 ? JSON.stringify(this.toArray()) : `…${this.numel} elements`;
    return `Tensor(${body}, shape=[${this.shape}], dtype=${this.dtype}, device=${this.device})`;
  }
  [Symbol.for('nodejs.util.inspect.custom')](): string { return this.toString(); }
}

function isDType(s: string): s is DType {
  return (DTYPES as readonly string[]).includes(s);
}

function nest(flat: NestedArray[], shape: number[]): NestedArray {
  if (shape.length === 0) return flat[0];
  const build = (off: number, d: number): NestedArray[] => {
    if (d === shape.length - 1) return flat.slice(off, off + shape[d]);
    const step = shape.slice(d + 1).reduce((a, b) => a * b, 1);
    return Array.from({ length: shape[d] }, (_, i) => build(off + i * step, d + 1));
  };
  return build(0, 0);
}

export function wrap(h: Handle): Tensor { return new Tensor(h); }
export function wrapOrNull(h: Handle | null): Tensor | null { return h === null ? null : new Tensor(h); }
export function wrapAll(hs: Handle[]): Tensor[] { return hs.map(wrap); }
export function withOptions(t: Tensor, o: TensorOptions): Tensor {
  if (o.requiresGrad) {
    // an integer tensor cannot require grad: free it before the error leaves, or it leaks
    try { t.requiresGrad = true; } catch (e) { t.dispose(); throw e; }
  }
  return t;
}

function flatten(data: NestedArray, shape: number[], out: number[]): void {
  // The shape comes from the first element at each depth; every other element must agree with it
  // (a shape grown while walking would accept ragged input like [1, [2]] as [2, 1]).
  for (let d: NestedArray = data; Array.isArray(d); d = d[0]) {
    shape.push(d.length);
    if (!d.length) break;
  }
  const walk = (x: NestedArray, depth: number): void => {
    if (Array.isArray(x)) {
      if (depth === shape.length) throw new Error(`tensor(): ragged nested array: an array at depth ${depth} where a number was expected`);
      if (x.length !== shape[depth]) throw new Error(`tensor(): ragged nested array: expected length ${shape[depth]} at depth ${depth}, got ${x.length}`);
      for (const y of x) walk(y, depth + 1);
    } else {
      if (depth !== shape.length) throw new Error(`tensor(): ragged nested array: a number at depth ${depth} where an array was expected`);
      if (typeof x !== 'number' && typeof x !== 'boolean') throw new Error(`tensor(): expected numbers or booleans, got ${typeof x}`);
      out.push(typeof x === 'boolean' ? Number(x) : x);
    }
  };
  walk(data, 0);
}

function firstLeaf(d: NestedArray): number | boolean | undefined {
  while (Array.isArray(d)) { if (!d.length) return undefined; d = d[0]; }
  return d;
}

/**
 * Create a tensor from a typed array (dtype inferred, shape defaults to 1-D) or nested JS arrays
 * (float32 unless {dtype}; bool for booleans). The data is copied.
 */
export function tensor(data: NestedArray | ArrayBufferView, opts: TensorOptions & { shape?: number[] } = {}): Tensor {
  if (opts.dtype !== undefined && !isDType(opts.dtype)) {
    throw new Error(`tensor(): unknown dtype '${opts.dtype}' (use ${DTYPES.join(', ')})`);
  }
  let t: Tensor;
  if (ArrayBuffer.isView(data)) {
    const dtype = opts.dtype ?? dtypeOfTypedArray(data);
    const elems = data.byteLength / bytesPerElement(dtype);
    t = wrap(native.fromBuffer(data, dtype, opts.shape ?? [elems]));
  } else {
    const shape: number[] = [];
    const flat: number[] = [];
    flatten(data, shape, flat);
    const dtype = opts.dtype ?? (typeof firstLeaf(data) === 'boolean' ? 'bool' : 'float32');
    t = wrap(native.fromBuffer(encode(flat, dtype), dtype, opts.shape ?? shape));
  }
  if (opts.device && opts.device !== 'cpu') {
    let moved: Tensor;
    try { moved = t.to({ device: opts.device }); } finally { t.dispose(); }
    t = moved;
  }
  return withOptions(t, opts);
}

function bytesPerElement(d: DType): number {
  return { float32: 4, float64: 8, float16: 2, bfloat16: 2, int64: 8, int32: 4, int16: 2, int8: 1, uint8: 1, bool: 1 }[d];
}

function encode(flat: number[], dtype: DType): ArrayBufferView {
  switch (dtype) {
    case 'float32': return Float32Array.from(flat);
    case 'float64': return Float64Array.from(flat);
    case 'int64': return BigInt64Array.from(flat, (v) => BigInt(Math.trunc(v)));
    case 'int32': return Int32Array.from(flat);
    case 'int16': return Int16Array.from(flat);
    case 'int8': return Int8Array.from(flat);
    case 'uint8': case 'bool': return Uint8Array.from(flat);
    case 'float16': case 'bfloat16': {
      // go through float32, then let libtorch round to the half type
      const f = wrap(native.fromBuffer(Float32Array.from(flat), 'float32', [flat.length]));
      const h = f.to({ dtype });
      const bits = h.toTypedArray();
      f.dispose(); h.dispose();
      return bits;
    }
  }
}
