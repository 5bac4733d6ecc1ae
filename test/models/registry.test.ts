import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import {
  createModel, listModels, pretrainDefaults, createPretrainEncoder, isModelName, modelRecord, modelRecords, finetuneDefaults,
  createClassifier, resnetLayerIdRule, convnextLayerIdRule, hasLayerIds,
  ResNet, ConvNeXt, RESNET_ARCHS, CONVNEXT_ARCHS, isEncoder, assertEncoder, encoderProblems, encoderFeatures, type Encoder,
} from '../../src/models/index.js';
import { disposeModule, leakCheck } from './support.js';
import { getParamGroupsWithNames } from '../../src/train/param_groups.js';

const noLeaks = leakCheck();

test("listModels: the timm ResNets, sparkts's resnet8 and the reference ConvNeXts", () => {
  assert.deepEqual(listModels(), ['resnet18', 'resnet34', 'resnet50', 'resnet101', 'resnet152', 'resnet200', 'seresnet50', 'resnet50_gn', 'resnet8',
    'convnext_tiny', 'convnext_small', 'convnext_base', 'convnext_large']);
  assert.ok(isModelName('resnet50') && !isModelName('resnet51') && !isModelName('toString'));
});

test('createModel: blocks per stage as timm / the reference define them', () => {
  // the numbers of timm 0.5.4's resnet*() and the reference's convnext_*() entry points
  assert.deepEqual(RESNET_ARCHS, {
    resnet18: { block: 'basic', layers: [2, 2, 2, 2] }, resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
    resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] }, resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
    resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] }, resnet200: { block: 'bottleneck', layers: [3, 24, 36, 3] },
    // timm 0.5.4 seresnet50 (block_args attn_layer='se') and resnet50_gn (norm_layer=GroupNorm)
    seresnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], attnLayer: 'se' }, resnet50_gn: { block: 'bottleneck', layers: [3, 4, 6, 3], norm: 'gn' },
    // sparkts's small ResNet for 32-px images (not timm's)
    resnet8: { block: 'basic', layers: [1, 1, 1], channels: [16, 32, 64], stemWidth: 16, stem: 'small' },
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
    /^Error: unknown model 'resnet51'; known models: resnet18, resnet34, resnet50, resnet101, resnet152, resnet200, seresnet50, resnet50_gn, resnet8, convnext_tiny, convnext_small, convnext_base, convnext_large$/);
  assert.throws(() => createModel('resnet18', { layerScaleInitValue: 1 }), /createModel\('resnet18'\): unknown option layerScaleInitValue; resnet models take numClasses, globalPool, dropPathRate, inChans, skipInit, dropRate, zeroInitLastBn/);
  assert.throws(() => createModel('convnext_tiny', { dropRate: 0.1, zeroInitLastBn: true }), /unknown options dropRate, zeroInitLastBn; convnext models take/);
  assert.throws(() => createModel('convnext_tiny', { globalPool: 'max' }), /globalPool must be 'avg' or '' for ConvNeXt/);
  assert.throws(() => pretrainDefaults('vit_base'), /unknown model 'vit_base'/);
});

