// Elementwise ops: arithmetic with broadcasting and scalars, type promotion, unary math against JS's
// float64 Math, comparisons and logic, and the in-place ops.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat } from '../helpers.js';

checkNoLeaks();
const { tidy, tensor } = torch;
const f64 = (v: torch.NestedArray): torch.Tensor => tensor(v, { dtype: 'float64' });

test('add / sub / mul / div with broadcasting, scalars and alpha', () => tidy(() => {
  const a = tensor([[1, 2, 3], [4, 5, 6]]);
  const row = tensor([10, 20, 30]), col = tensor([[100], [200]]);
  assert.deepEqual(a.add(row).toArray(), [[11, 22, 33], [14, 25, 36]]);
  assert.deepEqual(a.add(col).toArray(), [[101, 102, 103], [204, 205, 206]]);
  assert.deepEqual(row.add(col).shape, [2, 3], '(3) + (2,1) -> (2,3)');
  assert.deepEqual(a.add(1).toArray(), [[2, 3, 4], [5, 6, 7]]);
  assert.deepEqual(a.add(row, 2).toArray(), [[21, 42, 63], [24, 45, 66]], 'alpha scales other');
  assert.deepEqual(a.sub(row, 0.5).toArray(), [[-4, -8, -12], [-1, -5, -9]]);
  assert.deepEqual(a.sub(1).toArray(), [[0, 1, 2], [3, 4, 5]]);
  assert.deepEqual(a.rsub(10).toArray(), [[9, 8, 7], [6, 5, 4]], 'rsub: other - self');
  assert.deepEqual(a.mul(col).toArray(), [[100, 200, 300], [800, 1000, 1200]]);
  assert.deepEqual(a.mul(0.5).toArray(), [[0.5, 1, 1.5], [2, 2.5, 3]]);
  assert.deepEqual(a.div(tensor([1, 2, 4])).toArray(), [[1, 1, 0.75], [4, 2.5, 1.5]]);
  assert.deepEqual(tensor([7, -7]).div(2, 'floor').toArray(), [3, -4]);
  assert.deepEqual(tensor([7, -7]).div(2, 'trunc').toArray(), [3, -3]);
  assert.deepEqual(tensor([1, -1, 0]).div(0).toArray(), [Infinity, -Infinity, NaN]);
  // remainder follows Python: the result has the divisor's sign
  assert.deepEqual(tensor([5, -5, 5, -5]).remainder(tensor([3, 3, -3, -3])).toArray(), [2, 1, -1, -2]);
  assert.throws(() => torch.tensor([[1, 2]]).add(torch.tensor([1, 2, 3])), /add\(self: \[1,2\], other: \[3\]\)/);
}));

test('type promotion follows PyTorch (JS numbers act as Python scalars)', () => tidy(() => {
  const i = tensor([1, 2, 3], { dtype: 'int64' });
  assert.equal(i.add(1).dtype, 'int64', 'int tensor + integral scalar stays integer');
  assert.equal(i.add(0.5).dtype, 'float32', 'int tensor + float scalar -> default float');
  assert.deepEqual(i.add(0.5).toArray(), [1.5, 2.5, 3.5]);
  assert.equal(i.div(2).dtype, 'float32', 'true division of integers gives float');
  assert.deepEqual(i.div(2).toArray(), [0.5, 1, 1.5]);
  assert.equal(i.div(2, 'floor').dtype, 'int64');
  assert.equal(tensor([1], { dtype: 'int32' }).add(tensor([1], { dtype: 'int64' })).dtype, 'int64');
  assert.equal(tensor([1], { dtype: 'uint8' }).add(1).dtype, 'uint8');
  assert.equal(tensor([1], { dtype: 'float16' }).mul(3.7).dtype, 'float16', 'a scalar does not promote a float tensor');
  assert.equal(tensor([1]).add(f64([1])).dtype, 'float64');
  assert.equal(f64([1]).add(tensor([1], { dtype: 'float16' })).dtype, 'float64');
  // a 0-dim tensor takes part like a scalar of its category
  assert.equal(tensor([1], { dtype: 'float16' }).add(f64(2)).dtype, 'float16');
  assert.equal(i.add(tensor(2.5)).dtype, 'float32');
  assert.equal(tensor([true]).add(true).dtype, 'bool');
  assert.equal(tensor([true]).add(1).dtype, 'int64');
  assert.equal(i.mul(true).dtype, 'int64');
  // bfloat16 arithmetic rounds to bfloat16: 1 + 2^-9 is below half an ulp (2^-8) of 1 -> 1
  assert.deepEqual(tensor([1], { dtype: 'bfloat16' }).add(2 ** -9).toArray(), [1]);
  assert.deepEqual(tensor([1], { dtype: 'float16' }).add(2 ** -9).toArray(), [1 + 2 ** -9], 'float16 has 10 mantissa bits');
}));

