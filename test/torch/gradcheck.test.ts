// Finite-difference gradient checks in float64 for every differentiable op family sparkts uses.
import { test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, gradcheck, randLeaf } from '../helpers.js';

checkNoLeaks();
const { tidy, tensor } = torch;
const F = torch.nn.functional;
const i64 = (v: torch.NestedArray): torch.Tensor => tensor(v, { dtype: 'int64' });
/** Positive float64 leaf (for log, sqrt, pow bases, divisors). */
const posLeaf = (shape: number[], seed: number): torch.Tensor => tidy(() => {
  const t = torch.rand(shape, { dtype: 'float64', generator: new torch.Generator(seed) }).add(0.5);
  t.requiresGrad = true;
  return t;
});

test('elementwise arithmetic with broadcasting and scalars', () => tidy(() => {
  const a = randLeaf([2, 3], 1), b = randLeaf([3], 2), c = randLeaf([2, 1], 3), p = posLeaf([2, 3], 4), q = posLeaf([3], 5);
  gradcheck((x, y) => x.add(y, 0.7), [a, b]);
  gradcheck((x, y) => x.sub(y), [a, c]);
  gradcheck((x, y) => x.mul(y), [a, c]);
  gradcheck((x, y) => x.div(y), [a, q]);
  gradcheck((x, y) => x.pow(y), [p, b]);
  gradcheck((x) => x.pow(3).add(x.mul(2)).rsub(1), [a]);
  gradcheck((x) => x.pow(2.5), [p]);
  gradcheck((x, y) => x.minimum(y).add(x.maximum(y).mul(2)), [a, b]);
  gradcheck((x, y) => x.atan2(y), [a, q]);
  gradcheck((x, y, z) => x.lerp(y, z), [a, b, posLeaf([2, 3], 6)]);
  gradcheck((x, y, z) => x.addcmul(y, z, 0.5).addcdiv(y, z.abs().add(1), 2), [a, c, b]);
  gradcheck((x) => x.clamp(-0.5, 0.5), [a]);
}));

test('unary math and activations', () => tidy(() => {
  const a = randLeaf([2, 5], 7), p = posLeaf([2, 5], 8);
  for (const name of ['exp', 'neg', 'sin', 'cos', 'tanh', 'sigmoid', 'erf', 'square', 'silu', 'relu', 'relu6', 'abs', 'expm1'] as const) {
    gradcheck((x) => (x[name] as () => torch.Tensor)(), [a]);
  }
  for (const name of ['sqrt', 'rsqrt', 'log', 'log2', 'log1p', 'reciprocal', 'erfinv'] as const) {
    gradcheck((x) => (name === 'erfinv' ? x.mul(0.4) : x)[name](), [p]);
  }
  gradcheck((x) => F.gelu(x), [a]);
  gradcheck((x) => F.gelu(x, { approximate: 'tanh' }), [a]);
  gradcheck((x) => x.leakyRelu(0.2), [a]);
  gradcheck((x) => x.hardtanh(-0.5, 0.7), [a]);
  gradcheck((x) => F.softmax(x, 1), [a]);
  gradcheck((x) => F.logSoftmax(x, 0), [a]);
}));

test('reductions: sum, mean, var, std (biased/unbiased), norm, amax, prod, cumsum, max over a dim', () => tidy(() => {
  const a = randLeaf([3, 4], 9);
  gradcheck((x) => x.sum([1], true), [a]);
  gradcheck((x) => x.mean(), [a]);
  gradcheck((x) => x.mean([0, 1]), [a]);
  gradcheck((x) => x.var(1), [a]);
  gradcheck((x) => x.var(0, false, true), [a]);
  gradcheck((x) => x.std(), [a]);
  gradcheck((x) => x.std(1, false), [a]);
  gradcheck((x) => torch.varMean(x, 1)[0].add(torch.varMean(x, 1)[1]), [a]);
  gradcheck((x) => x.norm(), [a]);
  gradcheck((x) => x.norm(2, 1, true), [a]);
  gradcheck((x) => x.amax([1]), [a]);
  gradcheck((x) => x.amin([0], true), [a]);
  gradcheck((x) => x.maxDim(1)[0], [a]);
  gradcheck((x) => x.prod(1), [a]);
  gradcheck((x) => x.cumsum(1), [a]);
}));

