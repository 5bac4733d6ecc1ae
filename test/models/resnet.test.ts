import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import { createModel, ResNet, BasicBlock, Bottleneck, isEncoder } from '../../src/models/index.js';
import { disposeModule, leakCheck, maskContext, maxAbsDiff } from './support.js';

const noLeaks = leakCheck();

function std(t: Tensor): number { return torch.tidy(() => t.double().std().item()); }
function allEqual(t: Tensor, v: number): boolean { return torch.tidy(() => t.eq(v).all().item() === 1); }

// Expected parameter counts are timm 0.5.4's (and the reference SparK's encoders): sum(p.numel()).
test('resnet50 encoder: timm parameter count, contract, and 224² stage shapes', () => {
  const m = createModel('resnet50', { numClasses: 0, globalPool: '', skipInit: true });
  try {
    assert.equal(m.numParameters(), 23_508_032);
    assert.ok(isEncoder(m));
    assert.equal(m.downsampleRatio, 32);
    assert.deepEqual(m.featureChannels, [256, 512, 1024, 2048]);
    assert.ok(m.fc instanceof nn.Identity);
    m.eval();
    torch.tidy(() => torch.noGrad(() => {
      const x = torch.randn([1, 3, 224, 224]);
      const maps = m.forward(x, { hierarchical: true });
      assert.deepEqual(maps.map((f) => f.shape), [[1, 256, 56, 56], [1, 512, 28, 28], [1, 1024, 14, 14], [1, 2048, 7, 7]]);
      // no pool, no classifier: the dense forward is the last stage (timm's forward with global_pool='')
      assert.equal(maxAbsDiff(m.forward(x), maps[3]), 0);
    }));
  } finally { disposeModule(m); }
});

test('resnet101 encoder and resnet50 with a 1000-class head: timm parameter counts', () => {
  const r101 = createModel('resnet101', { numClasses: 0, globalPool: '', skipInit: true });
  try { assert.equal(r101.numParameters(), 42_500_160); } finally { disposeModule(r101); }
  const r50 = createModel('resnet50', { skipInit: true });
  try {
    assert.equal(r50.numParameters(), 25_557_032);
    const names = [...r50.stateDict().keys()];
    assert.deepEqual(names.slice(0, 7), ['conv1.weight', 'bn1.weight', 'bn1.bias', 'bn1.running_mean', 'bn1.running_var', 'bn1.num_batches_tracked', 'layer1.0.conv1.weight']);
    assert.deepEqual(names.slice(-2), ['fc.weight', 'fc.bias']);
    assert.ok(names.includes('layer4.2.bn3.num_batches_tracked'));
    assert.ok(names.includes('layer2.0.downsample.0.weight') && !names.includes('layer2.1.downsample.0.weight'));
    torch.tidy(() => torch.noGrad(() => {
      assert.deepEqual(r50.eval().forward(torch.randn([2, 3, 64, 64])).shape, [2, 1000]);
    }));
  } finally { disposeModule(r50); }
  const r18 = createModel('resnet18', { skipInit: true });
  try { assert.equal(r18.numParameters(), 11_689_512); } finally { disposeModule(r18); }
});

test('timm init: kaiming-normal fan_out convs, BN 1/0, zeroed last BN per block, default-init fc', () => {
  const m = new ResNet({ block: 'bottleneck', layers: [1, 1, 1, 1], numClasses: 10 });
  try {
    // layer4.0.conv2: 512×512×3×3, fan_out = 512·9 → std √(2/4608); 2.4M samples pin it to ~0.1%
    const w = m.stages[3].at(0) as Bottleneck;
    assert.ok(Math.abs(std(w.conv2.weight) / Math.sqrt(2 / (512 * 9)) - 1) < 0.01, `std ${std(w.conv2.weight)}`);
    assert.ok(Math.abs(std(m.conv1.weight) / Math.sqrt(2 / (64 * 49)) - 1) < 0.03);
    for (const b of m.blocks() as Bottleneck[]) {
      assert.ok(allEqual(b.bn3.weight!, 0), 'last BN of each block is zeroed');
      assert.ok(allEqual(b.bn1.weight!, 1) && allEqual(b.bn2.weight!, 1) && allEqual(b.bn3.bias!, 0));
      assert.ok(allEqual((b.downsample!.at(1) as nn.BatchNorm2d).weight!, 1));
    }
    // timm leaves the classifier at PyTorch's Linear default: U(-1/√2048, 1/√2048)
    const fc = m.fc as nn.Linear;
    const bound = 1 / Math.sqrt(2048);
    assert.ok(torch.tidy(() => fc.weight.abs().amax().item()) <= bound);
    assert.ok(Math.abs(std(fc.weight) / (bound / Math.sqrt(3)) - 1) < 0.05);
  } finally { disposeModule(m); }
  const keep = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 16, 32, 64], zeroInitLastBn: false });
  try { for (const b of keep.blocks() as BasicBlock[]) assert.ok(allEqual(b.bn2.weight!, 1)); } finally { disposeModule(keep); }
});

