// CUDA: the same ops on the GPU agree with the CPU in float64 (values and gradients), modules move with
// their identity kept, seeds reproduce, errors keep their shape. Every test skips without a GPU.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat, randLeaf } from '../helpers.js';

checkNoLeaks();
const F = torch.nn.functional;
const HAVE = torch.cuda.isAvailable();
const gpuTest = (name: string, fn: () => void): void => {
  test(name, (t) => { if (!HAVE) { t.skip('no CUDA device'); return; } torch.tidy(fn); });
};
const i64 = (v: torch.NestedArray): torch.Tensor => torch.tensor(v, { dtype: 'int64' });

gpuTest('creation and readback on cuda, every dtype', () => {
  assert.ok(torch.cuda.deviceCount() >= 1);
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8'] as const) {
    const t = torch.tensor([0, 1, 2, 100], { dtype, device: 'cuda' });
    assert.equal(t.device, 'cuda:0');
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.toArray(), [0, 1, 2, 100], dtype);
  }
  assert.deepEqual(torch.tensor([true, false], { device: 'cuda:0' }).toArray(), [true, false]);
  assert.deepEqual(torch.zeros([2, 3], { device: 'cuda' }).toArray(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(torch.arange(4, undefined, 1, { device: 'cuda' }).toArray(), [0, 1, 2, 3]);
  assert.equal(torch.tensor([3.5], { device: 'cuda' }).item(), 3.5);
  // CUDA storages are not reported to V8 (it cannot free GPU memory by collecting)
  const m0 = torch.nativeMemory().reportedBytes;
  const big = torch.empty([1024, 1024], { device: 'cuda' });
  assert.equal(torch.nativeMemory().reportedBytes, m0);
  big.dispose();
  torch.cuda.synchronize();
});

gpuTest('seeded random streams reproduce on cuda', () => {
  torch.manualSeed(7);
  const a = flat(torch.randn([8], { device: 'cuda' }));
  torch.manualSeed(7);
  assert.deepEqual(flat(torch.randn([8], { device: 'cuda' })), a);
  const u = flat(torch.rand([10000], { device: 'cuda' }));
  assert.ok(u.every((v) => v >= 0 && v < 1));
  assert.ok(Math.abs(u.reduce((s, v) => s + v, 0) / u.length - 0.5) < 0.02);
  const d = flat(F.dropout(torch.ones([10000], { device: 'cuda' }), 0.25, true));
  assert.ok(d.every((v) => v === 0 || Math.abs(v - 4 / 3) < 1e-6));
});

/** Run fn on CPU and on CUDA with float64 copies of the inputs; compare outputs and input gradients. */
function sameOnGpu(name: string, fn: (...xs: torch.Tensor[]) => torch.Tensor, inputs: torch.Tensor[], tol = 1e-10): void {
  torch.tidy(() => {
    const gpuIn = inputs.map((x) => { const g = x.detach().cuda(); if (x.requiresGrad) g.requiresGrad = true; return g; });
    for (const x of inputs) if (x.requiresGrad) x.grad = null;
    const yc = fn(...inputs), yg = fn(...gpuIn);
    assert.equal(yg.device, 'cuda:0', name);
    assertClose(yg.cpu(), yc, { atol: tol, rtol: 1e-8 }, name);
    if (yc.requiresGrad) {
      const w = torch.arange(yc.numel, undefined, 1, { dtype: 'float64' }).cos().reshape(yc.shape);
      yc.mul(w).sum().backward();
      yg.mul(w.cuda()).sum().backward();
      inputs.forEach((x, i) => { if (x.requiresGrad) assertClose(gpuIn[i].grad!.cpu(), x.grad!, { atol: tol, rtol: 1e-8 }, `${name}: grad ${i}`); });
    }
  });
}

