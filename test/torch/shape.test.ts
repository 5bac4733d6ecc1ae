// Shape and indexing ops: values checked against hand-written expectations.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();
const { tidy, tensor } = torch;
const i64 = (v: torch.NestedArray): torch.Tensor => tensor(v, { dtype: 'int64' });
/** [[0,1,2,3],[4,5,6,7],[8,9,10,11]] */
const m34 = (): torch.Tensor => torch.arange(12).reshape([3, 4]);

test('reshape / view / flatten / unflatten / squeeze / unsqueeze', () => tidy(() => {
  const x = torch.arange(6);
  assert.deepEqual(x.reshape([2, 3]).toArray(), [[0, 1, 2], [3, 4, 5]]);
  assert.deepEqual(x.reshape([-1, 2]).shape, [3, 2]);
  assert.deepEqual(x.view([3, -1]).toArray(), [[0, 1], [2, 3], [4, 5]]);
  // a view shares storage
  const v = x.view([2, 3]);
  v.fill_(1);
  assert.deepEqual(x.toArray(), [1, 1, 1, 1, 1, 1]);
  // view of a non-contiguous tensor is refused (reshape copies instead)
  const t = m34().t();
  assert.throws(() => t.view([12]), /view\(self: \[4,3\]\).*view size is not compatible/);
  assert.deepEqual(t.reshape([12]).toArray(), [0, 4, 8, 1, 5, 9, 2, 6, 10, 3, 7, 11]);
  const y = torch.zeros([2, 3, 4, 5]);
  assert.deepEqual(y.flatten().shape, [120]);
  assert.deepEqual(y.flatten(1).shape, [2, 60]);
  assert.deepEqual(y.flatten(1, 2).shape, [2, 12, 5]);
  assert.deepEqual(y.unflatten(1, [3, 1]).shape, [2, 3, 1, 4, 5]);
  assert.deepEqual(torch.zeros([2, 12]).unflatten(-1, [3, -1]).shape, [2, 3, 4]);
  const s = torch.zeros([1, 3, 1, 2]);
  assert.deepEqual(s.squeeze().shape, [3, 2]);
  assert.deepEqual(s.squeeze(2).shape, [1, 3, 2]);
  assert.deepEqual(s.squeeze(1).shape, [1, 3, 1, 2], 'squeezing a non-1 dim is a no-op');
  assert.deepEqual(s.unsqueeze(0).shape, [1, 1, 3, 1, 2]);
  assert.deepEqual(s.unsqueeze(-1).shape, [1, 3, 1, 2, 1]);
}));

test('permute / transpose / t / contiguous, including channels_last strides', () => tidy(() => {
  const x = torch.arange(24).reshape([2, 3, 4]);
  const p = x.permute([2, 0, 1]);
  assert.deepEqual(p.shape, [4, 2, 3]);
  assert.deepEqual(p.stride(), [1, 12, 4]);
  assert.equal(p.isContiguous(), false);
  // p[k][i][j] = x[i][j][k] = 12i + 4j + k
  assert.deepEqual(p.toArray(), Array.from({ length: 4 }, (_, k) => Array.from({ length: 2 }, (_, i) => Array.from({ length: 3 }, (_, j) => 12 * i + 4 * j + k))));
  const c = p.contiguous();
  assert.equal(c.isContiguous(), true);
  assert.deepEqual(c.stride(), [6, 3, 1]);
  assert.deepEqual(c.toArray(), p.toArray());
  assert.deepEqual(x.transpose(0, 2).shape, [4, 3, 2]);
  assert.deepEqual(x.transpose(-1, -2).toArray(), x.permute([0, 2, 1]).toArray());
  assert.deepEqual(m34().t().toArray(), [[0, 4, 8], [1, 5, 9], [2, 6, 10], [3, 7, 11]]);

  // channels_last: NCHW [2,3,4,5] stored as NHWC: strides (H·W·C, 1, W·C, C)
  const n = torch.arange(120, undefined, 1, { dtype: 'float32' }).reshape([2, 3, 4, 5]);
  const cl = n.contiguous('channels_last');
  assert.deepEqual(cl.shape, [2, 3, 4, 5]);
  assert.deepEqual(cl.stride(), [60, 1, 15, 3]);
  assert.equal(cl.isContiguous('channels_last'), true);
  assert.equal(cl.isContiguous(), false);
  assert.deepEqual(cl.toArray(), n.toArray(), 'same logical values');
  // conv on a channels_last input gives the same numbers
  const w = torch.ones([2, 3, 1, 1]);
  assert.deepEqual(torch.conv2d(cl, w).toArray(), torch.conv2d(n, w).toArray());
  assert.throws(() => torch.zeros([2, 3]).contiguous('channels_last'), /contiguous.*rank 4/);
  assert.throws(() => n.contiguous('nhwc' as never), /unknown memory format 'nhwc'/);
}));

