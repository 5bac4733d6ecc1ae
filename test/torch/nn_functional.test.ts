// nn.functional values: convolutions, pooling, normalisation, activations, losses, dropout,
// interpolation and padding, against the loop references in reference.ts and hand-computed numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat } from '../helpers.js';
import * as ref from './reference.js';

checkNoLeaks();
const { tidy, tensor } = torch;
const F = torch.nn.functional;
type P2 = [number, number];

/** A seeded float64 tensor and its plain-array copy for the references. */
function sample(shape: number[], seed: number): [torch.Tensor, ref.Arr] {
  const t = torch.randn(shape, { dtype: 'float64', generator: new torch.Generator(seed) });
  return [t, { data: flat(t), shape }];
}

test('conv2d matches the loop reference across stride, padding, dilation, groups and bias', () => tidy(() => {
  const cases: { x: number[]; w: number[]; stride: P2; padding: P2; dilation: P2; groups: number; bias: boolean }[] = [
    { x: [2, 3, 6, 5], w: [4, 3, 3, 3], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, bias: true },
    { x: [1, 4, 7, 7], w: [6, 2, 3, 2], stride: [2, 1], padding: [1, 2], dilation: [1, 1], groups: 2, bias: true },
    { x: [2, 2, 8, 9], w: [2, 2, 3, 3], stride: [1, 2], padding: [2, 1], dilation: [2, 3], groups: 1, bias: false },
    { x: [1, 4, 5, 5], w: [4, 1, 3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], groups: 4, bias: true }, // depthwise
    { x: [1, 3, 4, 4], w: [5, 3, 1, 1], stride: [1, 1], padding: [0, 0], dilation: [1, 1], groups: 1, bias: true }, // 1×1
  ];
  cases.forEach((c, i) => {
    const [x, xa] = sample(c.x, 10 + i), [w, wa] = sample(c.w, 20 + i);
    const [b, ba] = c.bias ? sample([c.w[0]], 30 + i) : [null, null];
    const y = F.conv2d(x, w, b, { stride: c.stride, padding: c.padding, dilation: c.dilation, groups: c.groups });
    const r = ref.conv2d(xa, wa, ba ? ba.data : null, c);
    assert.deepEqual(y.shape, r.shape, `case ${i} shape`);
    assertClose(y, r.data, { atol: 1e-12, rtol: 1e-12 }, `case ${i}`);
  });
  // a hand example: 3×3 of 1..9, 2×2 ones kernel, padding 1, stride 2
  const x = torch.arange(1, 10, 1, { dtype: 'float32' }).reshape([1, 1, 3, 3]);
  assert.deepEqual(F.conv2d(x, torch.ones([1, 1, 2, 2]), null, { padding: 1, stride: 2 }).toArray(), [[[[1, 5], [11, 28]]]]);
  assert.deepEqual(F.conv2d(x, torch.ones([1, 1, 2, 2]), null, { dilation: 2 }).toArray(), [[[[20]]]]);
  assert.throws(() => F.conv2d(x, torch.ones([1, 2, 2, 2])), /conv2d\(input: \[1,1,3,3\], weight: \[1,2,2,2\]\)/);
}));