gpuTest('nn ops on cuda match the cpu in float64, with gradients', () => {
  const img = randLeaf([2, 4, 7, 6], 1), w = randLeaf([6, 2, 3, 3], 2), b = randLeaf([6], 3);
  sameOnGpu('conv2d', (x, ww, bb) => F.conv2d(x, ww, bb, { stride: [2, 1], padding: 1, dilation: [1, 2], groups: 2 }), [img, w, b]);
  const wt = randLeaf([4, 3, 4, 4], 4);
  sameOnGpu('conv_transpose2d', (x, ww) => F.convTranspose2d(x, ww, null, { stride: 2, padding: 1, groups: 2 }), [img, wt]);
  sameOnGpu('max_pool2d', (x) => F.maxPool2d(x, 3, { stride: 2, padding: 1 }), [img]);
  sameOnGpu('avg_pool2d', (x) => F.avgPool2d(x, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), [img]);
  sameOnGpu('adaptive_avg_pool2d', (x) => F.adaptiveAvgPool2d(x, [3, 4]), [img]);
  const g = randLeaf([4], 5), bb2 = randLeaf([4], 6);
  sameOnGpu('batch_norm train', (x, gg, bb) => F.batchNorm(x, null, null, { weight: gg, bias: bb, training: true }), [img, g, bb2]);
  sameOnGpu('layer_norm', (x) => F.layerNorm(x, [7, 6]), [img]);
  sameOnGpu('group_norm', (x, gg, bb) => F.groupNorm(x, 2, { weight: gg, bias: bb }), [img, g, bb2]);
  sameOnGpu('gelu tanh', (x) => F.gelu(x, { approximate: 'tanh' }), [img]);
  sameOnGpu('interpolate bicubic', (x) => F.interpolate(x, { scaleFactor: 1.7, mode: 'bicubic' }), [img]);
  sameOnGpu('interpolate bilinear', (x) => F.interpolate(x, { size: [9, 5], mode: 'bilinear', alignCorners: true }), [img]);
  sameOnGpu('pad reflect', (x) => F.pad(x, [2, 1, 1, 2], { mode: 'reflect' }), [img]);
  const logits = randLeaf([5, 4], 7);
  const target = i64([0, 3, -100, 1, 3]);
  sameOnGpu('cross_entropy', (z, t) => F.crossEntropy(z, t, { labelSmoothing: 0.1 }), [logits, target]);
  sameOnGpu('cross_entropy soft', (z) => F.crossEntropy(z, torch.full([5, 4], 0.25, { dtype: 'float64', device: z.device })), [logits]);
  sameOnGpu('softmax', (z) => F.softmax(z, 1), [logits]);
  sameOnGpu('mse', (z, t) => F.mseLoss(z, t), [logits, randLeaf([5, 4], 8)]);
});