test('unary math against JS Math in float64', () => tidy(() => {
  const xs = [-2.5, -1, -0.3, 0.2, 0.5, 1.7, 3];
  const pos = [0.1, 0.5, 1, 2.5, 10];
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  const unary: [keyof torch.Tensor, number[], (v: number) => number][] = [
    ['exp', xs, Math.exp], ['abs', xs, Math.abs], ['neg', xs, (v) => -v], ['sign', [...xs, 0], Math.sign],
    ['sin', xs, Math.sin], ['cos', xs, Math.cos], ['tanh', xs, Math.tanh], ['sigmoid', xs, sig],
    ['relu', xs, (v) => Math.max(v, 0)], ['silu', xs, (v) => v * sig(v)], ['square', xs, (v) => v * v],
    ['floor', xs, Math.floor], ['ceil', xs, Math.ceil], ['trunc', xs, Math.trunc], ['frac', xs, (v) => v - Math.trunc(v)],
    ['expm1', xs, Math.expm1], ['reciprocal', xs, (v) => 1 / v],
    ['sqrt', pos, Math.sqrt], ['rsqrt', pos, (v) => 1 / Math.sqrt(v)], ['log', pos, Math.log], ['log2', pos, Math.log2],
    ['log1p', pos, Math.log1p],
  ];
  for (const [name, input, ref] of unary) {
    const out = (f64(input)[name] as () => torch.Tensor)();
    assertClose(out, input.map(ref), { atol: 1e-12, rtol: 1e-12 }, String(name));
  }
  // round is half-to-even (as torch.round), not JS's half-up
  assert.deepEqual(f64([0.5, 1.5, 2.5, -0.5, -1.5, 2.4]).round().toArray(), [0, 2, 2, -0, -2, 2]);
  // erf: published values erf(0.5) = 0.5204998778130465, erf(1) = 0.8427007929497149, erf(-2) = -0.9953222650189527
  assertClose(f64([0, 0.5, 1, -2]).erf(), [0, 0.5204998778130465, 0.8427007929497149, -0.9953222650189527], { atol: 1e-15 });
  assertClose(f64([0.5204998778130465, -0.9953222650189527]).erfinv(), [0.5, -2], { atol: 1e-12 });
  assert.deepEqual(f64([-1, 0]).sqrt().toArray(), [NaN, 0]);
  assert.deepEqual(f64([0, -1]).log().toArray(), [-Infinity, NaN]);
  assert.deepEqual(f64([NaN, Infinity, -Infinity, 1]).isnan().toArray(), [true, false, false, false]);
  assert.deepEqual(f64([NaN, Infinity, -Infinity, 1]).isinf().toArray(), [false, true, true, false]);
  assert.deepEqual(f64([NaN, Infinity, -Infinity, 1]).isfinite().toArray(), [false, false, false, true]);
  // float32 results are the float32 rounding of the exact value
  assertClose(tensor([1]).exp(), [Math.fround(Math.E)], { atol: 0, rtol: 0 });
}));