test('conv_transpose2d matches the scatter reference (stride, padding, output padding, dilation, groups)', () => tidy(() => {
  const cases: { x: number[]; w: number[]; stride: P2; padding: P2; outputPadding: P2; dilation: P2; groups: number; bias: boolean }[] = [
    { x: [2, 3, 4, 3], w: [3, 2, 3, 3], stride: [1, 1], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1, bias: true },
    { x: [1, 4, 3, 4], w: [4, 3, 2, 2], stride: [2, 2], padding: [0, 0], outputPadding: [0, 0], dilation: [1, 1], groups: 1, bias: true }, // SparK's ×2 upsampling
    { x: [1, 4, 3, 3], w: [4, 1, 3, 2], stride: [2, 3], padding: [1, 1], outputPadding: [1, 2], dilation: [1, 1], groups: 2, bias: false },
    { x: [2, 2, 3, 3], w: [2, 2, 2, 3], stride: [1, 2], padding: [1, 0], outputPadding: [0, 1], dilation: [2, 2], groups: 1, bias: true },
  ];
  cases.forEach((c, i) => {
    const [x, xa] = sample(c.x, 40 + i), [w, wa] = sample(c.w, 50 + i);
    const [b, ba] = c.bias ? sample([c.w[1] * c.groups], 60 + i) : [null, null];
    const y = F.convTranspose2d(x, w, b, c);
    const r = ref.convTranspose2d(xa, wa, ba ? ba.data : null, c);
    assert.deepEqual(y.shape, r.shape, `case ${i} shape`);
    assertClose(y, r.data, { atol: 1e-12, rtol: 1e-12 }, `case ${i}`);
  });
  // hand example: a single 1 through a 2×2 kernel, stride 2, copies the kernel into the output
  const k = tensor([[[[1, 2], [3, 4]]]]);
  assert.deepEqual(F.convTranspose2d(tensor([[[[1, 0], [0, 1]]]]), k, null, { stride: 2 }).toArray(),
    [[[[1, 2, 0, 0], [3, 4, 0, 0], [0, 0, 1, 2], [0, 0, 3, 4]]]]);
}));

test('max_pool2d / avg_pool2d / adaptive_avg_pool2d match the references', () => tidy(() => {
  const [x, xa] = sample([2, 3, 7, 6], 70);
  const maxCases: { k: P2; stride: P2; padding: P2; dilation: P2; ceilMode: boolean }[] = [
    { k: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: false },
    { k: [3, 3], stride: [2, 2], padding: [1, 1], dilation: [1, 1], ceilMode: false }, // ResNet stem
    { k: [3, 2], stride: [2, 1], padding: [1, 0], dilation: [2, 1], ceilMode: true },
    { k: [2, 2], stride: [2, 2], padding: [0, 0], dilation: [1, 1], ceilMode: true },
  ];
  for (const c of maxCases) {
    const y = F.maxPool2d(x, c.k, c);
    const r = ref.maxPool2d(xa, c.k, c);
    assert.deepEqual(y.shape, r.shape, JSON.stringify(c));
    assertClose(y, r.data, { atol: 0, rtol: 0 }, JSON.stringify(c));
  }
  const avgCases: { k: P2; stride: P2; padding: P2; ceilMode: boolean; countIncludePad: boolean; divisorOverride?: number }[] = [
    { k: [2, 2], stride: [2, 2], padding: [0, 0], ceilMode: false, countIncludePad: true },
    { k: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false, countIncludePad: true },
    { k: [3, 3], stride: [2, 2], padding: [1, 1], ceilMode: false, countIncludePad: false },
    { k: [2, 3], stride: [2, 2], padding: [1, 1], ceilMode: true, countIncludePad: true },
    { k: [2, 2], stride: [1, 1], padding: [0, 0], ceilMode: false, countIncludePad: true, divisorOverride: 3 },
  ];
  for (const c of avgCases) {
    const y = F.avgPool2d(x, c.k, c);
    const r = ref.avgPool2d(xa, c.k, c);
    assert.deepEqual(y.shape, r.shape, JSON.stringify(c));
    assertClose(y, r.data, { atol: 1e-12 }, JSON.stringify(c));
  }
  for (const size of [[1, 1], [3, 2], [7, 6], [4, 5]] as P2[]) {
    const y = F.adaptiveAvgPool2d(x, size);
    assertClose(y, ref.adaptiveAvgPool2d(xa, size).data, { atol: 1e-12 }, `adaptive ${size}`);
    assert.deepEqual(y.shape, [2, 3, ...size]);
  }
  assertClose(F.adaptiveAvgPool2d(x, 1).flatten(1), x.mean([2, 3]), { atol: 1e-12 }, 'global average pool');
  // max pool's default stride is the kernel size
  assert.deepEqual(F.maxPool2d(tensor([[[[1, 2, 3, 4], [5, 6, 7, 8]]]]), 2).toArray(), [[[[6, 8]]]]);
}));

