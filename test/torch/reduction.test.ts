// Reductions over dims with keepdim, and matrix products, against values computed here in float64.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../helpers.js';

checkNoLeaks();
const { tidy, tensor } = torch;
const f64 = (v: torch.NestedArray): torch.Tensor => tensor(v, { dtype: 'float64' });

// a (2,3,2) array and its reductions written out by hand
const A = [[[1, 2], [3, 4], [5, 6]], [[-1, 0], [2, 8], [9, -3]]];
const sumAll = A.flat(2).reduce((s, v) => s + v, 0); // 36

test('sum / mean over all, one, several and negative dims, with keepdim', () => tidy(() => {
  const x = f64(A);
  assert.equal(x.sum().item(), sumAll);
  assert.deepEqual(x.sum().shape, []);
  assert.equal(x.mean().item(), sumAll / 12);
  assert.deepEqual(x.sum(0).toArray(), [[0, 2], [5, 12], [14, 3]]);
  assert.deepEqual(x.sum(-1).toArray(), [[3, 7, 11], [-1, 10, 6]]);
  assert.deepEqual(x.sum([0, 2]).toArray(), [2, 17, 17]);
  assert.deepEqual(x.sum([1], true).toArray(), [[[9, 12]], [[10, 5]]]);
  assert.deepEqual(x.sum([1], true).shape, [2, 1, 2]);
  assert.deepEqual(x.mean([1, 2]).toArray(), [21 / 6, 15 / 6]);
  assert.deepEqual(x.mean(-1, true).shape, [2, 3, 1]);
  // integer sums accumulate in int64; mean of integers needs a float dtype
  const i = tensor([[1, 2], [3, 4]], { dtype: 'int32' });
  assert.equal(i.sum().dtype, 'int64');
  assert.equal(tensor([true, true, false]).sum().item(), 2);
  assert.throws(() => i.mean(), /mean.*(Long|Int|floating)/);
  assert.equal(i.mean(null, false, 'float64').item(), 2.5);
  assert.equal(i.sum(null, false, 'float32').dtype, 'float32');
  // float16 sums accumulate in float32 before rounding: 4096 halves of 0.1
  const h = torch.full([4096], 0.1, { dtype: 'float16' });
  assert.ok(Math.abs(h.sum().item() - 409.5) < 0.6, 'no catastrophic half accumulation');
  assert.throws(() => x.sum(3), /sum\(self: \[2,3,2\]\).*Dimension out of range/);
}));

test('var / std with and without Bessel\'s correction, var_mean', () => tidy(() => {
  const vals = [2, 4, 4, 4, 5, 5, 7, 9]; // mean 5, sum of squared deviations 32
  const x = f64(vals);
  assert.equal(x.var().item(), 32 / 7, 'unbiased by default');
  assert.equal(x.var(null, false).item(), 4);
  assert.equal(x.std(null, false).item(), 2);
  assertClose([x.std().item()], [Math.sqrt(32 / 7)], { atol: 1e-15 });
  const m = f64([[1, 2, 3], [2, 4, 9]]);
  // rows: mean 2 -> ss 2; mean 5 -> ss 9+1+16 = 26
  assertClose(m.var(1), [1, 13], { atol: 1e-15 });
  assertClose(m.var(1, false, true), [[2 / 3], [26 / 3]], { atol: 1e-15 });
  // columns: (1,2) ss .5; (2,4) ss 2; (3,9) ss 18
  assertClose(m.std(0), [Math.sqrt(0.5), Math.sqrt(2), Math.sqrt(18)], { atol: 1e-15 });
  const [v, mu] = m.varMean(1, false);
  assertClose(v, [2 / 3, 26 / 3], { atol: 1e-15 });
  assertClose(mu, [2, 5], { atol: 1e-15 });
  assert.deepEqual(f64([3]).var().toArray(), NaN, 'one sample: unbiased var is NaN');
}));

