import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import { createModel, ConvNeXt, ConvNeXtBlock, ConvNeXtLayerNorm, isEncoder } from '../../src/models/index.js';
import { disposeModule, leakCheck, maskContext, maxAbsDiff } from './support.js';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { repoRoot } from '../helpers.js';

const noLeaks = leakCheck();

function std(t: Tensor): number { return torch.tidy(() => t.double().std().item()); }
function allEqual(t: Tensor, v: number): boolean { return torch.tidy(() => t.eq(v).all().item() === 1); }

// Expected counts are the reference SparK's (pretrain/models/convnext.py) sum(p.numel()).
test('convnext_small encoder: reference parameter count, contract, and 224² stage shapes', () => {
  // skipInit: the truncated-normal init of 50M weights takes seconds and counts/shapes do not need it
  const m = createModel('convnext_small', { numClasses: 0, skipInit: true });
  try {
    assert.equal(m.numParameters(), 49_453_152);
    assert.ok(isEncoder(m));
    assert.equal(m.downsampleRatio, 32);
    assert.deepEqual(m.featureChannels, [96, 192, 384, 768]);
    assert.ok(m.norm instanceof nn.Identity && m.head instanceof nn.Identity);
    m.eval();
    torch.tidy(() => torch.noGrad(() => {
      const maps = m.forward(torch.randn([1, 3, 224, 224]), { hierarchical: true });
      assert.deepEqual(maps.map((f) => f.shape), [[1, 96, 56, 56], [1, 192, 28, 28], [1, 384, 14, 14], [1, 768, 7, 7]]);
    }));
  } finally { disposeModule(m); }
});