test('batch_norm (train and eval, running-stat update), layer_norm, group_norm', () => tidy(() => {
  const [x, xa] = sample([4, 3, 2, 2], 80);
  const gamma = tensor([1, 2, -1], { dtype: 'float64' }), beta = tensor([0, 0.5, 1], { dtype: 'float64' });
  // per-channel batch statistics over (N,H,W)
  const chan = (c: number): number[] => { const v: number[] = []; for (let n = 0; n < 4; n++) for (let k = 0; k < 4; k++) v.push(xa.data[(n * 3 + c) * 4 + k]); return v; };
  const stats = [0, 1, 2].map((c) => { const v = chan(c); const m = v.reduce((a, b) => a + b) / v.length; return { m, ss: v.reduce((a, b) => a + (b - m) ** 2, 0), n: v.length }; });
  const g = [1, 2, -1], bt = [0, 0.5, 1], eps = 1e-5;
  const expectTrain = xa.data.map((v, i) => { const c = Math.floor(i / 4) % 3; const s = stats[c]; return (v - s.m) / Math.sqrt(s.ss / s.n + eps) * g[c] + bt[c]; });
  const rm = torch.tensor([0.5, 0, -0.5], { dtype: 'float64' }), rv = torch.tensor([1, 2, 0.5], { dtype: 'float64' });
  const y = F.batchNorm(x, rm, rv, { weight: gamma, bias: beta, training: true, momentum: 0.1, eps });
  assertClose(y, expectTrain, { atol: 1e-10 });
  // running stats: (1-m)·old + m·batch, the variance unbiased (n-1)
  assertClose(rm, [0.5, 0, -0.5].map((o, c) => 0.9 * o + 0.1 * stats[c].m), { atol: 1e-14 });
  assertClose(rv, [1, 2, 0.5].map((o, c) => 0.9 * o + 0.1 * stats[c].ss / (stats[c].n - 1)), { atol: 1e-14 });
  // eval uses the running stats and leaves them alone
  const rmv = flat(rm), rvv = flat(rv);
  const ye = F.batchNorm(x, rm, rv, { weight: gamma, bias: beta, training: false, eps });
  assertClose(ye, xa.data.map((v, i) => { const c = Math.floor(i / 4) % 3; return (v - rmv[c]) / Math.sqrt(rvv[c] + eps) * g[c] + bt[c]; }), { atol: 1e-10 });
  assertClose(rm, rmv, { atol: 0 });
  // BatchNorm1d-style (N,C) input
  const [x2, x2a] = sample([5, 2], 81);
  const y2 = F.batchNorm(x2, null, null, { training: true });
  const cols = [0, 1].map((c) => x2a.data.filter((_, i) => i % 2 === c));
  assertClose(y2, x2a.data.map((_, i) => ref.normalizeGroups(cols[i % 2], 5, 1e-5)[Math.floor(i / 2)]), { atol: 1e-10 });

  // layer_norm over the last two dims, with affine
  const [l, la] = sample([2, 3, 4], 82);
  const lw = torch.linspace(0.5, 2, 12, { dtype: 'float64' }).reshape([3, 4]), lb = torch.linspace(-1, 1, 12, { dtype: 'float64' }).reshape([3, 4]);
  const lwv = flat(lw), lbv = flat(lb);
  const ln = F.layerNorm(l, [3, 4], { weight: lw, bias: lb, eps: 1e-6 });
  assertClose(ln, ref.normalizeGroups(la.data, 12, 1e-6).map((v, i) => v * lwv[i % 12] + lbv[i % 12]), { atol: 1e-10 });
  assertClose(F.layerNorm(l, [4]), ref.normalizeGroups(la.data, 4, 1e-5), { atol: 1e-10 });
  assert.throws(() => F.layerNorm(l, [3]), /layer_norm\(input: \[2,3,4\]\)/);

  // group_norm: (N, C, H, W) with C split into G groups of consecutive channels
  const [gx, gxa] = sample([2, 6, 2, 3], 83);
  const gw = torch.linspace(1, 2, 6, { dtype: 'float64' }), gb = torch.linspace(0, 1, 6, { dtype: 'float64' });
  const gwv = flat(gw), gbv = flat(gb);
  const gn = F.groupNorm(gx, 3, { weight: gw, bias: gb });
  // each group is 2 channels × 6 pixels = 12 consecutive elements
  assertClose(gn, ref.normalizeGroups(gxa.data, 12, 1e-5).map((v, i) => { const c = Math.floor(i / 6) % 6; return v * gwv[c] + gbv[c]; }), { atol: 1e-10 });
  assert.throws(() => F.groupNorm(gx, 4), /group_norm/);
}));

