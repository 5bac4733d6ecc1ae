// The crop test: sparse execution is submanifold sparse convolution. With a mask whose visible patches
// form one rectangle aligned to the patch grid (the same rectangle in every sample), a layer or an
// encoder run sparsely on the masked input, restricted to that rectangle, equals the same module run
// densely on the cropped rectangle — outputs, state after the step (BN/IN running statistics), and the
// gradients of the parameters and of the input. Training mode, float64 (so that the bound is tight:
// the two runs reduce in different orders, nothing else may differ). Masked positions are exactly 0.
//
// Why it holds: masked positions are 0 in sparse mode and absent in the crop, and every layer treats
// them alike: zero padding at the crop edge = masked zeros next to it (convs, count_include_pad
// pooling, max-pooling of non-negative maps); statistics (BN over the batch, GN/IN per sample, global
// pooling, SE's squeeze) run over visible positions = the crop's positions; normalised interpolation
// renormalises onto visible neighbours as the dense kernel clamps to its edge; random draws that do
// not depend on positions (Dropout2d, drop path) are the same under the same seed. The rectangle is
// aligned to the patch grid, so every stride divides its offset.
//
// Where it cannot hold (the last tests pin each): max pooling of negative values at the crop edge (0
// from a masked neighbour vs −∞ padding; ResNet's max pool follows a ReLU, so it never sees one);
// count_include_pad=false average pooling at the crop edge (masked zeros count, padding does not);
// resolution-dependent layers (adaptive pooling to more than 1×1, interpolation with align_corners or
// to a fixed size: their bins/scales follow the map size, not the rectangle); position-wise random
// draws (element-wise Dropout: other draws, same distribution); bicubic interpolation (no sparse form,
// refused).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { ResNet, ConvNeXt, ConvNeXtLayerNorm, SEModule, SelectAdaptivePool2d, type Encoder, type EncoderForwardOptions, type ForwardContext } from '../../src/models/index.js';
import { SparK, sparseContext, expandMask } from '../../src/spark/index.js';
import { checkNoLeaks } from '../helpers.js';
import { disposeModule, maxAbsDiff, oneThread, randomizeModule } from './support.js';

checkNoLeaks();
oneThread();

/** The visible rectangle in patch units: rows [r0, r1), columns [c0, c1) of an f×f grid. */
interface Rect { r0: number; r1: number; c0: number; c1: number }

function rectMask(batch: number, f: number, r: Rect): Tensor {
  return torch.tidy(() => {
    const rows = torch.arange(0, f).ge(r.r0).logicalAnd(torch.arange(0, f).lt(r.r1)).view([1, 1, f, 1]);
    const cols = torch.arange(0, f).ge(r.c0).logicalAnd(torch.arange(0, f).lt(r.c1)).view([1, 1, 1, f]);
    return rows.logicalAnd(cols).expand([batch, 1, f, f]).contiguous();
  });
}

/** The rectangle of a map whose side is `scale` × the grid's (scale may be fractional, e.g. ¼). */
function cropMap(t: Tensor, r: Rect, f: number): Tensor {
  const sh = t.size(2) / f, sw = t.size(3) / f;
  return t.narrow(2, r.r0 * sh, (r.r1 - r.r0) * sh).narrow(3, r.c0 * sw, (r.c1 - r.c0) * sw);
}

interface Run { outs: Tensor[]; state: Map<string, Tensor>; grads: Map<string, Tensor>; inputGrad: Tensor }

/**
 * One run from the state `start`: forward (same seed for any random draw), then the gradient of
 * Σ ⟨out_i restricted to the rectangle, R_i⟩ (R_i fixed random). `sparse`: the masked full input with
 * a mask context; otherwise the cropped input, dense.
 */