test('expand / repeat / repeatInterleave', () => tidy(() => {
  const x = tensor([[1], [2]]);
  const e = x.expand([2, 3]);
  assert.deepEqual(e.toArray(), [[1, 1, 1], [2, 2, 2]]);
  assert.deepEqual(e.stride(), [1, 0], 'expand makes a stride-0 view');
  assert.deepEqual(x.expand([4, 2, -1]).shape, [4, 2, 1]);
  assert.throws(() => x.expand([3, 3]), /expand/);
  assert.deepEqual(tensor([1, 2]).repeat([2, 2]).toArray(), [[1, 2, 1, 2], [1, 2, 1, 2]]);
  assert.deepEqual(x.repeat([1, 2]).toArray(), [[1, 1], [2, 2]]);
  assert.deepEqual(tensor([1, 2]).repeatInterleave(2).toArray(), [1, 1, 2, 2]);
  assert.deepEqual(tensor([[1, 2], [3, 4]]).repeatInterleave(2, 0).toArray(), [[1, 2], [1, 2], [3, 4], [3, 4]]);
  assert.deepEqual(tensor([[1, 2], [3, 4]]).repeatInterleave(2, 1).toArray(), [[1, 1, 2, 2], [3, 3, 4, 4]]);
  // no dim: flattens first
  assert.deepEqual(tensor([[1, 2], [3, 4]]).repeatInterleave(2).toArray(), [1, 1, 2, 2, 3, 3, 4, 4]);
  // SparK's mask upsampling: (B,1,f,f) -> (B,1,f·r,f·r)
  const mask = tensor([[[[true, false], [false, true]]]]);
  assert.deepEqual(mask.repeatInterleave(2, 2).repeatInterleave(2, 3).toArray(), [[[
    [true, true, false, false], [true, true, false, false], [false, false, true, true], [false, false, true, true]]]]);
}));