test('matmul, mm, bmm, linear, outer, einsum', () => tidy(() => {
  const a = randLeaf([3, 4], 10), b = randLeaf([4, 2], 11), v = randLeaf([4], 12);
  gradcheck((x, y) => x.matmul(y), [a, b]);
  gradcheck((x, y) => x.matmul(y), [a, v]);
  gradcheck((x, y) => x.mm(y), [a, b]);
  const ba = randLeaf([2, 3, 4], 13), bb = randLeaf([2, 4, 2], 14);
  gradcheck((x, y) => x.bmm(y), [ba, bb]);
  gradcheck((x, y) => x.matmul(y), [ba, b], {}); // broadcast batch
  const w = randLeaf([5, 4], 15), bias = randLeaf([5], 16);
  gradcheck((x, ww, bb2) => torch.linear(x, ww, bb2), [a, w, bias]);
  gradcheck((x, y) => x.outer(y), [v, randLeaf([3], 17)]);
  gradcheck((x, y) => torch.einsum('bij,bjk->bik', [x, y]), [ba, bb]);
  gradcheck((x) => torch.einsum('bchpwq->bhwpqc', [x]), [randLeaf([1, 2, 2, 2, 1, 2], 18)]);
}));

test('conv2d with groups, stride, padding, dilation (input, weight and bias)', () => tidy(() => {
  const cases = [
    { x: [2, 2, 5, 4], w: [3, 2, 3, 2], o: { stride: 1, padding: 0, dilation: 1, groups: 1 } },
    { x: [1, 4, 5, 5], w: [4, 2, 3, 3], o: { stride: [2, 1] as [number, number], padding: [1, 2] as [number, number], dilation: 1, groups: 2 } },
    { x: [1, 2, 6, 6], w: [2, 1, 2, 3], o: { stride: 2, padding: 1, dilation: [2, 1] as [number, number], groups: 2 } },
  ];
  cases.forEach((c, i) => {
    const x = randLeaf(c.x, 20 + i), w = randLeaf(c.w, 30 + i), b = randLeaf([c.w[0]], 40 + i);
    gradcheck((xx, ww, bb) => F.conv2d(xx, ww, bb, c.o), [x, w, b]);
  });
}));

test('conv_transpose2d with groups, stride, padding, output padding, dilation', () => tidy(() => {
  const cases = [
    { x: [1, 2, 3, 3], w: [2, 3, 2, 2], o: { stride: 2, padding: 0, outputPadding: 0, dilation: 1, groups: 1 } },
    { x: [2, 4, 2, 3], w: [4, 1, 3, 2], o: { stride: [2, 3] as [number, number], padding: 1, outputPadding: [1, 2] as [number, number], dilation: 1, groups: 2 } },
    { x: [1, 2, 3, 2], w: [2, 2, 2, 2], o: { stride: 1, padding: [1, 0] as [number, number], outputPadding: 0, dilation: 2, groups: 1 } },
  ];
  cases.forEach((c, i) => {
    const x = randLeaf(c.x, 50 + i), w = randLeaf(c.w, 60 + i), b = randLeaf([c.w[1] * c.o.groups], 70 + i);
    gradcheck((xx, ww, bb) => F.convTranspose2d(xx, ww, bb, c.o), [x, w, b]);
  });
}));

test('pooling: max_pool2d, avg_pool2d (padding, ceil mode, count_include_pad), adaptive_avg_pool2d', () => tidy(() => {
  const x = randLeaf([1, 2, 5, 6], 80);
  gradcheck((t) => F.maxPool2d(t, 2), [x]);
  gradcheck((t) => F.maxPool2d(t, 3, { stride: 2, padding: 1 }), [x]);
  gradcheck((t) => F.maxPool2d(t, [2, 3], { stride: 1, dilation: [2, 1], ceilMode: true }), [x]);
  gradcheck((t) => F.avgPool2d(t, 2), [x]);
  gradcheck((t) => F.avgPool2d(t, 3, { stride: 2, padding: 1, countIncludePad: false, ceilMode: true }), [x]);
  gradcheck((t) => F.avgPool2d(t, [2, 2], { stride: 1, divisorOverride: 3 }), [x]);
  gradcheck((t) => F.adaptiveAvgPool2d(t, [2, 4]), [x]);
  gradcheck((t) => F.adaptiveAvgPool2d(t, 1), [x]);
}));