function runOnce(m: nn.Module, start: Map<string, Tensor>, fwd: (x: Tensor, ctx?: ForwardContext) => Tensor[], x: Tensor,
  active: Tensor, rect: Rect, f: number, sparse: boolean, weights: (outs: Tensor[]) => Tensor[]): Run {
  m.loadStateDict(start);
  m.train();
  m.zeroGrad();
  const xin = (sparse ? x.mul(expandMask(active, x.size(2), x.size(3))) : cropMap(x, rect, f)).detach();
  xin.requiresGrad = true;
  torch.manualSeed(1234);
  const outs = fwd(xin, sparse ? sparseContext(active, { root: m }) : undefined);
  const restricted = outs.map((o) => (sparse && o.ndim === 4 && o.size(2) > 1 ? cropMap(o, rect, f) : o));
  const w = weights(restricted);
  restricted.map((o, i) => o.mul(w[i]).sum()).reduce((a, b) => a.add(b)).backward();
  const grads = new Map(m.namedParameters().map(([k, p]) => [k, p.grad ? p.grad.clone() : torch.zeros(p.shape, { dtype: p.dtype })]));
  const state = new Map([...m.stateDict()].map(([k, t]) => [k, t.detach().clone()]));
  const inputGrad = sparse ? cropMap(xin.grad!, rect, f) : xin.grad!;
  return { outs: outs.map((o) => o.detach()), state, grads, inputGrad };
}

/** |a − b| ≤ 1e-9 · max(1, max|b|), the float64 bound (both runs differ by summation order only). */
function assertTight(a: Tensor, b: Tensor, what: string): void {
  assert.deepEqual(a.shape, b.shape, `${what}: shape`);
  const scale = Math.max(1, torch.tidy(() => b.double().abs().maxAll().item()));
  const d = maxAbsDiff(a, b);
  assert.ok(d <= 1e-9 * scale, `${what}: sparse vs dense crop differ by ${d.toExponential(3)} (scale ${scale.toExponential(2)})`);
}

interface CropCase {
  /** the module, float64 */ module: nn.Module;
  /** its forward, returning the maps to compare */ fwd: (x: Tensor, ctx?: ForwardContext) => Tensor[];
  /** input shape (B,C,H,W) */ input: number[];
  /** grid size (patches per side) */ f: number;
  rect: Rect;
  /** a transform of the random input (e.g. ReLU for max pooling) */ prep?: (x: Tensor) => Tensor;
}

/** Run the crop comparison: outputs, state after the step, parameter and input gradients. */
function checkCrop(c: CropCase, name: string): void {
  const m = c.module;
  const start = torch.tidy(() => new Map([...m.stateDict()].map(([k, t]) => [k, torch.keep(t.detach().clone())])));
  try {
    torch.tidy(() => {
      const gen = new torch.Generator(99);
      let x = torch.randn(c.input, { generator: gen, dtype: 'float64' });
      if (c.prep) x = c.prep(x);
      const active = rectMask(c.input[0], c.f, c.rect);
      const wgen = new torch.Generator(7);
      const memo: Tensor[] = [];
      const weights = (outs: Tensor[]): Tensor[] => outs.map((o, i) => (memo[i] ??= torch.randn(o.shape, { generator: wgen, dtype: 'float64' })));
      const sp = runOnce(m, start, c.fwd, x, active, c.rect, c.f, true, weights);
      const de = runOnce(m, start, c.fwd, x, active, c.rect, c.f, false, weights);
      assert.equal(sp.outs.length, de.outs.length);
      sp.outs.forEach((o, i) => {
        if (o.ndim === 4 && o.size(2) > 1) {
          const vis = expandMask(active, o.size(2), o.size(3));
          assert.equal(o.mul(vis.logicalNot()).abs().maxAll().item(), 0, `${name} output ${i}: masked positions must be exactly 0`);
          assertTight(cropMap(o, c.rect, c.f), de.outs[i], `${name} output ${i}`);
        } else {
          assertTight(o, de.outs[i], `${name} output ${i}`);
        }
        assert.ok(de.outs[i].abs().maxAll().item() > 1e-3, `${name} output ${i} is not trivially 0`);
      });
      for (const [k, t] of de.state) if (t.dtype === 'float64') assertTight(sp.state.get(k)!, t, `${name} state ${k}`);
      for (const [k, g] of de.grads) assertTight(sp.grads.get(k)!, g, `${name} gradient of ${k}`);
      assertTight(sp.inputGrad, de.inputGrad, `${name} input gradient`);
      assert.ok(de.inputGrad.abs().maxAll().item() > 1e-6, `${name}: the input gradient is not trivially 0`);
    });
  } finally {
    torch.dispose([...start.values()]);
  }
}