test("pretraining defaults are the reference's (models/__init__.py)", () => {
  const dp: Record<string, number> = {
    resnet50: 0.05, resnet101: 0.08, resnet152: 0.10, resnet200: 0.15, convnext_small: 0.2, convnext_base: 0.3, convnext_large: 0.4,
    resnet8: 0, resnet18: 0, resnet34: 0, convnext_tiny: 0, seresnet50: 0, resnet50_gn: 0,
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

test('one registry record per model: family, factory, pretraining facts, fine-tune defaults (arg.py verbatim), layer-id rule', () => {
  // downstream_imagenet/arg.py HP_DEFAULT_NAMES / HP_DEFAULT_VALUES, copied here by hand
  const names = ['bs', 'ep', 'wp_ep', 'opt', 'base_lr', 'lr_scale', 'wd', 'mixup', 'rep_aug', 'drop_path', 'ema'] as const;
  const argPy: Record<string, (number | string)[]> = {
    convnext_small: [4096, 400, 20, 'adam', 0.0002, 0.7, 0.01, 0.8, 3, 0.3, 0.9999],
    convnext_base: [4096, 400, 20, 'adam', 0.0001, 0.7, 0.01, 0.8, 3, 0.4, 0.9999],
    convnext_large: [4096, 200, 10, 'adam', 0.0001, 0.7, 0.02, 0.8, 3, 0.5, 0.9999],
    resnet50: [2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999],
    resnet101: [2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999],
    resnet152: [2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999],
    resnet200: [2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999],
  };
  const large384 = [1024, 200, 20, 'adam', 0.00006, 0.7, 0.01, 0.8, 3, 0.5, 0.99995];
  const pick = (d: Record<string, unknown>): unknown[] => names.map((n) => d[n]);
  assert.deepEqual(modelRecords().map((r) => r.name), listModels());
  for (const r of modelRecords()) {
    assert.equal(r.family, r.name.includes('resnet') ? 'resnet' : 'convnext');
    assert.deepEqual([r.pretrain.densifyNorm, r.pretrain.adamBeta2], r.family === 'resnet' ? ['bn', 0.95] : ['ln', 0.999]);
    assert.equal(r.pretrain.dropPathRate, pretrainDefaults(r.name).dropPathRate);
    if (argPy[r.name]) {
      assert.deepEqual(pick(r.finetune as unknown as Record<string, unknown>), argPy[r.name], r.name);
      assert.equal(r.finetune.source, 'arg.py');
    } else {
      assert.match(r.finetune.source, /^sparkts: /, `${r.name}: the table lacks it, so the record says where its defaults come from`);
    }
  }
  assert.deepEqual(pick(finetuneDefaults('convnext_large', 384) as unknown as Record<string, unknown>), large384);
  assert.deepEqual(pick(finetuneDefaults('convnext_large', 224) as unknown as Record<string, unknown>), argPy.convnext_large);
  assert.equal(finetuneDefaults('resnet50', 384), modelRecord('resnet50').finetune);
  assert.throws(() => modelRecord('resnet51'), /^Error: unknown model 'resnet51'; known models: resnet18, /);
  assert.throws(() => modelRecord('toString'), /unknown model 'toString'/);
  // the factory builds the recorded architecture
  const m = modelRecord('resnet34').create({ numClasses: 0, globalPool: '', skipInit: true }) as ResNet;
  try { assert.deepEqual(m.stages.map((s) => s.length), [3, 4, 6, 3]); } finally { disposeModule(m); }
});

test('classification forms: timm ResNet `fc`, official ConvNeXt `norm` + `head`, stochastic depth at drop_path', () => {
  const r = createClassifier('resnet18', { numClasses: 7, dropPathRate: 0.1, skipInit: true }) as ResNet;
  const c = createClassifier('convnext_tiny', { numClasses: 7, dropPathRate: 0.1, skipInit: true }) as ConvNeXt;
  try {
    assert.deepEqual([...r.stateDict().keys()].slice(-2), ['fc.weight', 'fc.bias']);
    assert.deepEqual((r.fc as nn.Linear).weight.shape, [7, 512]);
    assert.ok(Math.abs(r.blocks().at(-1)!.dropPath!.dropProb - 0.1) < 1e-12);
    assert.deepEqual([...c.stateDict().keys()].slice(-4), ['norm.weight', 'norm.bias', 'head.weight', 'head.bias']);
    assert.ok(Math.abs((c.blocks().at(-1)!.dropPath as nn.DropPath).dropProb - 0.1) < 1e-7);
  } finally { disposeModule(r); disposeModule(c); }
  assert.throws(() => createClassifier('resnet18', { numClasses: 0 }), /numClasses must be a positive integer, got 0/);
});

test('layer ids: the reference\'s rule where it applies; resnet18 and other depths get resnet50\'s grouping; other stage counts one id per stage', () => {
  // resnets_get_layer_id_and_scale_exp raises for resnet18's [2, 2, 2, 2]; ours groups as resnet50:
  // stem 0, layer1 1, layer2 2, layer3 3, layer4 4 (= N), fc 5 (= N + 1)
  const r18 = modelRecord('resnet18').layerIdRule;
  assert.deepEqual(['conv1.weight', 'bn1.bias', 'layer1.1.conv2.weight', 'layer2.1.bn1.weight', 'layer3.0.conv1.weight', 'layer4.1.bn2.bias', 'fc.weight'].map(r18),
    [[0, 5], [0, 5], [1, 4], [2, 3], [3, 2], [4, 1], [5, 0]]);
  // resnet50 as the reference (layer2 blocks 0-1 → 2, 2-3 → 3; layer3 blocks 0-2 → 4, 3-5 → 5; layer4 → 6)
  const r50 = resnetLayerIdRule([3, 4, 6, 3]);
  assert.deepEqual(['layer2.1.conv1.weight', 'layer2.2.conv1.weight', 'layer3.2.bn1.weight', 'layer3.3.bn1.weight', 'layer4.0.conv1.weight', 'fc.bias'].map((n) => r50(n)[0]), [2, 3, 4, 5, 6, 7]);
  // ConvNeXt-T (N = 6): stage 2's nine blocks three per id
  const t = convnextLayerIdRule([3, 3, 9, 3]);
  assert.deepEqual(['downsample_layers.0.0.weight', 'stages.0.2.gamma', 'downsample_layers.1.1.weight', 'stages.2.8.pwconv1.weight', 'downsample_layers.3.0.weight', 'head.weight'].map((n) => t(n)[0]), [0, 1, 2, 5, 6, 7]);
  // a stage 2 deeper than 27 blocks: N grows so that its ids stay below the last stage's
  const deep = convnextLayerIdRule([3, 3, 36, 3]);
  assert.ok(deep('stages.2.35.gamma')[0] < deep('stages.3.0.gamma')[0]);
  // three-stage nets: one id per stage
  assert.deepEqual(['conv1.weight', 'layer1.0.conv1.weight', 'layer3.0.conv1.weight', 'fc.weight'].map((n) => resnetLayerIdRule([1, 1, 1])(n)), [[0, 4], [1, 3], [3, 1], [4, 0]]);
});

class WithRule extends nn.Module {
  stem = this.registerModule('stem', new nn.Conv2d(3, 4, 3));
  head = this.registerModule('head', new nn.Linear(4, 2));
  layerIdAndScaleExp(name: string): [number, number] { return name.startsWith('stem') ? [0, 1] : [1, 0]; }
  forward(x: Tensor): Tensor { return x; }
}
class WithoutRule extends nn.Module {
  stem = this.registerModule('stem', new nn.Conv2d(3, 4, 3));
  forward(x: Tensor): Tensor { return x; }
}

test('custom encoders: their own layerIdAndScaleExp is used; without one, no layer decay (the reference\'s hasattr rule)', () => {
  const a = new WithRule(), b = new WithoutRule();
  try {
    assert.ok(hasLayerIds(a) && !hasLayerIds(b));
    const ga = getParamGroupsWithNames(a, { lrScale: 0.5 });
    assert.deepEqual(ga.keys, ['layer0_decay', 'layer0_no_decay', 'layer1_decay', 'layer1_no_decay']);
    assert.deepEqual(ga.groups.map((g) => [g.lr_scale, g.weight_decay_scale]), [[0.5, 1], [0.5, 0], [1, 1], [1, 0]]);
    const gb = getParamGroupsWithNames(b, { lrScale: 0.5 });
    assert.deepEqual(gb.keys, ['decay', 'no_decay']);
    assert.ok(gb.groups.every((g) => g.lr_scale === 1));
    // lr_scale outside (0, 1): no decay either, as the reference
    for (const s of [0, 1, 1.2]) assert.deepEqual(getParamGroupsWithNames(a, { lrScale: s }).keys, ['decay', 'no_decay']);
  } finally { disposeModule(a); disposeModule(b); }
});

test('no tensors leaked', noLeaks);