test('normalisation: batch_norm in training mode, layer_norm, group_norm (input and affine parameters)', () => tidy(() => {
  const x = randLeaf([3, 2, 2, 2], 90), g = randLeaf([2], 91), b = randLeaf([2], 92);
  gradcheck((t, gg, bb) => F.batchNorm(t, null, null, { weight: gg, bias: bb, training: true }), [x, g, b]);
  // with running stats being updated on every call: the output still only depends on the batch
  const rm = torch.zeros([2], { dtype: 'float64' }), rv = torch.ones([2], { dtype: 'float64' });
  gradcheck((t) => F.batchNorm(t, rm, rv, { training: true, momentum: 0.3 }), [x]);
  // eval mode: an affine map of the input
  gradcheck((t, gg, bb) => F.batchNorm(t, rm, rv, { weight: gg, bias: bb, training: false }), [x, g, b]);
  // (N, C) rows, as SparK's sparse BatchNorm sees them
  gradcheck((t) => F.batchNorm(t, null, null, { training: true }), [randLeaf([5, 3], 93)]);
  const l = randLeaf([2, 3, 4], 94), lw = randLeaf([4], 95), lb = randLeaf([4], 96);
  gradcheck((t, ww, bb) => F.layerNorm(t, [4], { weight: ww, bias: bb }), [l, lw, lb]);
  gradcheck((t) => F.layerNorm(t, [3, 4], { eps: 1e-6 }), [l]);
  const gx = randLeaf([2, 4, 2, 3], 97), gw = randLeaf([4], 98), gb = randLeaf([4], 99);
  gradcheck((t, ww, bb) => F.groupNorm(t, 2, { weight: ww, bias: bb }), [gx, gw, gb]);
}));

test('losses: cross_entropy (indices, weights, ignore_index, label smoothing, soft targets), mse_loss', () => tidy(() => {
  const x = randLeaf([4, 3], 100);
  const t = i64([0, 2, 1, 2]);
  gradcheck((z) => F.crossEntropy(z, t), [x]);
  gradcheck((z) => F.crossEntropy(z, t, { labelSmoothing: 0.1 }), [x]);
  gradcheck((z) => F.crossEntropy(z, i64([0, -100, 1, 2]), { labelSmoothing: 0.2, reduction: 'sum' }), [x]);
  gradcheck((z) => F.crossEntropy(z, t, { weight: tensor([0.5, 1, 2], { dtype: 'float64' }), labelSmoothing: 0.1 }), [x]);
  const probs = torch.softmax(torch.randn([4, 3], { dtype: 'float64', generator: new torch.Generator(101) }), 1);
  gradcheck((z) => F.crossEntropy(z, probs), [x]);
  gradcheck((z) => F.crossEntropy(z, probs, { labelSmoothing: 0.15, reduction: 'none' }), [x]);
  // soft targets that require grad themselves (distillation)
  gradcheck((z, p) => F.crossEntropy(z, p.softmax(1)), [x, randLeaf([4, 3], 102)]);
  gradcheck((z) => F.crossEntropy(z, i64([[0, 1], [2, 1]])), [randLeaf([2, 3, 2], 103)]);
  const a = randLeaf([2, 3], 104), b = randLeaf([2, 3], 105);
  gradcheck((p, q) => F.mseLoss(p, q), [a, b]);
  gradcheck((p, q) => F.mseLoss(p, q, { reduction: 'none' }), [a, b]);
}));

test('indexing: gather, scatter, scatterAdd, indexSelect, indexAdd, index, indexPut', () => tidy(() => {
  const x = randLeaf([3, 4], 110), src = randLeaf([3, 2], 111);
  gradcheck((t) => t.gather(1, i64([[0, 3], [1, 1], [2, 0]])), [x]);
  gradcheck((t) => t.gather(0, i64([[2, 1, 0, 0], [0, 0, 1, 2]])), [x]);
  // scatter: the overwritten positions get no gradient from self; src gets theirs
  gradcheck((t, s) => t.scatter(1, i64([[0, 3], [1, 2], [2, 0]]), s), [x, src]);
  gradcheck((t, s) => t.scatterAdd(1, i64([[0, 0], [1, 2], [3, 3]]), s), [x, src]);
  gradcheck((t) => t.scatterValue(1, i64([[0], [1], [2]]), 5), [x]);
  gradcheck((t) => t.indexSelect(0, i64([2, 0, 2])), [x]);
  gradcheck((t) => t.indexSelect(1, i64([3, 1])), [x]);
  gradcheck((t, s) => t.indexAdd(0, i64([2, 0, 2]), s, 0.5), [x, randLeaf([3, 4], 112)]);
  gradcheck((t, s) => t.indexAdd(1, i64([3, 3]), s), [x, src]);
  gradcheck((t) => t.index([i64([0, 2, 2]), i64([1, 3, 3])]), [x]);
  gradcheck((t, v) => t.indexPut([i64([0, 2]), i64([1, 3])], v), [x, randLeaf([2], 113)]);
  gradcheck((t, v) => t.indexPut([i64([1, 1])], v, true), [x, randLeaf([2, 4], 114)]);
}));