/** A float64 module with every parameter and buffer randomised (no term of the math is 0 by accident). */
function prepared<M extends nn.Module>(m: M, seed = 3): M {
  randomizeModule(m, seed);
  return m.to('float64');
}

const RECT: Rect = { r0: 1, r1: 3, c0: 0, c1: 3 };   // 2×3 patches of a 4×4 grid: touches the left edge only
const C = 8;
const single = (m: nn.Module) => (x: Tensor, ctx?: ForwardContext): Tensor[] => [m.forward(x, ctx) as Tensor];

const LAYERS: [string, () => nn.Module, Partial<CropCase>?][] = [
  ['Conv2d 3×3', () => new nn.Conv2d(C, C, 3, { padding: 1 })],
  ['Conv2d 3×3 stride 2, 2 groups', () => new nn.Conv2d(C, C, 3, { stride: 2, padding: 1, groups: 2 })],
  ['Conv2d 3×3 dilation 2', () => new nn.Conv2d(C, C, 3, { padding: 2, dilation: 2 })],
  ['Conv2d depthwise 5×5', () => new nn.Conv2d(C, C, 5, { padding: 2, groups: C })],
  ['Conv2d depthwise 3×3 dilation 3 stride 2', () => new nn.Conv2d(C, C, 3, { stride: 2, padding: 3, dilation: 3, groups: C, bias: false })],
  ['ConvTranspose2d 2×2 stride 2', () => new nn.ConvTranspose2d(C, C, 2, { stride: 2 })],
  ['BatchNorm2d', () => new nn.BatchNorm2d(C)],
  ['ConvNeXt LayerNorm (channels first)', () => new ConvNeXtLayerNorm(C, { dataFormat: 'channels_first' })],
  ['GroupNorm (4 groups)', () => new nn.GroupNorm(4, C)],
  ['GroupNorm (1 group)', () => new nn.GroupNorm(1, C)],
  ['InstanceNorm2d', () => new nn.InstanceNorm2d(C)],
  ['InstanceNorm2d (affine, running statistics)', () => new nn.InstanceNorm2d(C, { affine: true, trackRunningStats: true })],
  ['AdaptiveAvgPool2d(1)', () => new nn.AdaptiveAvgPool2d(1)],
  ['AdaptiveMaxPool2d(1)', () => new nn.AdaptiveMaxPool2d(1)],
  ["global pool 'avg' (timm SelectAdaptivePool2d)", () => new SelectAdaptivePool2d('avg')],
  ["global pool 'max' (timm SelectAdaptivePool2d)", () => new SelectAdaptivePool2d('max')],
  ['squeeze-excitation (timm SEModule)', () => new SEModule(C, { rdChannels: 4 })],
  ['Upsample nearest ×2', () => new nn.Upsample({ scaleFactor: 2, mode: 'nearest' })],
  ['Upsample bilinear ×2', () => new nn.Upsample({ scaleFactor: 2, mode: 'bilinear' })],
  ['Upsample bilinear ×3 (edge-clamped borders of width > 1)', () => new nn.Upsample({ scaleFactor: 3, mode: 'bilinear' })],
  ['Dropout2d p=0.4', () => new nn.Dropout2d(0.4)],
  // positive (not merely non-negative): a visible 0 tied with a masked 0 would route the input
  // gradient to another position (in ResNet that position's ReLU gradient is 0 either way)
  ['MaxPool2d 3×3 stride 2 of a positive map', () => new nn.MaxPool2d(3, { stride: 2, padding: 1 }), { prep: (x) => x.abs().add(0.1) }],
  ['AvgPool2d 3×3 stride 2 (count_include_pad)', () => new nn.AvgPool2d(3, { stride: 2, padding: 1 })],
  ['Linear on a channels-last map', () => new nn.Linear(C, 5), { input: [3, 16, 16, C] }],
  ['Sequential GN → SiLU → depthwise conv → Sigmoid', () => new nn.Sequential(new nn.GroupNorm(2, C), new nn.SiLU(), new nn.Conv2d(C, C, 3, { padding: 1, groups: C }), new nn.Sigmoid())],
];