test('pow / clamp / minimum / maximum / atan2 / lerp / addcmul / addcdiv', () => tidy(() => {
  const x = f64([1, 2, 3]);
  assert.deepEqual(x.pow(2).toArray(), [1, 4, 9]);
  assert.deepEqual(x.pow(0.5).toArray(), [1, Math.sqrt(2), Math.sqrt(3)]);
  assert.deepEqual(x.pow(f64([3, 2, 1])).toArray(), [1, 4, 3]);
  assert.deepEqual(x.pow(-1).toArray(), [1, 0.5, 1 / 3]);
  assert.deepEqual(f64([-8]).pow(1 / 3).toArray(), [NaN], 'fractional power of a negative');
  const y = f64([-2, -0.5, 0, 0.5, 2]);
  assert.deepEqual(y.clamp(-1, 1).toArray(), [-1, -0.5, 0, 0.5, 1]);
  assert.deepEqual(y.clamp(0).toArray(), [0, 0, 0, 0.5, 2], 'min only');
  assert.deepEqual(y.clamp(null, 0).toArray(), [-2, -0.5, 0, 0, 0], 'max only');
  assert.throws(() => y.clamp(), /clamp.*At least one of 'min' or 'max' must not be None/);
  assert.deepEqual(f64([1, 5, NaN]).minimum(f64([3, 2, 1])).toArray(), [1, 2, NaN], 'NaN propagates');
  assert.deepEqual(f64([1, 5, 0]).maximum(f64([3, 2, 1])).toArray(), [3, 5, 1]);
  assert.deepEqual(f64([[1], [4]]).maximum(f64([2, 3])).toArray(), [[2, 3], [4, 4]], 'broadcast');
  assert.deepEqual(f64([1, -1]).maximum(0).toArray(), [1, 0]);
  assertClose(f64([1, -1, 0]).atan2(f64([1, -1, -1])), [Math.atan2(1, 1), Math.atan2(-1, -1), Math.atan2(0, -1)], { atol: 1e-15 });
  // lerp: a + w (b - a)
  assert.deepEqual(f64([0, 10]).lerp(f64([10, 20]), 0.25).toArray(), [2.5, 12.5]);
  assert.deepEqual(f64([0, 10]).lerp(f64([10, 20]), f64([0, 1])).toArray(), [0, 20]);
  // addcmul: self + v·t1·t2; addcdiv: self + v·t1/t2
  assert.deepEqual(f64([1, 1]).addcmul(f64([2, 3]), f64([4, 5]), 0.5).toArray(), [5, 8.5]);
  assert.deepEqual(f64([1, 1]).addcdiv(f64([2, 3]), f64([4, 5]), 2).toArray(), [2, 2.2]);
}));

test('comparisons and logical ops (broadcast, scalars, bool results)', () => tidy(() => {
  const a = tensor([1, 2, 3]), b = tensor([3, 2, 1]);
  assert.deepEqual(a.eq(b).toArray(), [false, true, false]);
  assert.deepEqual(a.ne(b).toArray(), [true, false, true]);
  assert.deepEqual(a.lt(b).toArray(), [true, false, false]);
  assert.deepEqual(a.le(b).toArray(), [true, true, false]);
  assert.deepEqual(a.gt(2).toArray(), [false, false, true]);
  assert.deepEqual(a.ge(2).toArray(), [false, true, true]);
  assert.deepEqual(a.eq(tensor([[1], [3]])).toArray(), [[true, false, false], [false, false, true]]);
  assert.equal(a.eq(b).dtype, 'bool');
  assert.deepEqual(f64([NaN]).eq(f64([NaN])).toArray(), [false]);
  const p = tensor([true, true, false, false]), q = tensor([true, false, true, false]);
  assert.deepEqual(p.logicalAnd(q).toArray(), [true, false, false, false]);
  assert.deepEqual(p.logicalOr(q).toArray(), [true, true, true, false]);
  assert.deepEqual(p.logicalXor(q).toArray(), [false, true, true, false]);
  assert.deepEqual(p.logicalNot().toArray(), [false, false, true, true]);
  assert.deepEqual(p.bitwiseNot().toArray(), [false, false, true, true]);
  // logical ops on numbers: nonzero is true
  assert.deepEqual(tensor([0, 2, -1]).logicalNot().toArray(), [true, false, false]);
  assert.deepEqual(tensor([0, 2]).logicalAnd(1).toArray(), [false, true]);
  assert.equal(a.equal(tensor([1, 2, 3])), true);
  assert.equal(a.equal(b), false);
  assert.equal(a.allclose(a.add(1e-9)), true);
  assert.equal(a.allclose(a.add(1e-3)), false);
  assert.equal(p.all().item(), 0);
  assert.equal(p.any().item(), 1);
}));

