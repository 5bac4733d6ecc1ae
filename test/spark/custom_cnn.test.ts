// The encoder contract (src/models/contract.ts) with a CNN that is neither a ResNet nor a ConvNeXt: three
// stride-2 conv+BN stages (downsampleRatio 8, featureChannels [16, 32, 48]). SparK pretrains it as it
// is — sparse execution through the ctx it passes to its layers, a 3-block decoder for ratio 8 — and a
// model that breaks the contract is refused with one line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import type { Encoder, EncoderForwardOptions, ForwardContext } from '../../src/models/index.js';
import { SparK, randomMask, expandMask, sparseContext } from '../../src/spark/index.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { disposeModule, oneThread } from './support.js';

checkNoLeaks();
oneThread();

const { Module, Sequential, Conv2d, BatchNorm2d, ReLU } = nn;

/** conv3×3/2 → BN → ReLU, three times: maps at 1/2, 1/4, 1/8 of the input. */
class TinyCNN extends Module<[Tensor, EncoderForwardOptions?], Tensor | Tensor[]> implements Encoder {
  readonly downsampleRatio: number;
  readonly featureChannels: number[];
  readonly stages: InstanceType<typeof Sequential>[];
  /** `declared`: what the model claims, to test claims that disagree with what it computes. */
  constructor(declared: { downsampleRatio?: number; featureChannels?: number[] } = {}) {
    super();
    const widths = [16, 32, 48];
    this.downsampleRatio = declared.downsampleRatio ?? 8;
    this.featureChannels = declared.featureChannels ?? widths;
    let cin = 3;
    this.stages = widths.map((c, i) => {
      const s = this.registerModule(`stage${i}`, new Sequential(new Conv2d(cin, c, 3, { stride: 2, padding: 1, bias: false }), new BatchNorm2d(c), new ReLU()));
      cin = c;
      return s;
    });
  }
  override forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  override forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
  override forward(x: Tensor, opts: EncoderForwardOptions = {}): Tensor | Tensor[] {
    const maps: Tensor[] = [];
    for (const s of this.stages) { x = s.forward(x, opts.ctx); maps.push(x); }
    return opts.hierarchical ? maps : x.mean([2, 3]);
  }
}

const S = 32, B = 8;

/** A fixed batch of smooth images (a few low-frequency waves per channel): masked patches are predictable from their neighbours. */
function smoothImages(gen: torch.Generator): Tensor {
  return torch.tidy(() => {
    const coords = torch.arange(0, S).div(S).mul(2 * Math.PI);
    const yy = coords.view([1, 1, S, 1]), xx = coords.view([1, 1, 1, S]);
    let img = torch.zeros([B, 3, S, S]);
    for (let k = 0; k < 3; k++) {
      const fy = torch.randint(0, 3, [B, 3, 1, 1], { generator: gen }).float();
      const fx = torch.randint(0, 3, [B, 3, 1, 1], { generator: gen }).float();
      const phase = torch.rand([B, 3, 1, 1], { generator: gen }).mul(2 * Math.PI);
      const amp = torch.randn([B, 3, 1, 1], { generator: gen });
      img = img.add(yy.mul(fy).add(xx.mul(fx)).add(phase).sin().mul(amp));
    }
    return img;
  });
}

test('SparK builds over a custom CNN: decoder blocks for ratio 8, densify per map, 1×1 projection at the smallest scale', () => {
  const m = new SparK(new TinyCNN(), { inputSize: S, decoderWidth: 64 });
  try {
    assert.deepEqual([m.downsampleRatio, m.fmapSize, m.lenKeep, m.hierarchy], [8, 4, 6, 3]);   // round(16·0.4) = 6
    assert.equal(m.dense_decoder.dec.children().length, 3, 'log2(8) = 3 upsampling blocks');
    assert.deepEqual(m.dense_decoder.channels, [64, 32, 16, 8]);
    assert.deepEqual(m.mask_tokens.parameters().map((t) => t.shape), [[1, 48, 1, 1], [1, 32, 1, 1], [1, 16, 1, 1]]);
    assert.deepEqual((m.densify_projs.children() as nn.Conv2d[]).map((p) => p.weight.shape), [[64, 48, 1, 1], [32, 32, 3, 3], [16, 16, 3, 3]]);
    assert.ok([...m.stateDict().keys()].includes('sparse_encoder.sp_cnn.stage2.1.running_var'));
  } finally { disposeModule(m); }
});

test('sparse execution of the custom CNN: masked positions are exactly 0 in each of its maps, in train and eval mode', () => {
  const enc = new TinyCNN();
  try {
    torch.tidy(() => {
      const gen = new torch.Generator(2);
      // random BN statistics and shifts, so that a missed mask would show as a non-zero value
      torch.noGrad(() => { for (const [k, t] of [...enc.namedParameters(), ...enc.namedBuffers()]) if (t.dtype === 'float32' && t.ndim === 1) t.copy_(torch.rand(t.shape, { generator: gen }).add(k.endsWith('bias') ? 0.5 : 0.5)); });
      const active = randomMask(B, S / 8, 0.6, { generator: gen });
      const x = torch.randn([B, 3, S, S], { generator: gen }).mul(expandMask(active, S, S));
      for (const train of [true, false]) {
        if (train) enc.train(); else enc.eval();
        const maps = torch.noGrad(() => enc.forward(x, { hierarchical: true, ctx: sparseContext(active) }));
        assert.deepEqual(maps.map((f) => f.shape), [[B, 16, 16, 16], [B, 32, 8, 8], [B, 48, 4, 4]]);
        maps.forEach((f, i) => {
          const vis = expandMask(active, f.size(2), f.size(3));
          assert.equal(f.mul(vis.logicalNot()).abs().maxAll().item(), 0, `${train ? 'train' : 'eval'} map ${i}: masked positions`);
          assert.ok(f.mul(vis).abs().maxAll().item() > 0.1, `map ${i}: visible positions carry values`);
        });
        // the dense forward of the same input has non-zero values at masked positions (the BN shift)
        const dense = torch.noGrad(() => enc.forward(x, { hierarchical: true }));
        assert.ok(dense[2].mul(expandMask(active, 4, 4).logicalNot()).abs().maxAll().item() > 0.1);
      }
    });
  } finally { disposeModule(enc); }
});