for (const [name, make, extra] of LAYERS) {
  test(`crop test, layer: ${name}`, () => {
    const m = prepared(make());
    try {
      if (extra?.input) {
        // channels-last (N,H,W,C) for Linear: permute in and out around the NCHW comparison
        const fwd = (x: Tensor, ctx?: ForwardContext): Tensor[] => [(m.forward(x.permute([0, 2, 3, 1]), ctx) as Tensor).permute([0, 3, 1, 2])];
        checkCrop({ module: m, fwd, input: [3, C, 16, 16], f: 4, rect: RECT }, name);
      } else {
        checkCrop({ module: m, fwd: single(m), input: [3, C, 16, 16], f: 4, rect: RECT, prep: extra?.prep }, name);
      }
    } finally { disposeModule(m); }
  });
}

/** A custom CNN as a user writes one: stride-8 encoder of sparse-aware layers (GN, IN, SE, dilated and depthwise convs, Dropout2d, an upsampling fusion). */
class CustomCNN extends nn.Module<[Tensor, EncoderForwardOptions?], Tensor | Tensor[]> implements Encoder {
  readonly downsampleRatio = 8;
  readonly featureChannels = [16, 16, 24];
  readonly stem: nn.Sequential;
  readonly s1: nn.Sequential;
  readonly s2: nn.Sequential;
  readonly se: SEModule;
  readonly up: nn.Upsample;
  readonly fuse: nn.Conv2d;
  constructor() {
    super();
    this.stem = this.registerModule('stem', new nn.Sequential(new nn.Conv2d(3, 16, 3, { stride: 2, padding: 1 }), new nn.GroupNorm(4, 16), new nn.ReLU()));
    this.s1 = this.registerModule('s1', new nn.Sequential(
      new nn.Conv2d(16, 16, 3, { stride: 2, padding: 2, dilation: 2, groups: 16 }), new nn.InstanceNorm2d(16, { affine: true }), new nn.GELU(), new nn.Dropout2d(0.2)));
    this.s2 = this.registerModule('s2', new nn.Sequential(
      new nn.Conv2d(16, 24, 3, { stride: 2, padding: 1, groups: 2 }), new nn.GroupNorm(3, 24), new nn.ReLU(), new nn.MaxPool2d(3, { stride: 1, padding: 1 })));
    this.se = this.registerModule('se', new SEModule(24, { rdChannels: 8 }));
    this.up = this.registerModule('up', new nn.Upsample({ scaleFactor: 2, mode: 'bilinear' }));
    this.fuse = this.registerModule('fuse', new nn.Conv2d(24, 16, 1));
  }
  override forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  override forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
  override forward(x: Tensor, o: EncoderForwardOptions = {}): Tensor | Tensor[] {
    const a = this.stem.forward(x, o.ctx);
    const b = this.s1.forward(a, o.ctx);
    const c = this.se.forward(this.s2.forward(b, o.ctx), o.ctx);
    // a top-down fusion: the deepest map upsampled into the middle one
    const b2 = b.add(this.fuse.forward(this.up.forward(c, o.ctx), o.ctx));
    return o.hierarchical ? [a, b2, c] : nn.functional.adaptiveAvgPool2d(c, 1, o.ctx).flatten(1);
  }
}

const encoderForward = (m: Encoder) => (x: Tensor, ctx?: ForwardContext): Tensor[] => m.forward(x, { hierarchical: true, ctx });

