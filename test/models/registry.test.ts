import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import {
  createModel, listModels, pretrainDefaults, createPretrainEncoder, isModelName,
  ResNet, ConvNeXt, RESNET_ARCHS, CONVNEXT_ARCHS, isEncoder, assertEncoder, encoderProblems, encoderFeatures, type Encoder,
} from '../../src/models/index.js';
import { disposeModule, leakCheck } from './support.js';

const noLeaks = leakCheck();

test('listModels: the timm ResNets and the reference ConvNeXts', () => {
  assert.deepEqual(listModels(), ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnet200',
    'convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large']);
  assert.ok(isModelName('resnet50') && !isModelName('resnet51') && !isModelName('toString'));
});

test('createModel: blocks per stage as timm / the reference define them', () => {
  // the numbers of timm 0.5.4's resnet*() and the reference's convnext_*() entry points
  assert.deepEqual(RESNET_ARCHS, {
    resnet18: { block: 'basic', layers: [2, 2, 2, 2] }, resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
    resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] }, resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
    resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] }, resnet200: { block: 'bottleneck', layers: [3, 24, 36, 3] },
  });
  assert.deepEqual(CONVNEXT_ARCHS, {
    convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] }, convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
    convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] }, convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
  });
  // and createModel builds from that table
  const r = createModel('resnet34', { numClasses: 0, globalPool: '', skipInit: true });
  try {
    assert.ok(r instanceof ResNet);
    assert.deepEqual(r.stages.map((s) => s.length), [3, 4, 6, 3]);
    assert.equal(r.blockKind, 'basic');
    assert.deepEqual(r.featureChannels, [64, 128, 256, 512]);
  } finally { disposeModule(r); }
  const t = createModel('convnext_tiny', { numClasses: 0, skipInit: true });
  try {
    assert.ok(t instanceof ConvNeXt);
    assert.deepEqual([...t.stages].map((s) => s.length), [3, 3, 9, 3]);
    assert.deepEqual(t.featureChannels, [96, 192, 384, 768]);
  } finally { disposeModule(t); }
});

test('unknown names and options fail with one line naming the fix', () => {
  assert.throws(() => createModel('resnet51'),
    /^Error: unknown model 'resnet51'; known models: resnet18, resnet34, resnet50, resnet101, resnet152, resnet200, convnext_tiny, convnext_small, convnext_base, convnext_large$/);
  assert.throws(() => createModel('resnet18', { layerScaleInitValue: 1 }), /createModel\('resnet18'\): unknown option layerScaleInitValue; resnet models take numClasses, globalPool, dropPathRate, inChans, skipInit, dropRate, zeroInitLastBn/);
  assert.throws(() => createModel('convnext_tiny', { dropRate: 0.1, zeroInitLastBn: true }), /unknown options dropRate, zeroInitLastBn; convnext models take/);
  assert.throws(() => createModel('convnext_tiny', { globalPool: 'max' }), /globalPool must be 'avg' or '' for ConvNeXt/);
  assert.throws(() => pretrainDefaults('vit_base'), /unknown model 'vit_base'/);
});

test("pretraining defaults are the reference's (models/__init__.py)", () => {
  const dp: Record<string, number> = {
    resnet50: 0.05, resnet101: 0.08, resnet152: 0.10, resnet200: 0.15, convnext_small: 0.2, convnext_base: 0.3, convnext_large: 0.4,
    resnet18: 0, resnet34: 0, convnext_tiny: 0,
  };
  for (const name of listModels()) assert.deepEqual(pretrainDefaults(name), { numClasses: 0, globalPool: '', dropPathRate: dp[name] }, name);
});

test('createPretrainEncoder: no head, no pooling, default drop path unless a non-zero one is given', () => {
  const m = createPretrainEncoder('resnet50', { skipInit: true });
  try {
    assert.ok(m instanceof ResNet);
    assert.ok(m.fc instanceof nn.Identity);
    assert.equal(m.globalPool.poolType, '');
    assert.equal(m.blocks().at(-1)!.dropPath!.dropProb, 0.05);
  } finally { disposeModule(m); }
  // as the reference's build_sparse_encoder: --dp 0 (its default) keeps the model's rate
  for (const [given, expect] of [[0, 0.05], [0.1, 0.1]]) {
    const r = createPretrainEncoder('resnet50', { dropPathRate: given, skipInit: true });
    try { assert.equal((r as ResNet).blocks().at(-1)!.dropPath!.dropProb, expect); } finally { disposeModule(r); }
  }
});

class NotAnEncoder extends nn.Module<[Tensor], Tensor> { forward(x: Tensor): Tensor { return x; } }
class Liar extends nn.Module<[Tensor, { hierarchical?: boolean }?], Tensor | Tensor[]> {
  readonly downsampleRatio = 4;
  readonly featureChannels = [3, 5];
  forward(x: Tensor): Tensor[] { return [x, x]; }
}

test('encoder contract: problems listed, assertEncoder throws one line, encoderFeatures checks the maps', () => {
  assert.deepEqual(encoderProblems(new NotAnEncoder()), [
    'downsampleRatio must be a positive integer (the mask patch size), got undefined',
    'featureChannels must be a non-empty array of positive integers (one per feature map, shallow to deep), got undefined',
  ]);
  assert.equal(isEncoder({}), false);
  assert.ok(encoderProblems({ downsampleRatio: 32, featureChannels: [1], forward() { return []; } }).includes('it is not an nn.Module'));
  assert.throws(() => assertEncoder(new NotAnEncoder(), 'cnn'),
    /^Error: cnn \(NotAnEncoder\) is not a SparK encoder: downsampleRatio must be .*; featureChannels must be .*; implement the Encoder contract of src\/models\/contract.ts$/);
  const liar = new Liar();
  assert.ok(isEncoder(liar));
  torch.tidy(() => {
    assert.throws(() => encoderFeatures(liar as unknown as Encoder, torch.zeros([1, 3, 8, 8])),
      /Liar feature map 1 has shape \[1,3,8,8\] but featureChannels\[1\] = 5/);
  });
  const m = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [4, 8, 8, 8], stemWidth: 4, numClasses: 0, globalPool: '' });
  try {
    assertEncoder(m);
    torch.tidy(() => torch.noGrad(() => {
      assert.deepEqual(encoderFeatures(m, torch.randn([1, 3, 64, 64])).map((f) => f.shape), [[1, 4, 16, 16], [1, 8, 8, 8], [1, 8, 4, 4], [1, 8, 2, 2]]);
    }));
  } finally { disposeModule(m); }
});

test('no tensors leaked', noLeaks);