test('pretraining the custom CNN with SparK and LAMB lowers the reconstruction loss within 20 steps', () => {
  torch.manualSeed(0);
  const m = new SparK(new TinyCNN(), { inputSize: S, decoderWidth: 64 });
  const opt = new torch.optim.LAMB(getParamGroups(m), { lr: 5e-2, weight_decay: 0, betas: [0.9, 0.95], max_grad_norm: 5 });
  for (const g of opt.paramGroups) g.weight_decay = 0.04 * (g.weight_decay_scale as number);
  const gen = new torch.Generator(7);
  const images = smoothImages(gen);
  const losses: number[] = [];
  const before = torch.tidy(() => m.sparse_encoder.sp_cnn.stateDict().get('stage0.0.weight')!.clone());
  try {
    m.train();
    for (let it = 0; it < 20; it++) {
      torch.tidy(() => {
        const loss = m.forward(images, { generator: gen });   // a new random mask every step
        opt.zeroGrad();
        loss.backward();
        opt.step();
        losses.push(loss.item());
      });
    }
    assert.ok(losses.every(Number.isFinite), `losses: ${losses}`);
    const mean = (a: number[]) => a.reduce((s, v) => s + v, 0) / a.length;
    const first = mean(losses.slice(0, 5)), last = mean(losses.slice(-5));
    // (from ≈1, predicting nothing, to ≈0.7 here; 0.85 leaves room for other CPUs' rounding)
    assert.ok(last < 0.85 * first, `the loss must fall clearly: first 5 mean ${first.toFixed(4)}, last 5 mean ${last.toFixed(4)} (${losses.map((l) => l.toFixed(3)).join(' ')})`);
    // the encoder itself learned (gradients reach it through the sparse path)
    torch.tidy(() => assert.ok(m.sparse_encoder.sp_cnn.stateDict().get('stage0.0.weight')!.sub(before).abs().maxAll().item() > 1e-4));
  } finally {
    before.dispose();
    images.dispose();
    opt.dispose();
    disposeModule(m);
  }
});

test('a model that breaks the encoder contract is refused with one line naming what is missing', () => {
  class NoRatio extends Module<[Tensor], Tensor> {
    readonly featureChannels = [8];
    forward(x: Tensor): Tensor { return x; }
  }
  class BadChannels extends Module<[Tensor], Tensor> {
    readonly downsampleRatio = 8;
    readonly featureChannels = [];
    forward(x: Tensor): Tensor { return x; }
  }
  const cases: [unknown, RegExp][] = [
    [new NoRatio(), /^model \(NoRatio\) is not a SparK encoder: downsampleRatio must be a positive integer \(the mask patch size\), got undefined; implement the Encoder contract of src\/models\/contract\.ts$/],
    [new BadChannels(), /^model \(BadChannels\) is not a SparK encoder: featureChannels must be a non-empty array of positive integers .*got \[\]; implement the Encoder contract/],
    [{ downsampleRatio: 32, featureChannels: [8], forward: () => null }, /is not a SparK encoder: it is not an nn\.Module; implement/],
  ];
  for (const [model, re] of cases) {
    assert.throws(() => new SparK(model as Encoder, { inputSize: 32 }), (e: Error) => {
      assert.ok(!e.message.includes('\n'), e.message);
      assert.match(e.message, re);
      return true;
    });
  }
});

test('an encoder whose maps disagree with its declaration fails at the first forward with one line', () => {
  const lies: [ConstructorParameters<typeof TinyCNN>[0], RegExp][] = [
    [{ featureChannels: [8, 16, 32, 48] }, /^TinyCNN returned 3 feature maps but declares featureChannels \[8,16,32,48\]; make them agree$/],
    [{ featureChannels: [16, 32, 64] }, /^TinyCNN feature map 2 has shape \[2,48,4,4\] but featureChannels\[2\] = 64/],
    [{ downsampleRatio: 16 }, /^TinyCNN feature map 0 is 16×16 but SparK needs 8×8 \(input\/4\): the maps must be at strides downsampleRatio \(16\), \/2, \/4 … from the deepest$/],
  ];
  for (const [lie, re] of lies) {
    const m = new SparK(new TinyCNN(lie), { inputSize: S, decoderWidth: 64 });
    try {
      torch.tidy(() => {
        assert.throws(() => m.forward(torch.randn([2, 3, S, S])), (e: Error) => {
          assert.ok(!e.message.includes('\n'), e.message);
          assert.match(e.message, re);
          return true;
        });
      });
    } finally { disposeModule(m); }
  }
});