test('in-place ops change the tensor, return it, and allocate no new handle', () => tidy(() => {
  const x = f64([1, 2, 3]);
  const ones = f64([1, 1, 1]), twos = f64([2, 2, 2]);
  const before = torch.liveTensorCount();
  assert.equal(x.add_(1), x);
  assert.deepEqual(x.toArray(), [2, 3, 4]);
  x.add_(ones, 2);
  assert.deepEqual(x.toArray(), [4, 5, 6]);
  x.sub_(1).mul_(2).div_(4);
  assert.deepEqual(x.toArray(), [1.5, 2, 2.5]);
  x.mul_(twos);
  assert.deepEqual(x.toArray(), [3, 4, 5]);
  x.addcmul_(ones, twos).lerp_(twos, 0.5).clamp_(0, 100).fill_(3).zero_();
  assert.equal(torch.liveTensorCount(), before, 'in-place ops create no handle');
  const t1 = f64([1, 2, 3]), t2 = f64([2, 2, 2]);
  x.copy_(f64([3, 4, 5]));
  x.addcmul_(t1, t2, 0.5);
  assert.deepEqual(x.toArray(), [4, 6, 8]);
  x.addcdiv_(t1, t2, 2);
  assert.deepEqual(x.toArray(), [5, 8, 11]);
  x.lerp_(f64([15, 18, 21]), 0.1);
  assertClose(x, [6, 9, 12], { atol: 1e-12 });
  x.clamp_(7, 10);
  assert.deepEqual(x.toArray(), [7, 9, 10]);
  x.fill_(4);
  assert.deepEqual(x.toArray(), [4, 4, 4]);
  x.sqrt_().neg_();
  assert.deepEqual(x.toArray(), [-2, -2, -2]);
  x.zero_();
  assert.deepEqual(x.toArray(), [0, 0, 0]);
  // copy_ broadcasts and converts dtype
  const m = torch.zeros([2, 3], { dtype: 'float64' });
  m.copy_(tensor([1.5, 2, 3], { dtype: 'float32' }));
  assert.deepEqual(m.toArray(), [[1.5, 2, 3], [1.5, 2, 3]]);
  const ints = torch.zeros([2], { dtype: 'int32' });
  ints.copy_(f64([2.9, -2.9]));
  assert.deepEqual(ints.toArray(), [2, -2]);
  assert.throws(() => m.copy_(f64([1, 2])), /copy_\(self: \[2,3\], src: \[2\]\)/);
  // in-place into a view writes through to the base
  const base = torch.zeros([2, 2]);
  base.select(0, 1).fill_(5);
  assert.deepEqual(base.toArray(), [[0, 0], [5, 5]]);
  // an integer tensor cannot hold a float result in place
  assert.throws(() => tensor([1, 2], { dtype: 'int64' }).mul_(0.5), /mul_.*(can't be cast|result type)/);
}));

test('in-place on a leaf that requires grad is refused (outside noGrad)', () => tidy(() => {
  const w = f64([1, 2]);
  w.requiresGrad = true;
  assert.throws(() => w.add_(1), /add_.*leaf Variable that requires grad/);
  torch.noGrad(() => w.add_(1));
  assert.deepEqual(w.toArray(), [2, 3]);
}));

test('scalars: a number where a tensor is expected works on either side', () => tidy(() => {
  assert.deepEqual(torch.mul(tensor([1, 2]), 3).toArray(), [3, 6]);
  assert.deepEqual(torch.where(tensor([true, false]), 1.5, -1.5).toArray(), [1.5, -1.5]);
  assert.deepEqual(torch.maximum(tensor([-1, 1]), 0).toArray(), [0, 1]);
  assert.deepEqual(flat(tensor([2]).pow(tensor(3))), [8]);
}));