const ENCODERS: [string, () => Encoder, { input: number[]; f: number; rect: Rect }][] = [
  // ResNet-50's depth ([3, 4, 6, 3] bottlenecks, stochastic depth) at 1/8 of its widths: the full-width
  // float64 run (createModel('resnet50') at 64², top row of a 2×2 grid) passes too but takes ~40 s here
  ['ResNet-50 (timm layout, [3, 4, 6, 3] bottlenecks, 1/8 widths)', () => new ResNet({ block: 'bottleneck', layers: [3, 4, 6, 3], channels: [8, 16, 32, 64], stemWidth: 8, numClasses: 0, globalPool: '', dropPathRate: 0.1 }), { input: [2, 3, 96, 96], f: 3, rect: { r0: 0, r1: 2, c0: 1, c1: 3 } }],
  ['ConvNeXt', () => new ConvNeXt({ depths: [1, 1, 2, 1], dims: [8, 16, 16, 32], numClasses: 0, dropPathRate: 0.2 }), { input: [2, 3, 96, 96], f: 3, rect: { r0: 0, r1: 2, c0: 1, c1: 3 } }],
  ['SE-ResNet (seresnet layout)', () => new ResNet({ block: 'bottleneck', layers: [1, 1, 2, 1], channels: [8, 8, 16, 16], stemWidth: 8, attnLayer: 'se', numClasses: 0, globalPool: '', dropPathRate: 0.1 }), { input: [2, 3, 96, 96], f: 3, rect: { r0: 1, r1: 3, c0: 0, c1: 2 } }],
  ['GN-ResNet (resnet50_gn layout)', () => new ResNet({ block: 'bottleneck', layers: [1, 1, 2, 1], channels: [4, 8, 8, 16], stemWidth: 8, norm: 'gn', gnGroups: 4, numClasses: 0, globalPool: '' }), { input: [2, 3, 96, 96], f: 3, rect: { r0: 1, r1: 2, c0: 1, c1: 3 } }],
  ['SE-ResNet basic blocks', () => new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 8, 16, 16], stemWidth: 8, attnLayer: 'se', numClasses: 0, globalPool: '' }), { input: [2, 3, 96, 96], f: 3, rect: { r0: 0, r1: 3, c0: 1, c1: 2 } }],
  ['custom CNN (GN, IN, SE, dilated/depthwise/grouped convs, Dropout2d, bilinear fusion)', () => new CustomCNN(), { input: [3, 3, 32, 32], f: 4, rect: RECT }],
];

for (const [name, make, geo] of ENCODERS) {
  test(`crop test, encoder: ${name}`, () => {
    const m = prepared(make() as nn.Module) as unknown as Encoder;
    try {
      checkCrop({ module: m, fwd: encoderForward(m), ...geo }, name);
    } finally { disposeModule(m); }
  });
}

// ---- where the crop property cannot hold: each is a real difference at the rectangle's edge --------

/** max |sparse − crop| of a single layer on input x (no gradients). */
function cropGap(m: nn.Module, x: Tensor, f: number, r: Rect): number {
  return torch.tidy(() => torch.noGrad(() => {
    const active = rectMask(x.size(0), f, r);
    const sp = m.forward(x.mul(expandMask(active, x.size(2), x.size(3))), sparseContext(active)) as Tensor;
    const de = m.forward(cropMap(x, r, f)) as Tensor;
    return maxAbsDiff(cropMap(sp, r, f), de);
  }));
}

test('cannot hold: max pooling of negative values at the rectangle edge (masked 0 vs −∞ padding)', () => {
  const m = new nn.MaxPool2d(3, { stride: 2, padding: 1 });
  torch.tidy(() => {
    const x = torch.randn([2, C, 16, 16], { generator: new torch.Generator(5) });
    assert.ok(cropGap(m, x.abs().neg(), 4, RECT) > 0.1, 'an all-negative map differs at the edge');
    assert.equal(cropGap(m, x.relu(), 4, RECT), 0, 'a non-negative map (after ReLU, as in ResNet) does not');
  });
});