test('cat / stack / split / splitWithSizes / chunk', () => tidy(() => {
  const a = tensor([[1, 2]]), b = tensor([[3, 4], [5, 6]]);
  assert.deepEqual(torch.cat([a, b]).toArray(), [[1, 2], [3, 4], [5, 6]]);
  assert.deepEqual(torch.cat([b, b], 1).toArray(), [[3, 4, 3, 4], [5, 6, 5, 6]]);
  assert.deepEqual(torch.cat([b, b], -1).shape, [2, 4]);
  assert.throws(() => torch.cat([a, b], 1), /cat\(tensors: \[\[1,2\], \[2,2\]\]\).*Sizes of tensors must match/);
  assert.deepEqual(torch.stack([tensor([1, 2]), tensor([3, 4])]).toArray(), [[1, 2], [3, 4]]);
  assert.deepEqual(torch.stack([tensor([1, 2]), tensor([3, 4])], 1).toArray(), [[1, 3], [2, 4]]);
  const x = torch.arange(7);
  assert.deepEqual(x.split(3).map((t) => t.toArray()), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(x.splitWithSizes([2, 5]).map((t) => t.toArray()), [[0, 1], [2, 3, 4, 5, 6]]);
  assert.throws(() => x.splitWithSizes([2, 2]), /split_with_sizes/);
  assert.deepEqual(x.chunk(3).map((t) => t.toArray()), [[0, 1, 2], [3, 4, 5], [6]]);
  assert.deepEqual(m34().chunk(2, 1).map((t) => t.toArray()), [[[0, 1], [4, 5], [8, 9]], [[2, 3], [6, 7], [10, 11]]]);
}));

test('narrow / slice with steps and negative bounds / select', () => tidy(() => {
  const x = m34();
  assert.deepEqual(x.narrow(1, 1, 2).toArray(), [[1, 2], [5, 6], [9, 10]]);
  assert.deepEqual(x.narrow(0, -1, 1).toArray(), [[8, 9, 10, 11]]);
  // x[:, ::2], x[1:, 1::2], x[:, -3:-1], x[::2, ::3]
  assert.deepEqual(x.slice(1, null, null, 2).toArray(), [[0, 2], [4, 6], [8, 10]]);
  assert.deepEqual(x.slice(0, 1).slice(1, 1, null, 2).toArray(), [[5, 7], [9, 11]]);
  assert.deepEqual(x.slice(1, -3, -1).toArray(), [[1, 2], [5, 6], [9, 10]]);
  assert.deepEqual(x.slice(0, null, null, 2).slice(1, null, null, 3).toArray(), [[0, 3], [8, 11]]);
  // out-of-range ends clamp like Python slices
  assert.deepEqual(x.slice(1, 2, 100).toArray(), [[2, 3], [6, 7], [10, 11]]);
  assert.throws(() => x.slice(1, 0, 4, 0), /slice.*step must be/);
  const s = x.slice(1, null, null, 2);
  s.zero_();
  assert.deepEqual((x.toArray() as number[][])[0], [0, 1, 0, 3], 'a slice is a view');
  assert.deepEqual(m34().select(1, 2).toArray(), [2, 6, 10]);
  assert.deepEqual(m34().select(0, -1).toArray(), [8, 9, 10, 11]);
}));

test('indexSelect / index (advanced) / gather', () => tidy(() => {
  const x = m34();
  assert.deepEqual(x.indexSelect(0, i64([2, 0, 2])).toArray(), [[8, 9, 10, 11], [0, 1, 2, 3], [8, 9, 10, 11]]);
  assert.deepEqual(x.indexSelect(1, i64([3, 1])).toArray(), [[3, 1], [7, 5], [11, 9]]);
  assert.throws(() => x.indexSelect(0, i64([3])), /index_select.*out of range/i);
  // x[[0, 2], [1, 3]] -> [x[0][1], x[2][3]]; x[:, [0, 0]]; x[bool mask]
  assert.deepEqual(x.index([i64([0, 2]), i64([1, 3])]).toArray(), [1, 11]);
  assert.deepEqual(x.index([null, i64([0, 0])]).toArray(), [[0, 0], [4, 4], [8, 8]]);
  assert.deepEqual(x.index([tensor([true, false, true])]).toArray(), [[0, 1, 2, 3], [8, 9, 10, 11]]);
  // gather: out[i][j] = x[i][idx[i][j]] (dim 1); out[i][j] = x[idx[i][j]][j] (dim 0)
  assert.deepEqual(x.gather(1, i64([[3, 0], [1, 1], [2, 0]])).toArray(), [[3, 0], [5, 5], [10, 8]]);
  assert.deepEqual(x.gather(0, i64([[2, 1, 0, 0]])).toArray(), [[8, 5, 2, 3]]);
}));

test('scatter / scatterValue / scatterAdd / indexAdd / indexPut / indexPut_', () => tidy(() => {
  const z = torch.zeros([2, 4]);
  // out[i][idx[i][j]] = src[i][j]
  const src = tensor([[1, 2], [3, 4]]);
  const idx = i64([[0, 3], [2, 1]]);
  assert.deepEqual(z.scatter(1, idx, src).toArray(), [[1, 0, 0, 2], [0, 4, 3, 0]]);
  assert.deepEqual(z.scatterValue(1, idx, 7).toArray(), [[7, 0, 0, 7], [0, 7, 7, 0]]);
  assert.deepEqual(z.toArray(), [[0, 0, 0, 0], [0, 0, 0, 0]], 'out of place');
  // scatter_add accumulates duplicates
  assert.deepEqual(z.scatterAdd(1, i64([[1, 1], [0, 0]]), src).toArray(), [[0, 3, 0, 0], [7, 0, 0, 0]]);
  // dim 0: out[idx[i][j]][j] += src[i][j]
  assert.deepEqual(torch.zeros([3, 2]).scatterAdd(0, i64([[2, 0], [2, 2]]), src).toArray(), [[0, 2], [0, 0], [4, 4]]);
  // index_add: rows of source added at rows idx (duplicates accumulate), times alpha
  const base = torch.ones([3, 2]);
  assert.deepEqual(base.indexAdd(0, i64([2, 0, 2]), tensor([[1, 1], [2, 2], [3, 3]])).toArray(), [[3, 3], [1, 1], [5, 5]]);
  assert.deepEqual(base.indexAdd(1, i64([1]), tensor([[1], [2], [3]]), 2).toArray(), [[1, 3], [1, 5], [1, 7]]);
  // index_put: x[[0,1],[1,0]] = [5,6]; accumulate adds duplicates
  const x = torch.zeros([2, 2]);
  assert.deepEqual(x.indexPut([i64([0, 1]), i64([1, 0])], tensor([5, 6])).toArray(), [[0, 5], [6, 0]]);
  assert.deepEqual(x.indexPut([i64([0, 0])], tensor([[1, 2], [3, 4]]), true).toArray(), [[4, 6], [0, 0]]);
  assert.deepEqual(x.indexPut([tensor([false, true])], tensor([9])).toArray(), [[0, 0], [9, 9]]);
  x.indexPut_([i64([1]), i64([1])], tensor([8]));
  assert.deepEqual(x.toArray(), [[0, 0], [0, 8]]);
}));

test('maskedFill / maskedFill_ / maskedSelect / where / nonzero', () => tidy(() => {
  const x = tensor([[1, -2], [-3, 4]]);
  const neg = x.lt(0);
  assert.equal(neg.dtype, 'bool');
  assert.deepEqual(x.maskedFill(neg, 0).toArray(), [[1, 0], [0, 4]]);
  // mask broadcasts: a row mask
  assert.deepEqual(x.maskedFill(tensor([true, false]), -1).toArray(), [[-1, -2], [-1, 4]]);
  assert.deepEqual(x.maskedSelect(neg).toArray(), [-2, -3]);
  assert.deepEqual(torch.where(neg, x.neg(), x).toArray(), [[1, 2], [3, 4]]);
  assert.deepEqual(torch.where(neg, 0, x).toArray(), [[1, 0], [0, 4]]);
  assert.deepEqual(torch.where(neg, -1, 1).toArray(), [[1, -1], [-1, 1]]);
  assert.deepEqual(torch.where(tensor([true, false]), tensor([[1], [2]]), 0).toArray(), [[1, 0], [2, 0]], 'broadcast');
  assert.deepEqual(x.nonzero().toArray(), [[0, 0], [0, 1], [1, 0], [1, 1]]);
  assert.deepEqual(neg.nonzero().toArray(), [[0, 1], [1, 0]]);
  assert.equal(neg.nonzero().dtype, 'int64');
  assert.deepEqual(torch.zeros([3]).nonzero().shape, [0, 1]);
  x.maskedFill_(neg, 7);
  assert.deepEqual(x.toArray(), [[1, 7], [7, 4]]);
  assert.throws(() => x.maskedFill(tensor([true, false, true]), 0), /masked_fill\(self: \[2,2\], mask: \[3\]\)/);
}));

test('sort / argsort / topk / oneHot / tril / triu / flip / roll', () => tidy(() => {
  const x = tensor([[3, 1, 2], [0, 5, -1]]);
  const [v, i] = x.sort();
  assert.deepEqual(v.toArray(), [[1, 2, 3], [-1, 0, 5]]);
  assert.deepEqual(i.toArray(), [[1, 2, 0], [2, 0, 1]]);
  assert.equal(i.dtype, 'int64');
  const [vd, id] = x.sort(0, true);
  assert.deepEqual(vd.toArray(), [[3, 5, 2], [0, 1, -1]]);
  assert.deepEqual(id.toArray(), [[0, 1, 0], [1, 0, 1]]);
  assert.deepEqual(x.argsort(-1, true).toArray(), [[0, 2, 1], [1, 0, 2]]);
  const [tv, ti] = x.topk(2);
  assert.deepEqual(tv.toArray(), [[3, 2], [5, 0]]);
  assert.deepEqual(ti.toArray(), [[0, 2], [1, 0]]);
  const [sv, si] = x.topk(1, 1, false);
  assert.deepEqual(sv.toArray(), [[1], [-1]]);
  assert.deepEqual(si.toArray(), [[1], [2]]);
  assert.throws(() => x.topk(4), /topk.*(k|selected index).*out of range/i);
  assert.deepEqual(i64([0, 2]).oneHot(3).toArray(), [[1, 0, 0], [0, 0, 1]]);
  assert.deepEqual(i64([1, 0]).oneHot().toArray(), [[0, 1], [1, 0]], 'num_classes inferred as max+1');
  const sq = tensor([[1, 2, 3], [4, 5, 6], [7, 8, 9]]);
  assert.deepEqual(sq.tril().toArray(), [[1, 0, 0], [4, 5, 0], [7, 8, 9]]);
  assert.deepEqual(sq.triu(1).toArray(), [[0, 2, 3], [0, 0, 6], [0, 0, 0]]);
  assert.deepEqual(sq.flip([0]).toArray(), [[7, 8, 9], [4, 5, 6], [1, 2, 3]]);
  assert.deepEqual(sq.flip([0, 1]).toArray(), [[9, 8, 7], [6, 5, 4], [3, 2, 1]]);
  assert.deepEqual(sq.roll([1], [1]).toArray(), [[3, 1, 2], [6, 4, 5], [9, 7, 8]]);
  assert.deepEqual(sq.roll([-1, 1], [0, 1]).toArray(), [[6, 4, 5], [9, 7, 8], [3, 1, 2]]);
}));

test('einsum: transposes, contractions and SparK\'s patchify equations', () => tidy(() => {
  const a = tensor([[1, 2], [3, 4]]), b = tensor([[5, 6], [7, 8]]);
  assert.deepEqual(torch.einsum('ij->ji', [a]).toArray(), [[1, 3], [2, 4]]);
  assert.deepEqual(torch.einsum('ij,jk->ik', [a, b]).toArray(), [[19, 22], [43, 50]]);
  assert.deepEqual(torch.einsum('ij,ij->i', [a, b]).toArray(), [17, 53]);
  assert.deepEqual(torch.einsum('ii->', [a]).toArray(), 5);
  assert.deepEqual(torch.einsum('i,j->ij', [tensor([1, 2]), tensor([3, 4, 5])]).toArray(), [[3, 4, 5], [6, 8, 10]]);
  // 'bchpwq->bhwpqc' is a pure permutation (0,2,4,3,5,1); check against permute
  const x = torch.arange(2 * 3 * 2 * 2 * 2 * 2, undefined, 1, { dtype: 'float32' }).reshape([2, 3, 2, 2, 2, 2]);
  assert.deepEqual(torch.einsum('bchpwq->bhwpqc', [x]).toArray(), x.permute([0, 2, 4, 3, 5, 1]).toArray());
  const y = torch.einsum('bchpwq->bhwpqc', [x]);
  assert.deepEqual(torch.einsum('bhwpqc->bchpwq', [y]).toArray(), x.toArray(), 'inverse permutation');
  assert.throws(() => torch.einsum('ij,jk->ik', [a, tensor([1, 2, 3])]), /einsum/);
}));
