// The bridge between the file formats' neutral RawTensor and engine Tensors.
import { Tensor, wrap } from '../tensor.js';
import { native } from '../native.js';
import type { RawTensor } from './dtypes.js';
import { readSafetensors, writeSafetensors } from './safetensors.js';

export function rawToTensor(r: RawTensor): Tensor {
  return wrap(native.fromBuffer(r.data, r.dtype, r.shape));
}

export function tensorToRaw(t: Tensor): RawTensor {
  return { dtype: t.dtype, shape: t.shape, data: new Uint8Array(native.toBuffer(t.handle)) };
}

/** Read a safetensors file into Tensors (CPU). */
export function loadSafetensors(path: string): { tensors: Map<string, Tensor>; metadata: Record<string, string> } {
  const { tensors, metadata } = readSafetensors(path);
  const out = new Map<string, Tensor>();
  for (const [k, r] of tensors) out.set(k, rawToTensor(r));
  return { tensors: out, metadata };
}

/** Write Tensors (any device) to a safetensors file, atomically. */
export function saveSafetensors(path: string, tensors: Map<string, Tensor>, metadata?: Record<string, string>): void {
  const raw = new Map<string, RawTensor>();
  for (const [k, t] of tensors) raw.set(k, tensorToRaw(t));
  writeSafetensors(path, raw, metadata);
}