test('masked ops: maskedFill, maskedSelect, where, and the custom masked_rows / rows_to_masked', () => tidy(() => {
  const x = randLeaf([3, 4], 120), y = randLeaf([3, 4], 121);
  const mask = tensor([[true, false, false, true], [false, false, true, true], [true, true, false, false]]);
  gradcheck((t) => t.maskedFill(mask, 2), [x]);
  gradcheck((t) => t.maskedFill(tensor([true, false, true, false]), 0), [x]);
  gradcheck((t) => t.maskedSelect(mask), [x]);
  gradcheck((a, b) => torch.where(mask, a, b), [x, y]);
  gradcheck((a) => torch.where(mask, a, 0.5), [x]);
  gradcheck((a, b) => torch.where(tensor([true, false, true, false]), a, b), [x, randLeaf([3, 1], 122)]);
  // SparK's sparse row gather/scatter, in both directions (N,C,H,W) <-> (K,C)
  const fm = randLeaf([2, 3, 2, 3], 123);
  const m = tensor([[[[true, false, true], [false, true, true]]], [[[false, false, true], [true, false, false]]]]);
  gradcheck((t) => torch.maskedRows(t, m), [fm]);
  const rows = randLeaf([6, 3], 124);
  gradcheck((r) => torch.rowsToMasked(r, m), [rows]);
  gradcheck((t) => torch.rowsToMasked(torch.maskedRows(t, m).mul(2), m), [fm]);
  // a channels-last input to masked_rows
  gradcheck((t) => torch.maskedRows(t.contiguous('channels_last'), m), [fm]);
}));

test('shape ops: permute, expand, repeat, repeatInterleave, cat, stack, split, chunk, narrow, stepped slice, flip, roll, pad', () => tidy(() => {
  const x = randLeaf([2, 3, 4], 130), y = randLeaf([2, 1, 4], 131);
  gradcheck((t) => t.permute([2, 0, 1]).contiguous(), [x]);
  gradcheck((t) => t.contiguous('channels_last').mul(1), [randLeaf([1, 2, 2, 3], 132)]);
  gradcheck((t) => t.expand([2, 3, 4]), [y]);
  gradcheck((t) => t.repeat([1, 2, 1]), [y]);
  gradcheck((t) => t.repeatInterleave(2, 1), [x]);
  gradcheck((a, b) => torch.cat([a, b], 1), [x, y]);
  gradcheck((a, b) => torch.stack([a.select(1, 0), b.squeeze(1)], 2), [x, y]);
  gradcheck((t) => { const [a, b] = t.split(3, 2); return a.sum().add(b.mul(2).sum()); }, [x]);
  gradcheck((t) => t.splitWithSizes([1, 2], 1)[1], [x]);
  gradcheck((t) => t.chunk(2, 2)[1], [x]);
  gradcheck((t) => t.narrow(2, 1, 2), [x]);
  gradcheck((t) => t.slice(2, 1, null, 2).slice(1, null, null, 2), [x]);
  gradcheck((t) => t.flip([0, 2]).roll([1], [1]), [x]);
  gradcheck((t) => t.transpose(0, 1).reshape([3, 8]).unflatten(1, [2, 4]).flatten(0, 1), [x]);
  const img = randLeaf([1, 2, 3, 3], 133);
  gradcheck((t) => F.pad(t, [1, 2, 0, 1], { value: 0.5 }), [img]);
  gradcheck((t) => F.pad(t, [2, 1, 1, 2], { mode: 'reflect' }), [img]);
  gradcheck((t) => F.pad(t, [1, 1, 2, 0], { mode: 'replicate' }), [img]);
}));

test('interpolate: nearest, bilinear, bicubic (align corners, fractional scale factors)', () => tidy(() => {
  const x = randLeaf([1, 2, 3, 4], 140);
  gradcheck((t) => F.interpolate(t, { size: [6, 8] }), [x]);
  gradcheck((t) => F.interpolate(t, { size: [5, 3], mode: 'bilinear' }), [x]);
  gradcheck((t) => F.interpolate(t, { size: [5, 7], mode: 'bilinear', alignCorners: true }), [x]);
  gradcheck((t) => F.interpolate(t, { scaleFactor: 1.5, mode: 'bilinear' }), [x]);
  gradcheck((t) => F.interpolate(t, { size: [5, 6], mode: 'bicubic' }), [x]);
  gradcheck((t) => F.interpolate(t, { scaleFactor: 1.7, mode: 'bicubic', alignCorners: true }), [x]);
}));