test('cannot hold: count_include_pad=false average pooling, align_corners and fixed-size resizes, adaptive pooling beyond 1×1', () => {
  torch.tidy(() => {
    const x = torch.randn([2, C, 16, 16], { generator: new torch.Generator(6) });
    assert.equal(cropGap(new nn.AvgPool2d(3, { stride: 2, padding: 1 }), x, 4, RECT) < 1e-6, true);
    assert.ok(cropGap(new nn.AvgPool2d(3, { stride: 2, padding: 1, countIncludePad: false }), x, 4, RECT) > 1e-2);
    assert.ok(cropGap(new nn.Upsample({ scaleFactor: 2, mode: 'bilinear', alignCorners: true }), x, 4, RECT) > 1e-2);
    // adaptive pooling to 2×2: the bins follow the map, not the rectangle (compare the pooled values)
    const active = rectMask(2, 4, RECT);
    const sp = new nn.AdaptiveAvgPool2d(2).forward(x.mul(expandMask(active, 16, 16)), sparseContext(active));
    const de = new nn.AdaptiveAvgPool2d(2).forward(cropMap(x, RECT, 4));
    assert.ok(maxAbsDiff(sp, de) > 1e-2);
  });
});

test('an all-masked sample: GroupNorm, InstanceNorm, global and adaptive pooling and SE give 0, never NaN', () => {
  const layers: nn.Module[] = [new nn.GroupNorm(2, C), new nn.InstanceNorm2d(C, { trackRunningStats: true }), new nn.AdaptiveAvgPool2d(1),
    new nn.AdaptiveMaxPool2d(1), new nn.AdaptiveAvgPool2d(2), new nn.AdaptiveMaxPool2d(2), new SEModule(C, { rdChannels: 4 }),
    new nn.Upsample({ scaleFactor: 2, mode: 'bilinear' })];
  try {
    torch.tidy(() => {
      const active = torch.cat([rectMask(1, 4, RECT), torch.zeros([1, 1, 4, 4], { dtype: 'bool' })], 0);   // sample 1: nothing visible
      const x = torch.randn([2, C, 16, 16], { generator: new torch.Generator(8) }).mul(expandMask(active, 16, 16));
      for (const m of layers) {
        const y = m.forward(x, sparseContext(active)) as Tensor;
        assert.equal(y.isnan().any().item(), 0, `${m.constructor.name}: NaN`);
        assert.equal(y.narrow(0, 1, 1).abs().maxAll().item(), 0, `${m.constructor.name}: the all-masked sample is 0`);
        assert.ok(y.narrow(0, 0, 1).abs().maxAll().item() > 1e-3, `${m.constructor.name}: the other sample is not`);
      }
      const inorm = layers[1] as nn.InstanceNorm2d;
      assert.equal(inorm.runningVar!.isnan().any().item(), 0);
      // below the patch grid a position is visible when any patch it covers is (global pooling's 1×1)
      assert.deepEqual(expandMask(active, 1, 1).flatten().toArray(), [true, false]);
      assert.deepEqual(expandMask(active, 2, 2).flatten().toArray(), [true, true, true, true, false, false, false, false]);
      assert.throws(() => expandMask(active, 3, 3), /a 3×3 feature map does not line up with the 4×4 mask grid/);
      // so a squeeze-excitation branch built from layers takes the context through its 1×1 maps
      const branch = new nn.Sequential(new nn.AdaptiveAvgPool2d(1), new nn.Conv2d(C, C, 1), new nn.Sigmoid());
      try {
        const g = branch.forward(x, sparseContext(active));
        assert.deepEqual(g.shape, [2, C, 1, 1]);
        assert.equal(g.narrow(0, 1, 1).abs().maxAll().item(), 0, 'the all-masked sample gates to 0');
        assert.ok(g.narrow(0, 0, 1).abs().minAll().item() > 0);
      } finally { disposeModule(branch); }
    });
  } finally { layers.forEach(disposeModule); }
});

// ---- layers without a sparse form: one error naming the layer and its module path -------------------

/** A user's layer that does not declare sparse execution (a spatial op over all positions). */
class CenterByMean extends nn.Module<[Tensor], Tensor> {
  forward(x: Tensor): Tensor { return x.sub(x.mean([2, 3], true)); }
}

