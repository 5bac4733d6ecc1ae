// Friendly factories over the generated ones: shapes as arrays, options objects, PyTorch defaults.
import * as ops from './generated/ops.js';
import type { Tensor } from './tensor.js';
import type { TensorOptions } from './dtype.js';
import type { Generator } from './random.js';

type RandOpts = TensorOptions & { generator?: Generator | null };

export const zeros = (shape: number[], o: TensorOptions = {}): Tensor => ops.zeros(shape, o);
export const ones = (shape: number[], o: TensorOptions = {}): Tensor => ops.ones(shape, o);
export const empty = (shape: number[], o: TensorOptions = {}): Tensor => ops.empty(shape, o);
/** A boolean fill value gives a bool tensor (as torch.full); a number gives float32 unless {dtype}. */
export const full = (shape: number[], value: number | boolean, o: TensorOptions = {}): Tensor =>
  ops.full(shape, value, typeof value === 'boolean' && o.dtype === undefined ? { ...o, dtype: 'bool' } : o);
export const eye = (n: number, m = n, o: TensorOptions = {}): Tensor => ops.eye(n, m, o);
export const linspace = (start: number, end: number, steps: number, o: TensorOptions = {}): Tensor => ops.linspace(start, end, steps, o);

/** arange(end) / arange(start, end, step): int64 when every bound is an integer (as torch), else float32. */
export function arange(a: number, b?: number, step = 1, o: TensorOptions = {}): Tensor {
  const [start, end] = b === undefined ? [0, a] : [a, b];
  const integral = [start, end, step].every(Number.isInteger);
  return ops.arange(start, end, step, { dtype: integral ? 'int64' : 'float32', ...o });
}

export const rand = (shape: number[], o: RandOpts = {}): Tensor => ops.rand(shape, o.generator ?? null, o);
export const randn = (shape: number[], o: RandOpts = {}): Tensor => ops.randn(shape, o.generator ?? null, o);
export const randint = (low: number, high: number, shape: number[], o: RandOpts = {}): Tensor =>
  ops.randint(low, high, shape, o.generator ?? null, { dtype: 'int64', ...o });
export const randperm = (n: number, o: RandOpts = {}): Tensor => ops.randperm(n, o.generator ?? null, { dtype: 'int64', ...o });
export const normal = (mean: number, std: number, shape: number[], o: RandOpts = {}): Tensor =>
  ops.normal(mean, std, shape, o.generator ?? null, o);
/** Draw 0/1 with probability p (a number, or a tensor of probabilities). */
export function bernoulli(p: number | Tensor, shapeOrGen?: number[] | Generator | null, o: RandOpts = {}): Tensor {
  if (typeof p === 'number') {
    const probs = ops.full(shapeOrGen as number[], p, o);
    const r = ops.bernoulli(probs, o.generator ?? null);
    probs.dispose();
    return r;
  }
  return ops.bernoulli(p, (shapeOrGen as Generator | null | undefined) ?? o.generator ?? null);
}