gpuTest('indexing, masked and custom ops on cuda match the cpu', () => {
  const x = randLeaf([3, 4], 10), src = randLeaf([3, 2], 11);
  const idx = i64([[0, 3], [1, 1], [2, 0]]);
  sameOnGpu('gather', (t, i) => t.gather(1, i), [x, idx]);
  sameOnGpu('scatter_add', (t, i, s) => t.scatterAdd(1, i, s), [x, idx, src]);
  sameOnGpu('index_select', (t, i) => t.indexSelect(0, i), [x, i64([2, 0, 2])]);
  sameOnGpu('index_add', (t, i, s) => t.indexAdd(0, i, s), [x, i64([2, 0, 2]), randLeaf([3, 4], 12)]);
  const mask = torch.tensor([[true, false, false, true], [false, false, true, true], [true, true, false, false]]);
  sameOnGpu('masked_fill', (t, m) => t.maskedFill(m, 2), [x, mask]);
  sameOnGpu('masked_select', (t, m) => t.maskedSelect(m), [x, mask]);
  sameOnGpu('where', (m, a, b2) => torch.where(m, a, b2), [mask, x, randLeaf([3, 4], 13)]);
  sameOnGpu('where scalar', (m, a) => torch.where(m, a, 0.5), [mask, x]);
  const fm = randLeaf([2, 3, 2, 3], 14);
  const m = torch.tensor([[[[true, false, true], [false, true, true]]], [[[false, false, true], [true, false, false]]]]);
  sameOnGpu('masked_rows', (t, mm) => torch.maskedRows(t, mm), [fm, m]);
  sameOnGpu('rows_to_masked', (r, mm) => torch.rowsToMasked(r, mm), [randLeaf([6, 3], 15), m]);
  sameOnGpu('matmul', (a, b) => a.matmul(b), [randLeaf([2, 3, 4], 16), randLeaf([4, 5], 17)]);
  sameOnGpu('einsum', (a) => torch.einsum('bchpwq->bhwpqc', [a]), [randLeaf([1, 2, 2, 2, 1, 2], 18)]);
  // where with two scalars (the libtorch 1.13 kernel case) on a CUDA condition
  assert.deepEqual(torch.where(torch.tensor([true, false], { device: 'cuda' }), 1.5, -1.5).cpu().toArray(), [1.5, -1.5]);
  const [v, i] = torch.tensor([3, 1, 2], { device: 'cuda' }).sort();
  assert.deepEqual([v.toArray(), i.toArray()], [[1, 2, 3], [1, 2, 0]]);
  assert.deepEqual(torch.tensor([0, 2, 0, 1], { device: 'cuda' }).nonzero().toArray(), [[1], [3]]);
});

gpuTest('modules move to cuda with identity kept; state dicts load across devices; BatchNorm stats update on the GPU', () => {
  const net = new torch.nn.Sequential(new torch.nn.Conv2d(3, 4, 3, { padding: 1 }), new torch.nn.BatchNorm2d(4), new torch.nn.ReLU());
  try {
    const w = net.stateDict().get('0.weight')!;
    const cpuVals = flat(w);
    net.to('cuda');
    assert.equal(net.stateDict().get('0.weight'), w, 'same Tensor object');
    assert.equal(w.device, 'cuda:0');
    assert.deepEqual(flat(w), cpuVals);
    assert.equal(net.stateDict().get('1.num_batches_tracked')!.device, 'cuda:0');
    const x = torch.randn([2, 3, 5, 5], { device: 'cuda' });
    net.forward(x).sum().backward();
    assert.equal(w.grad!.device, 'cuda:0');
    assert.equal(net.stateDict().get('1.num_batches_tracked')!.item(), 1);
    const rm = net.stateDict().get('1.running_mean')!;
    const expected = torch.noGrad(() => torch.conv2d(x, w, net.stateDict().get('0.bias')!, 1, 1).mean([0, 2, 3]).mul(0.1));
    assertClose(rm.cpu(), expected.cpu(), { atol: 1e-5 });
    // a CPU state dict loads into the CUDA model (copied across)
    const cpuSd = new Map([...net.stateDict()].map(([k, v]) => [k, v.cpu().mul(0).add(1).to(v.dtype)]));
    net.loadStateDict(cpuSd);
    assert.ok(flat(w).every((v) => v === 1));
    assert.equal(w.device, 'cuda:0');
    net.to('cpu');
    assert.equal(w.device, 'cpu');
  } finally {
    net.dispose();
  }
});

gpuTest('errors on cuda keep op and shapes; mixing devices is refused clearly', () => {
  const a = torch.ones([2, 3], { device: 'cuda' });
  assert.throws(() => a.matmul(torch.ones([2, 3], { device: 'cuda' })), /^Error: matmul\(self: \[2,3\], other: \[2,3\]\): mat1 and mat2 shapes cannot be multiplied/);
  assert.throws(() => a.add(torch.ones([2, 3])), /add\(self: \[2,3\], other: \[2,3\]\): .*(device|cuda)/i);
  assert.deepEqual(a.add(1).cpu().toArray(), [[2, 2, 2], [2, 2, 2]], 'still working');
});