test('stochastic depth: timm 0.5.4 linear rule rate·i/(n−1), none on block 0', () => {
  const m = createModel('resnet50', { numClasses: 0, globalPool: '', dropPathRate: 0.05, skipInit: true });
  try {
    const got = m.blocks().map((b) => b.dropPath?.dropProb ?? 0);
    assert.equal(got.length, 16);
    got.forEach((p, i) => assert.ok(Math.abs(p - 0.05 * i / 15) < 1e-15, `block ${i}: ${p}`));
    assert.equal(got[15], 0.05);
    const names = m.namedModules().map(([n]) => n);
    assert.ok(!names.includes('layer1.0.drop_path') && names.includes('layer1.1.drop_path'));
  } finally { disposeModule(m); }
});

const small = (o: Partial<ConstructorParameters<typeof ResNet>[0]> = {}): ResNet =>
  new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 16, 32, 64], stemWidth: 8, numClasses: 5, ...o });

test('dense forward on small configs: logits, pooled features, max pool, train and eval', () => {
  torch.manualSeed(0);
  const models = [small(), small({ globalPool: 'max' }), small({ numClasses: 0 }), small({ block: 'bottleneck', dropRate: 0.5, dropPathRate: 0.2 })];
  try {
    torch.tidy(() => {
      const x = torch.randn([2, 3, 64, 64]);
      assert.deepEqual(models[0].forward(x).shape, [2, 5]);
      assert.deepEqual(models[0].eval().forward(x).shape, [2, 5]);
      assert.deepEqual(models[1].forward(x).shape, [2, 5]);
      assert.deepEqual(models[2].forward(x).shape, [2, 64]);
      assert.deepEqual(models[3].forward(x).shape, [2, 5]);
      assert.deepEqual(models[3].featureChannels, [32, 64, 128, 256]);
      // gradients reach the stem
      models[0].train();
      models[0].forward(x).sum().backward();
      const g = models[0].conv1.weight.grad!;
      assert.ok(g.abs().sum().item() > 0);
      models[0].zeroGrad();
      // fine-tuning head swap: a new classifier at the same state-dict position
      models[2].resetClassifier(3);
      assert.deepEqual(models[2].forward(x).shape, [2, 3]);
      assert.deepEqual([...models[2].stateDict()].slice(-2).map(([k, t]) => [k, t.shape]), [['fc.weight', [3, 64]], ['fc.bias', [3]]]);
      models[0].resetClassifier(0, '');
      assert.deepEqual(models[0].forward(x).shape, [2, 64, 2, 2]);
    });
  } finally { models.forEach(disposeModule); }
});