test('convnext_base encoder and convnext_tiny with a head: reference parameter counts and the official names', () => {
  const b = createModel('convnext_base', { numClasses: 0, skipInit: true });
  try { assert.equal(b.numParameters(), 87_564_416); } finally { disposeModule(b); }
  const t = createModel('convnext_tiny', { skipInit: true });
  try {
    assert.equal(t.numParameters(), 28_589_128);
    const names = [...t.stateDict().keys()];
    // downstream_imagenet/models/convnext_official.py: final LayerNorm `norm`, classifier `head`
    assert.deepEqual(names.slice(-4), ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    assert.deepEqual(names.slice(16, 19), ['stages.0.0.gamma', 'stages.0.0.dwconv.weight', 'stages.0.0.dwconv.bias']);
  } finally { disposeModule(t); }
});

const small = (o: ConstructorParameters<typeof ConvNeXt>[0] = {}): ConvNeXt =>
  new ConvNeXt({ depths: [1, 1, 2, 1], dims: [16, 32, 64, 128], numClasses: 7, ...o });

test('init: truncated normal std .02 for convs/linears and the head, zero biases, layer scale 1e-6, head_init_scale', () => {
  torch.manualSeed(0);
  const m = new ConvNeXt({ depths: [1, 1, 1, 1], dims: [64, 128, 256, 512], numClasses: 10 });
  try {
    const last = m.blocks()[3];
    // 512×2048 = 1M samples: the sample std is within ~0.1% of .02 (truncation at ±2 is ~100σ away)
    assert.ok(Math.abs(std(last.pwconv1.weight) / 0.02 - 1) < 0.01, `std ${std(last.pwconv1.weight)}`);
    assert.ok(Math.abs(std(last.dwconv.weight) / 0.02 - 1) < 0.05);
    for (const b of m.blocks()) {
      assert.ok(allEqual(b.gamma!, Math.fround(1e-6)), 'gamma = float32(1e-6)');
      assert.ok(allEqual(b.pwconv1.bias!, 0) && allEqual(b.pwconv2.bias!, 0) && allEqual(b.dwconv.bias!, 0));
      assert.ok(allEqual(b.norm.weight!, 1) && allEqual(b.norm.bias!, 0));
    }
    // the official ConvNeXt builds its head before _init_weights: trunc_normal(.02) and zero bias
    // (5120 samples: the sample std is within a few % of .02; PyTorch's default would give ≈ .0255)
    const head = m.head as nn.Linear;
    assert.ok(Math.abs(std(head.weight) / 0.02 - 1) < 0.05, `head std ${std(head.weight)}`);
    assert.ok(allEqual(head.bias!, 0));
  } finally { disposeModule(m); }
  // head_init_scale multiplies the initial head (the same draws: same seed)
  torch.manualSeed(1);
  const a = small();
  torch.manualSeed(1);
  const b = small({ headInitScale: 0.001 });
  try {
    torch.tidy(() => {
      const wa = (a.head as nn.Linear).weight, wb = (b.head as nn.Linear).weight;
      assert.ok(maxAbsDiff(wb, wa.mul(0.001)) < 1e-12);
      assert.ok(maxAbsDiff(a.blocks()[0].pwconv1.weight, b.blocks()[0].pwconv1.weight) === 0);
    });
  } finally { disposeModule(a); disposeModule(b); }
  const noLs = small({ layerScaleInitValue: 0 });
  try {
    assert.ok(noLs.blocks().every((b) => b.gamma === null));
    assert.ok(![...noLs.stateDict().keys()].some((k) => k.endsWith('gamma')));
  } finally { disposeModule(noLs); }
});

test('the classifier is the official ConvNeXt\'s: same names, shapes, order and, at the same seed, the same initial weights (head_init_scale too)', () => {
  // test/fixtures/ft/gen_convnext_init.py: downstream_imagenet/models/convnext_official.py at torch.manual_seed(0)
  const ref = JSON.parse(readFileSync(path.join(repoRoot(), 'test/fixtures/ft/convnext_init.json'), 'utf8')) as {
    case: { depths: number[]; dims: number[]; num_classes: number; head_init_scale: number; seed: number };
    tensors: Record<string, [number, number, number[]]>;
  };
  const c = ref.case;
  torch.manualSeed(c.seed);
  const m = new ConvNeXt({ depths: c.depths, dims: c.dims, numClasses: c.num_classes, headInitScale: c.head_init_scale });
  try {
    const sd = m.stateDict();
    assert.deepEqual([...sd.keys()], Object.keys(ref.tensors));
    for (const [k, [sum, abs, shape]] of Object.entries(ref.tensors)) {
      const t = sd.get(k)!;
      assert.deepEqual(t.shape, shape, k);
      const [s, a] = torch.tidy(() => { const d = t.double(); return [d.sum().item(), d.abs().sum().item()]; });
      // float64 sums of the same float32 values: equal up to the summation order of the libtorch build
      assert.ok(Math.abs(s - sum) <= 1e-12 * Math.max(1, abs), `${k} sum ${s} vs ${sum}`);
      assert.ok(Math.abs(a - abs) <= 1e-12 * Math.max(1, abs), `${k} abs sum ${a} vs ${abs}`);
    }
  } finally { disposeModule(m); }
});

test('stochastic depth: linspace(0, rate, total blocks) in float32, Identity at rate 0', () => {
  const m = small({ dropPathRate: 0.1 });
  try {
    const got = m.blocks().map((b) => (b.dropPath instanceof nn.DropPath ? b.dropPath.dropProb : 0));
    assert.deepEqual(got, [0, 0.025, 0.05, 0.075, 0.1].map(Math.fround));
    assert.ok(m.blocks()[0].dropPath instanceof nn.Identity);
  } finally { disposeModule(m); }
});

test('ConvNeXtLayerNorm: channels_first dense = LayerNorm over C; sparse = per-position LN, masked rows 0', () => {
  torch.manualSeed(3);
  const lnFirst = new ConvNeXtLayerNorm(6, { dataFormat: 'channels_first' });
  const lnLast = new ConvNeXtLayerNorm(6);
  const active = torch.tensor([[[[1, 0], [1, 1]]], [[[0, 0], [0, 1]]]], { dtype: 'bool' });
  const ctx = maskContext(active);
  try {
    assert.equal(lnFirst.eps, 1e-6);
    torch.noGrad(() => {
      for (const ln of [lnFirst, lnLast]) { ln.weight!.uniform_(0.5, 1.5); ln.bias!.uniform_(-1, 1); }
      lnLast.weight!.copy_(lnFirst.weight!); lnLast.bias!.copy_(lnFirst.bias!);
    });
    torch.tidy(() => {
      const x = torch.randn([2, 6, 8, 8]).mul(3).add(1);
      // independent path: ATen's layer_norm over the channel dim of the NHWC view
      const expect = torch.layerNorm(x.permute([0, 2, 3, 1]), [6], lnFirst.weight, lnFirst.bias, 1e-6).permute([0, 3, 1, 2]);
      assert.ok(maxAbsDiff(lnFirst.forward(x), expect) < 1e-5);
      assert.ok(maxAbsDiff(lnLast.forward(x.permute([0, 2, 3, 1])), expect.permute([0, 2, 3, 1])) < 1e-5);
      // LN is per position, so its sparse form is the dense one with masked positions zeroed
      const m = ctx.mask(8, 8);
      const xs = x.mul(m);
      const sparseExpect = torch.layerNorm(xs.permute([0, 2, 3, 1]), [6], lnFirst.weight, lnFirst.bias, 1e-6).permute([0, 3, 1, 2]).mul(m);
      const sf = lnFirst.forward(xs, ctx);
      assert.equal(sf.mul(m.logicalNot()).abs().amax().item(), 0);
      assert.ok(maxAbsDiff(sf, sparseExpect) < 1e-5);
      assert.ok(maxAbsDiff(lnLast.forward(xs.permute([0, 2, 3, 1]), ctx), sparseExpect.permute([0, 2, 3, 1])) < 1e-5);
      // (N, C) input: plain LayerNorm over the last dim (the head norm)
      const v = torch.randn([3, 6]);
      assert.ok(maxAbsDiff(lnLast.forward(v), torch.layerNorm(v, [6], lnLast.weight, lnLast.bias, 1e-6)) < 1e-6);
    });
  } finally { ctx.dispose(); active.dispose(); disposeModule(lnFirst); disposeModule(lnLast); }
  assert.throws(() => new ConvNeXtLayerNorm(4, { dataFormat: 'nchw' as 'channels_first' }), /dataFormat must be 'channels_last' or 'channels_first'/);
});

test('dense forward on small configs: logits, pooled features, gradients', () => {
  torch.manualSeed(4);
  const m = small({ dropPathRate: 0.2 });
  const enc = small({ numClasses: 0 });
  try {
    torch.tidy(() => {
      const x = torch.randn([2, 3, 64, 64]);
      const y = m.forward(x);
      assert.deepEqual(y.shape, [2, 7]);
      assert.deepEqual(m.eval().forward(x).shape, [2, 7]);
      // the head is global average → LN → Linear on the last stage
      const expect = torch.noGrad(() => {
        const f = m.features(x)[3].mean([-2, -1]);
        return (m.head as nn.Linear).forward(torch.layerNorm(f, [128], (m.norm as ConvNeXtLayerNorm).weight, (m.norm as ConvNeXtLayerNorm).bias, 1e-6));
      });
      assert.ok(maxAbsDiff(m.forward(x), expect) < 1e-5);
      assert.deepEqual(enc.forward(x).shape, [2, 128]);
      m.train();
      m.forward(x).sum().backward();
      assert.ok(m.downsample_layers.at(0).at(0).getParameter('weight')!.grad!.abs().sum().item() > 0);
      assert.ok(m.blocks()[0].gamma!.grad!.abs().sum().item() > 0);
      m.zeroGrad();
    });
  } finally { disposeModule(m); disposeModule(enc); }
});

test('sparse forward: masked positions exactly 0 in every stage; all-visible equals dense', () => {
  torch.manualSeed(5);
  const m = small({ numClasses: 0 });
  // a large layer scale and non-zero biases so that the block branch matters
  torch.noGrad(() => {
    for (const b of m.blocks()) { b.gamma!.fill_(0.5); b.pwconv2.bias!.uniform_(-1, 1); b.pwconv1.bias!.uniform_(-1, 1); }
  });
  const active = torch.tensor([[[[1, 0], [0, 1]]], [[[0, 1], [1, 1]]], [[[0, 0], [1, 0]]]], { dtype: 'bool' });
  const ctx = maskContext(active);
  const ones = torch.ones([3, 1, 2, 2], { dtype: 'bool' });
  const all = maskContext(ones);
  try {
    torch.tidy(() => torch.noGrad(() => {
      const x = torch.randn([3, 3, 64, 64]).mul(ctx.mask(64, 64));
      const maps = m.forward(x, { hierarchical: true, ctx });
      maps.forEach((f, i) => {
        const hidden = ctx.mask(f.size(2), f.size(3)).logicalNot();
        assert.equal(f.mul(hidden).abs().amax().item(), 0, `stage ${i}: masked positions must be 0`);
        assert.ok(f.abs().amax().item() > 0, `stage ${i}: visible positions carry values`);
      });
      // dense on the same masked image is not masked (the branch biases leak): the test can tell them apart
      const dense = m.features(x);
      assert.ok(dense[0].mul(ctx.mask(16, 16).logicalNot()).abs().amax().item() > 0);
      const y = torch.randn([3, 3, 64, 64]);
      const d = m.features(y), s = m.features(y, all);
      d.forEach((f, i) => assert.ok(maxAbsDiff(f, s[i]) < 1e-4, `stage ${i}: ${maxAbsDiff(f, s[i])}`));
    }));
  } finally { ctx.dispose(); all.dispose(); active.dispose(); ones.dispose(); disposeModule(m); }
});

test('the block masks its branch after layer scale, before the residual add', () => {
  torch.manualSeed(6);
  const b = new ConvNeXtBlock(8);
  const active = torch.tensor([[[[1, 0], [0, 1]]]], { dtype: 'bool' });
  const ctx = maskContext(active);
  try {
    torch.noGrad(() => { b.gamma!.fill_(1); b.pwconv2.bias!.fill_(0.3); });
    torch.tidy(() => torch.noGrad(() => {
      const m = ctx.mask(8, 8);
      const x = torch.randn([1, 8, 8, 8]).mul(m);
      const y = b.forward(x, ctx);
      // masked positions: input 0 + masked branch 0
      assert.equal(y.mul(m.logicalNot()).abs().amax().item(), 0);
      // visible positions: the dense block's branch (its dwconv sees zeros under the mask either way,
      // and the per-position LN equals its sparse form there)
      assert.ok(maxAbsDiff(y, b.forward(x).mul(m)) < 1e-5);
    }));
  } finally { ctx.dispose(); active.dispose(); disposeModule(b); }
});

test('bad configurations fail with one clear line', () => {
  assert.throws(() => new ConvNeXt({ depths: [1, 1], dims: [8, 16, 32] }), /depths has 2 stages but dims has 3/);
  assert.throws(() => new ConvNeXt({ depths: [1, -1, 1, 1] }), /depths \(blocks per stage\) must be a non-empty array of positive integers/);
  const m = small();
  try {
    torch.tidy(() => assert.throws(() => m.forward(torch.randn([3, 64, 64])), /ConvNeXt.forward: expected an \(N, C, H, W\) image batch/));
  } finally { disposeModule(m); }
});

test('no tensors leaked', noLeaks);