class UserEncoder extends nn.Module<[Tensor, EncoderForwardOptions?], Tensor | Tensor[]> implements Encoder {
  readonly downsampleRatio = 8;
  readonly featureChannels = [8];
  readonly body: nn.Sequential;
  constructor(inner: nn.Module) {
    super();
    this.body = this.registerModule('body', new nn.Sequential(new nn.Conv2d(3, 8, 8, { stride: 8 }), new nn.Sequential(new nn.ReLU(), inner)));
  }
  override forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  override forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
  override forward(x: Tensor, o: EncoderForwardOptions = {}): Tensor | Tensor[] {
    const y = this.body.forward(x, o.ctx);
    return o.hierarchical ? [y] : y;
  }
}

test('a layer without a sparse form inside a sparse encoder: one error naming the layer and its module path; dense runs are untouched', () => {
  const cases: [nn.Module, RegExp][] = [
    [new CenterByMean(), /^CenterByMean at 'sparse_encoder\.sp_cnn\.body\.1\.1' has no sparse form: its class does not declare sparse execution \(static sparseAware = true\); use sparse-aware layers/],
    [new nn.Upsample({ scaleFactor: 1, mode: 'bicubic' }), /^Upsample at 'sparse_encoder\.sp_cnn\.body\.1\.1' has no sparse form: mode 'bicubic' reads across the edge of the visible region; use 'nearest' or 'bilinear'/],
  ];
  for (const [inner, re] of cases) {
    const spark = new SparK(new UserEncoder(inner), { inputSize: 32, decoderWidth: 16 });
    try {
      torch.tidy(() => {
        const x = torch.randn([2, 3, 32, 32]);
        assert.throws(() => spark.forward(x), (e: Error) => { assert.ok(!e.message.includes('\n')); assert.match(e.message, re); return true; });
        assert.throws(() => spark.encode(x, spark.mask(2)), (e: Error) => re.test(e.message));
        // the encoder alone with a context built without a root: the path is relative to nothing
        const enc = spark.sparse_encoder.sp_cnn;
        assert.throws(() => enc.forward(x, { hierarchical: true, ctx: sparseContext(spark.mask(2)) }), /at an unknown module path \(build the context with sparseContext\(active, \{ root: model \}\)/);
        assert.throws(() => enc.forward(x, { hierarchical: true, ctx: sparseContext(spark.mask(2), { root: enc }) }), /at 'body\.1\.1' has no sparse form/);
        // dense (fine-tuning) use is unaffected
        assert.deepEqual((enc.forward(x, { hierarchical: true }) as Tensor[])[0].shape, [2, 8, 4, 4]);
      });
    } finally { disposeModule(spark); }
  }
});

test('SparK#encode: the sparse maps shallow to deep, exactly what the decoder densifies', () => {
  torch.manualSeed(3);
  const enc = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 8, 16, 16], stemWidth: 8, attnLayer: 'se', numClasses: 0, globalPool: '' });
  const spark = new SparK(enc, { inputSize: 64, decoderWidth: 32 });
  randomizeModule(spark, 4);
  try {
    spark.eval();
    torch.tidy(() => torch.noGrad(() => {
      const x = torch.randn([2, 3, 64, 64]);
      const active = spark.mask(2, { generator: new torch.Generator(1) });
      const maps = spark.encode(x, active);
      assert.deepEqual(maps.map((t) => t.shape), [[2, 8, 16, 16], [2, 8, 8, 8], [2, 16, 4, 4], [2, 16, 2, 2]]);
      const direct = enc.forward(x.mul(expandMask(active, 64, 64)), { hierarchical: true, ctx: sparseContext(active) });
      maps.forEach((t, i) => {
        assert.equal(maxAbsDiff(t, direct[i]), 0, `map ${i}`);
        assert.equal(t.mul(expandMask(active, t.size(2), t.size(3)).logicalNot()).abs().maxAll().item(), 0, `map ${i}: masked positions`);
      });
      // a 0/1 mask works as a bool one; a wrong shape is refused in one line
      assert.equal(maxAbsDiff(spark.encode(x, active.float())[3], maps[3]), 0);
      assert.throws(() => spark.encode(x, torch.ones([2, 1, 3, 3])), /^Error: mask must have shape \[2,1,2,2\]/);
    }));
  } finally { disposeModule(spark); }
});