test('sparse forward: masked positions are exactly 0 in every stage; all-visible equals dense', () => {
  torch.manualSeed(1);
  for (const block of ['basic', 'bottleneck'] as const) {
    const m = small({ block, numClasses: 0, globalPool: '', zeroInitLastBn: false });
    // non-trivial BN affine so that nothing is zero by accident
    torch.noGrad(() => { for (const [n, p] of m.namedParameters()) if (p.ndim === 1) p.uniform_(n.endsWith('weight') ? 0.5 : -0.5, 1.5); });
    const active = torch.tensor([[[[1, 0], [0, 1]]], [[[0, 1], [1, 1]]]], { dtype: 'bool' });
    const ctx = maskContext(active);
    try {
      for (const mode of ['train', 'eval'] as const) {
        m.train(mode === 'train');
        torch.tidy(() => torch.noGrad(() => {
          // SparK hands the encoder a masked image
          const x = torch.randn([2, 3, 64, 64]).mul(ctx.mask(64, 64));
          const maps = m.forward(x, { hierarchical: true, ctx });
          assert.equal(maps.length, 4);
          maps.forEach((f, i) => {
            const hidden = ctx.mask(f.size(2), f.size(3)).logicalNot();
            assert.equal(f.mul(hidden).abs().amax().item(), 0, `${block} ${mode} stage ${i}: masked positions must be 0`);
            assert.ok(f.abs().amax().item() > 0, `${block} ${mode} stage ${i}: visible positions carry values`);
          });
        }));
      }
      // all visible: sparse execution equals the dense network
      const ones = torch.ones([2, 1, 2, 2], { dtype: 'bool' });
      const all = maskContext(ones);
      for (const mode of [false, true]) {
        m.train(mode);
        torch.tidy(() => torch.noGrad(() => {
          const x = torch.randn([2, 3, 64, 64]);
          const d = m.features(x), s = m.features(x, all);
          d.forEach((f, i) => assert.ok(maxAbsDiff(f, s[i]) < 1e-4, `train=${mode} stage ${i}: ${maxAbsDiff(f, s[i])}`));
        }));
      }
      all.dispose(); ones.dispose();
    } finally { ctx.dispose(); active.dispose(); disposeModule(m); }
  }
});

test('sparse BatchNorm statistics come from visible positions only (stem BN running mean)', () => {
  torch.manualSeed(2);
  const m = small({ numClasses: 0, globalPool: '' });
  const active = torch.tensor([[[[1, 0], [0, 0]]], [[[0, 1], [1, 1]]]], { dtype: 'bool' });
  const ctx = maskContext(active);
  try {
    torch.tidy(() => torch.noGrad(() => {
      const x = torch.randn([2, 3, 64, 64]).add(1).mul(ctx.mask(64, 64));
      m.forward(x, { hierarchical: true, ctx });
      // independently: the stem conv's output, averaged per channel over the visible positions only
      const y = torch.conv2d(x, m.conv1.weight, null, [2, 2], [3, 3], [1, 1], 1);
      const vis = ctx.mask(32, 32).float();
      const visibleMean = y.mul(vis).sum([0, 2, 3]).div(vis.sum());
      // PyTorch momentum 0.1 from a zero running mean
      assert.ok(maxAbsDiff((m.bn1 as nn.BatchNorm2d).runningMean!, visibleMean.mul(0.1)) < 1e-6);
      assert.ok(maxAbsDiff(visibleMean, y.mean([0, 2, 3])) > 1e-3, 'the test needs visible and dense means to differ');
    }));
  } finally { ctx.dispose(); active.dispose(); disposeModule(m); }
});

test('bad configurations fail with one clear line', () => {
  assert.throws(() => new ResNet({ block: 'basic', layers: [1, 1], channels: [8, 16, 32] }), /layers has 2 stages but channels has 3/);
  assert.throws(() => new ResNet({ block: 'wide' as 'basic', layers: [1] }), /block must be 'basic' or 'bottleneck'/);
  assert.throws(() => new ResNet({ block: 'basic', layers: [1, 0, 1, 1] }), /layers \(blocks per stage\) must be a non-empty array of positive integers/);
  assert.throws(() => new ResNet({ block: 'basic', layers: [1, 1, 1, 1], globalPool: '' }), /globalPool '' \(no pooling\) needs numClasses 0/);
  assert.throws(() => new ResNet({ block: 'basic', layers: [1, 1, 1, 1], cardinality: 2 }), /basic block supports only cardinality 1/);
  const m = small();
  try {
    torch.tidy(() => assert.throws(() => m.forward(torch.randn([3, 64, 64])), /expected an \(N, C, H, W\) image batch, got shape \[3,64,64\]/));
  } finally { disposeModule(m); }
});

test('no tensors leaked', noLeaks);