test('activations: relu, relu6, leaky_relu, hardtanh, gelu (exact and tanh), silu, sigmoid, softmax, log_softmax', () => tidy(() => {
  const xs = [-7, -1.5, -0.2, 0, 0.3, 2, 6.5];
  const x = tensor(xs, { dtype: 'float64' });
  assert.deepEqual(F.relu(x).toArray(), xs.map((v) => Math.max(0, v)));
  assert.deepEqual(F.relu6(x).toArray(), xs.map((v) => Math.min(6, Math.max(0, v))));
  assertClose(x.leakyRelu(0.1), xs.map((v) => (v < 0 ? 0.1 * v : v)), { atol: 1e-15 });
  assert.deepEqual(x.hardtanh(-1, 1).toArray(), xs.map((v) => Math.min(1, Math.max(-1, v))));
  // exact gelu = x·Φ(x) = x/2·(1 + erf(x/√2)), erf from libtorch (checked against published values in elementwise.test)
  const erf = flat(x.div(Math.SQRT2).erf());
  assertClose(F.gelu(x), xs.map((v, i) => 0.5 * v * (1 + erf[i])), { atol: 1e-14 });
  assertClose(F.gelu(x, { approximate: 'tanh' }),
    xs.map((v) => 0.5 * v * (1 + Math.tanh(Math.sqrt(2 / Math.PI) * (v + 0.044715 * v ** 3)))), { atol: 1e-14 });
  assert.equal(F.gelu(tensor([1]), { approximate: 'tanh' }).item() !== F.gelu(tensor([1])).item(), true, 'the two gelus differ');
  const sig = (v: number): number => 1 / (1 + Math.exp(-v));
  assertClose(F.sigmoid(x), xs.map(sig), { atol: 1e-15 });
  assertClose(F.silu(x), xs.map((v) => v * sig(v)), { atol: 1e-15 });
  const m = tensor([[1, 2, 3], [-1, 0, 1000]], { dtype: 'float64' });
  const ls = [ref.logSoftmaxRow([1, 2, 3]), ref.logSoftmaxRow([-1, 0, 1000])];
  assertClose(F.logSoftmax(m, 1), ls, { atol: 1e-12 });
  assertClose(F.softmax(m, 1), ls.map((r) => r.map(Math.exp)), { atol: 1e-12 });
  assertClose(F.softmax(m, 0).sum(0), [1, 1, 1], { atol: 1e-12 });
  assert.ok(flat(F.logSoftmax(m, -1)).every(Number.isFinite), 'stable for large logits');
  // softmax in float32 with a float64 result dtype
  assert.equal(tensor([[1, 2]]).softmax(1, 'float64').dtype, 'float64');
}));