test('norm / amax / amin / max / min / argmax / argmin / prod / cumsum', () => tidy(() => {
  const x = f64([[3, -4], [0, 12]]);
  assert.equal(x.norm().item(), 13);
  assert.deepEqual(x.norm(2, 1).toArray(), [5, 12]);
  assert.deepEqual(x.norm(1, 1).toArray(), [7, 12]);
  assert.deepEqual(x.norm(2, 0, true).toArray(), [[3, Math.sqrt(160)]]);
  assert.deepEqual(x.norm(Infinity, 1).toArray(), [4, 12]);
  assert.equal(x.amax().item(), 12);
  assert.deepEqual(x.amax([1]).toArray(), [3, 12]);
  assert.deepEqual(x.amin([0], true).toArray(), [[0, -4]]);
  assert.deepEqual(x.amax([0, 1]).toArray(), 12);
  assert.equal(x.maxAll().item(), 12);
  assert.equal(x.minAll().item(), -4);
  const [mv, mi] = x.maxDim(1);
  assert.deepEqual(mv.toArray(), [3, 12]);
  assert.deepEqual(mi.toArray(), [0, 1]);
  const [nv, ni] = x.minDim(0, true);
  assert.deepEqual(nv.toArray(), [[0, -4]]);
  assert.deepEqual(ni.toArray(), [[1, 0]]);
  assert.equal(x.argmax().item(), 3, 'flattened index');
  assert.deepEqual(x.argmax(1).toArray(), [0, 1]);
  assert.deepEqual(x.argmin(0, true).toArray(), [[1, 0]]);
  assert.equal(x.argmax(1).dtype, 'int64');
  assert.equal(f64([1, 2, 3, 4]).prod().item(), 24);
  assert.deepEqual(x.prod(1).toArray(), [-12, 0]);
  assert.deepEqual(f64([1, 2, 3]).cumsum(0).toArray(), [1, 3, 6]);
  assert.deepEqual(x.cumsum(1).toArray(), [[3, -1], [0, 12]]);
  assert.deepEqual(f64([[true, false]]).all().item(), 0);
  assert.deepEqual(f64([1, 2]).all().item(), 1);
  assert.deepEqual(f64([0, 0]).any().item(), 0);
}));

test('matmul / mm / bmm / outer / linear, with batch broadcasting', () => tidy(() => {
  const a = f64([[1, 2], [3, 4]]), b = f64([[5, 6], [7, 8]]);
  assert.deepEqual(a.matmul(b).toArray(), [[19, 22], [43, 50]]);
  assert.deepEqual(a.mm(b).toArray(), [[19, 22], [43, 50]]);
  assert.deepEqual(a.matmul(f64([1, -1])).toArray(), [-1, -1], 'matrix · vector');
  assert.deepEqual(f64([1, -1]).matmul(a).toArray(), [-2, -2], 'vector · matrix');
  assert.deepEqual(f64([1, 2, 3]).matmul(f64([4, 5, 6])).toArray(), 32, 'dot');
  // batched: (2,2,2)·(2,2) broadcasts the matrix
  const batch = torch.stack([a, b]);
  assert.deepEqual(batch.matmul(a).toArray(), [[[7, 10], [15, 22]], [[23, 34], [31, 46]]]);
  assert.deepEqual(batch.bmm(torch.stack([b, a])).toArray(), [[[19, 22], [43, 50]], [[23, 34], [31, 46]]]);
  // (3,1,2,2)·(2,2,2) -> (3,2,2,2)
  assert.deepEqual(torch.zeros([3, 1, 2, 2], { dtype: 'float64' }).matmul(batch).shape, [3, 2, 2, 2]);
  assert.deepEqual(f64([1, 2]).outer(f64([3, 4, 5])).toArray(), [[3, 4, 5], [6, 8, 10]]);
  // linear: x·Wᵀ + b
  const w = f64([[1, 0], [0, 2], [1, 1]]), bias = f64([0.5, 0, -1]);
  assert.deepEqual(torch.linear(a, w, bias).toArray(), [[1.5, 4, 2], [3.5, 8, 6]]);
  assert.deepEqual(torch.linear(a, w).toArray(), [[1, 4, 3], [3, 8, 7]]);
  assert.throws(() => a.mm(f64([[1, 2, 3]])), /mm\(self: \[2,2\], mat2: \[1,3\]\).*cannot be multiplied \(2x2 and 1x3\)/);
  assert.throws(() => batch.bmm(a), /bmm\(self: \[2,2,2\], mat2: \[2,2\]\)/);
  // float32 matmul of a larger product against a float64 reference computed here
  const n = 33;
  const av = Array.from({ length: n * n }, (_, k) => Math.sin(k)), bv = Array.from({ length: n * n }, (_, k) => Math.cos(3 * k));
  const ref: number[] = [];
  for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) { let s = 0; for (let k = 0; k < n; k++) s += av[i * n + k] * bv[k * n + j]; ref.push(s); }
  const prod = tensor(Float32Array.from(av), { shape: [n, n] }).matmul(tensor(Float32Array.from(bv), { shape: [n, n] }));
  assertClose(prod, ref, { atol: 1e-4, rtol: 1e-4 });
}));