test('cross_entropy: class indices, weights, ignore_index, label smoothing, soft targets, reductions', () => tidy(() => {
  const logits = [[2, 0.5, -1], [0, 0, 0], [-0.3, 1.2, 0.8], [1, -2, 3]];
  const y = [0, 2, 1, 2];
  const x = tensor(logits, { dtype: 'float64' }), t = tensor(y, { dtype: 'int64' });
  const lsm = logits.map(ref.logSoftmaxRow);
  const nll = y.map((c, i) => -lsm[i][c]);
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  assertClose([F.crossEntropy(x, t).item()], [mean(nll)], { atol: 1e-14 });
  assertClose(F.crossEntropy(x, t, { reduction: 'none' }), nll, { atol: 1e-14 });
  assertClose([F.crossEntropy(x, t, { reduction: 'sum' }).item()], [nll.reduce((a, b) => a + b)], { atol: 1e-13 });
  // class weights: weighted mean Σ w_y·l / Σ w_y
  const w = [0.2, 1, 3];
  assertClose([F.crossEntropy(x, t, { weight: tensor(w, { dtype: 'float64' }) }).item()],
    [y.reduce((s, c, i) => s + w[c] * nll[i], 0) / y.reduce((s, c) => s + w[c], 0)], { atol: 1e-14 });
  // ignore_index drops samples from the mean
  const tIgn = tensor([0, -100, 1, 2], { dtype: 'int64' });
  assertClose([F.crossEntropy(x, tIgn).item()], [(nll[0] + nll[2] + nll[3]) / 3], { atol: 1e-14 });
  assertClose([F.crossEntropy(x, tensor([0, 2, 5, 2], { dtype: 'int64' }), { ignoreIndex: 5 }).item()], [(nll[0] + nll[1] + nll[3]) / 3], { atol: 1e-14 });
  // label smoothing ε: (1-ε)·nll + ε·mean_k(-log p_k)
  const eps = 0.1;
  const smooth = y.map((c, i) => (1 - eps) * nll[i] + eps * mean(lsm[i].map((v) => -v)));
  assertClose([F.crossEntropy(x, t, { labelSmoothing: eps }).item()], [mean(smooth)], { atol: 1e-14 });
  assertClose(F.crossEntropy(x, t, { labelSmoothing: eps, reduction: 'none' }), smooth, { atol: 1e-14 });
  // soft targets (probabilities): -Σ_k t_k log p_k, mean over the batch
  const probs = [[0.7, 0.2, 0.1], [0, 0, 1], [0.25, 0.5, 0.25], [1 / 3, 1 / 3, 1 / 3]];
  const soft = probs.map((p, i) => -p.reduce((s, pk, k) => s + pk * lsm[i][k], 0));
  const tp = tensor(probs, { dtype: 'float64' });
  assertClose([F.crossEntropy(x, tp).item()], [mean(soft)], { atol: 1e-14 });
  // soft targets with label smoothing: targets become (1-ε)·t + ε/C
  const softSm = probs.map((p, i) => -p.reduce((s, pk, k) => s + ((1 - eps) * pk + eps / 3) * lsm[i][k], 0));
  assertClose([F.crossEntropy(x, tp, { labelSmoothing: eps }).item()], [mean(softSm)], { atol: 1e-14 });
  // one-hot soft targets equal class-index targets
  assertClose([F.crossEntropy(x, t.oneHot(3).double()).item()], [mean(nll)], { atol: 1e-14 });
  // (N, C, H, W) logits with (N, H, W) targets: per-pixel classes
  const img = x.t().reshape([1, 3, 2, 2]);
  assertClose([F.crossEntropy(img, t.reshape([1, 2, 2])).item()], [mean(nll)], { atol: 1e-14 });
  assert.throws(() => F.crossEntropy(x, tensor([0, 1], { dtype: 'int64' })), /cross_entropy_loss\(self: \[4,3\], target: \[2\]\)/);
}));

test('mse_loss and dropout', () => tidy(() => {
  const a = tensor([[1, 2], [3, 4]], { dtype: 'float64' }), b = tensor([[1, 0], [5, 4.5]], { dtype: 'float64' });
  // squared errors 0, 4, 4, 0.25
  assert.equal(F.mseLoss(a, b).item(), 8.25 / 4);
  assert.equal(F.mseLoss(a, b, { reduction: 'sum' }).item(), 8.25);
  assert.deepEqual(F.mseLoss(a, b, { reduction: 'none' }).toArray(), [[0, 4], [4, 0.25]]);

  torch.manualSeed(3);
  const x = torch.ones([10000], { dtype: 'float64' });
  const d = flat(F.dropout(x, 0.3, true));
  assert.ok(d.every((v) => v === 0 || Math.abs(v - 1 / 0.7) < 1e-12), 'kept values are scaled by 1/(1-p)');
  const dropped = d.filter((v) => v === 0).length / d.length;
  assert.ok(Math.abs(dropped - 0.3) < 0.02, `dropped fraction ${dropped}`);
  assert.deepEqual(flat(F.dropout(x, 0.3, false)), flat(x), 'identity in eval');
  assert.ok(flat(F.dropout(x, 1, true)).every((v) => v === 0));
  assert.ok(flat(F.dropout(x, 0, true)).every((v) => v === 1));
}));

test('interpolate: nearest, bilinear, bicubic by size and by scale factor, align_corners', () => tidy(() => {
  const [x, xa] = sample([1, 2, 5, 4], 90);
  const cases: { size?: P2; scale?: number; mode: 'nearest' | 'bilinear' | 'bicubic'; ac?: boolean }[] = [
    { size: [10, 8], mode: 'nearest' }, { size: [3, 7], mode: 'nearest' },
    { size: [10, 8], mode: 'bilinear' }, { size: [3, 7], mode: 'bilinear' }, { size: [7, 9], mode: 'bilinear', ac: true },
    { size: [10, 8], mode: 'bicubic' }, { size: [3, 6], mode: 'bicubic', ac: true },
    // fractional scale factor: the kernel uses 1/s, not in/out
    { scale: 1.5, mode: 'bilinear' }, { scale: 1.7, mode: 'bicubic' }, { scale: 2.5, mode: 'nearest' }, { scale: 0.6, mode: 'bilinear' },
    { scale: 2, mode: 'bilinear', ac: true },
  ];
  for (const c of cases) {
    const y = F.interpolate(x, { size: c.size, scaleFactor: c.scale, mode: c.mode, alignCorners: c.ac });
    const size: P2 = c.size ?? [Math.floor(5 * c.scale!), Math.floor(4 * c.scale!)];
    const r = ref.interpolate(xa, size, c.mode, c.ac ?? false, c.scale ? [c.scale, c.scale] : undefined);
    assert.deepEqual(y.shape, r.shape, JSON.stringify(c));
    assertClose(y, r.data, { atol: 1e-12 }, JSON.stringify(c));
  }
  // hand example: bilinear ×2 of [[0, 4]] (align_corners=false): src x = (i+0.5)/2-0.5 -> -.25(clamp 0), .25, .75, 1.25(clamp)
  assert.deepEqual(F.interpolate(tensor([[[[0, 4]]]]), { size: [1, 4], mode: 'bilinear' }).toArray(), [[[[0, 1, 3, 4]]]]);
  assert.deepEqual(F.interpolate(tensor([[[[1, 2]]]]), { scaleFactor: 2 }).toArray(), [[[[1, 1, 2, 2], [1, 1, 2, 2]]]]);
  assert.throws(() => F.interpolate(x, { size: 3, mode: 'nearest', alignCorners: true }), /alignCorners can only be set/);
  assert.throws(() => F.interpolate(torch.zeros([2, 3]), { size: 3 }), /4-D/);
  assert.throws(() => F.interpolate(x, {}), /either size or scaleFactor/);
}));

test('pad: constant (incl. negative = crop), reflect, replicate', () => tidy(() => {
  const x = tensor([[[[1, 2, 3], [4, 5, 6]]]]);
  // [left, right, top, bottom]
  assert.deepEqual(F.pad(x, [1, 0, 0, 1]).toArray(), [[[[0, 1, 2, 3], [0, 4, 5, 6], [0, 0, 0, 0]]]]);
  assert.deepEqual(F.pad(x, [0, 1], { value: -1 }).toArray(), [[[[1, 2, 3, -1], [4, 5, 6, -1]]]]);
  assert.deepEqual(F.pad(x, [-1, 0]).toArray(), [[[[2, 3], [5, 6]]]]);
  assert.deepEqual(F.pad(x, [0, 0, 0, 0, 1, 0]).shape, [1, 2, 2, 3], 'a third pair pads channels');
  assert.deepEqual(F.pad(x, [2, 1, 1, 0], { mode: 'reflect' }).toArray(), [[[[6, 5, 4, 5, 6, 5], [3, 2, 1, 2, 3, 2], [6, 5, 4, 5, 6, 5]]]]);
  assert.deepEqual(F.pad(x, [1, 2, 0, 1], { mode: 'replicate' }).toArray(), [[[[1, 1, 2, 3, 3, 3], [4, 4, 5, 6, 6, 6], [4, 4, 5, 6, 6, 6]]]]);
  assert.throws(() => F.pad(x, [3, 0, 0, 0], { mode: 'reflect' }), /reflection_pad2d/);
}));
