// Sparse execution (the reference's encoder.py): with the mask in a sparseContext, every conv/pool output
// is masked and norms see visible positions only, so masked positions are exactly 0 in every feature
// map and nothing from inside a masked patch reaches a visible position — in train mode (batch
// statistics over visible positions, running statistics updated from them) and in eval mode.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { ResNet, ConvNeXt, type Encoder } from '../../src/models/index.js';
import { SparK, sparseContext, expandMask, randomMask, patchify, normalizedTarget } from '../../src/spark/index.js';
import { checkNoLeaks } from '../helpers.js';
import { disposeModule, maxAbsDiff, oneThread, randomizeModule } from './support.js';

checkNoLeaks();
oneThread();

const S = 96, B = 3;   // f = 3: every sample has visible patches beside masked ones

const ENCODERS: [string, () => Encoder][] = [
  ['ResNet basic', () => new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 16, 16, 32], stemWidth: 8, numClasses: 0, globalPool: '' })],
  ['ResNet bottleneck', () => new ResNet({ block: 'bottleneck', layers: [1, 1, 2, 1], channels: [4, 8, 8, 16], stemWidth: 8, numClasses: 0, globalPool: '' })],
  ['ConvNeXt', () => new ConvNeXt({ depths: [1, 1, 2, 1], dims: [8, 16, 16, 32], numClasses: 0, globalPool: '' })],
];

/** Masked pixels at least `margin` pixels (Chebyshev) away from every visible pixel, as float 0/1. */
function deepMasked(activeHW: Tensor, margin: number): Tensor {
  return torch.tidy(() => {
    if (margin === 0) return activeHW.logicalNot().float();
    const near = nn.functional.maxPool2d(activeHW.float(), 2 * margin + 1, { stride: 1, padding: margin });
    return near.eq(0).float();
  });
}

function snapshot(m: nn.Module): Map<string, Tensor> {
  return torch.tidy(() => new Map([...m.stateDict()].map(([k, t]) => [k, torch.keep(t.clone())])));
}

/** Feature maps (and the state after, for the running statistics) of one forward from the state `start`. */
function run(enc: Encoder, start: Map<string, Tensor>, x: Tensor, active: Tensor | null, train: boolean): { feats: Tensor[]; after: Map<string, Tensor> } {
  enc.loadStateDict(start);
  if (train) enc.train(); else enc.eval();
  const feats = torch.noGrad(() => enc.forward(x, { hierarchical: true, ctx: active ? sparseContext(active) : undefined }));
  return { feats, after: new Map([...enc.stateDict()].map(([k, t]) => [k, t.clone()])) };
}

for (const [name, make] of ENCODERS) {
  for (const train of [true, false]) {
    test(`${name}, ${train ? 'train' : 'eval'} mode: masked positions are 0 in every map; masked pixels never reach visible positions`, () => {
      const enc = make();
      randomizeModule(enc, 5);
      const start = snapshot(enc);
      try {
        torch.tidy(() => {
          const gen = new torch.Generator(21);
          const active = randomMask(B, S / 32, 0.6, { generator: gen });
          const activeHW = expandMask(active, S, S);
          const x = torch.randn([B, 3, S, S], { generator: gen });
          const noise = torch.randn([B, 3, S, S], { generator: gen }).mul(3);

          // 1) as SparK runs it: the input is masked first, so any change inside masked patches is gone
          //    before the encoder; what the test pins is that the encoder adds nothing at masked positions
          const xm = x.mul(activeHW);
          const a = run(enc, start, xm, active, train);
          a.feats.forEach((f, i) => {
            assert.deepEqual(f.shape, [B, enc.featureChannels[i], S / 2 ** (i + 2), S / 2 ** (i + 2)]);
            const vis = expandMask(active, f.size(2), f.size(3));
            assert.equal(f.mul(vis.logicalNot()).abs().maxAll().item(), 0, `map ${i}: masked positions must be exactly 0`);
            assert.ok(f.mul(vis).abs().maxAll().item() > 1e-3, `map ${i}: visible positions carry values`);
          });
          const b = run(enc, start, x.add(noise.mul(activeHW.logicalNot())).mul(activeHW), active, train);
          a.feats.forEach((f, i) => assert.equal(maxAbsDiff(f, b.feats[i]), 0, `map ${i}`));

          // 2) stronger: the input is NOT masked first, and the pixels inside masked patches change.
          //    Only the stem reads across a patch border (ResNet: a 7×7/2 conv reaches 3 pixels out;
          //    ConvNeXt's 4×4/4 patchify stem reads inside its patch); after it every layer re-masks,
          //    so a masked pixel beyond that halo cannot move any visible value, nor (train mode) the
          //    batch statistics and hence the running statistics.
          const margin = enc instanceof ResNet ? 4 : 0;
          const moved = x.add(noise.mul(deepMasked(activeHW, margin)));
          const c = run(enc, start, x, active, train), d = run(enc, start, moved, active, train);
          c.feats.forEach((f, i) => assert.equal(maxAbsDiff(f, d.feats[i]), 0, `map ${i} (unmasked input)`));
          for (const [k, t] of c.after) assert.equal(maxAbsDiff(t, d.after.get(k)!), 0, `state ${k}`);
          if (train && enc instanceof ResNet) assert.ok([...c.after].some(([k, t]) => k.endsWith('running_mean') && maxAbsDiff(t, start.get(k)!) > 0), 'running statistics were updated');

          // the same pair run densely (no context) differs at visible positions: the masking is what isolates them
          const e = run(enc, start, x, null, train), g = run(enc, start, moved, null, train);
          const visDiff = e.feats.map((f, i) => maxAbsDiff(f.mul(expandMask(active, f.size(2), f.size(3))), g.feats[i].mul(expandMask(active, f.size(2), f.size(3)))));
          assert.ok(visDiff.every((v) => v > 1e-4), `dense execution leaks masked pixels into visible positions: ${visDiff}`);
        });
      } finally {
        disposeModule(enc);
        torch.dispose([...start.values()]);
      }
    });
  }
}

test('SparK: the reconstruction depends on visible pixels only; the loss target on masked ones (per-patch normalised)', () => {
  const enc = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 16, 16, 32], stemWidth: 8, numClasses: 0, globalPool: '' });
  const m = new SparK(enc, { inputSize: S, decoderWidth: 32 });
  // random weights everywhere: non-trivial BN statistics (eval mode), and a reconstruction far from 0
  // (the reference's init gives rec ≈ 0, where the loss ≈ mean(target²) ≈ 1 whatever the content)
  randomizeModule(m, 9);
  torch.noGrad(() => m.dense_decoder.proj.weight.mul_(10));
  const start = snapshot(m);
  try {
    torch.tidy(() => {
      const gen = new torch.Generator(4);
      const active = randomMask(B, S / 32, 0.6, { generator: gen });
      const visHW = expandMask(active, S, S), maskedHW = visHW.logicalNot();
      const x = torch.randn([B, 3, S, S], { generator: gen });
      // x2: other values everywhere inside masked patches (borders included)
      const x2 = torch.where(maskedHW, torch.randn([B, 3, S, S], { generator: gen }).mul(2).add(1), x);
      // x3: each masked patch through its own positive affine map a·x + b
      const a = expandMask(torch.rand([B, 1, S / 32, S / 32], { generator: gen }).mul(1.5).add(0.5), S, S);
      const bShift = expandMask(torch.randn([B, 1, S / 32, S / 32], { generator: gen }), S, S);
      const x3 = torch.where(maskedHW, x.mul(a).add(bShift), x);

      const lossOf = (inp: Tensor): number => { m.loadStateDict(start); m.train(); return torch.noGrad(() => m.forward(inp, { active }).item()); };
      const l1 = lossOf(x), l2 = lossOf(x2), l3 = lossOf(x3);
      // SparK masks the input before encoding, so the reconstruction is the same for x, x2, x3; the
      // target is each patch normalised by its own mean and std, so it changes for x2 but not for x3
      // (up to the 1e-6 inside the std)
      // (a random target is uncorrelated with the reconstruction, so the loss moves by ~0.2% only; float
      // noise is ~1e-7)
      assert.ok(Math.abs(l1 - l2) > 1e-4 * l1, `the loss must see the masked patches' content: ${l1} vs ${l2}`);
      assert.ok(Math.abs(l1 - l3) <= 1e-5 * l1, `a per-patch affine change of masked patches leaves the normalised target: ${l1} vs ${l3}`);
      // changing visible pixels changes the loss (the reconstruction)
      const l4 = lossOf(torch.where(visHW, x.mul(-1), x));
      assert.ok(Math.abs(l1 - l4) > 1e-3 * l1);

      const vis = (inp: Tensor) => { m.loadStateDict(start); m.eval(); return torch.noGrad(() => m.visualize(inp, active)); };
      const v1 = vis(x), v2 = vis(x2), v3 = vis(x3);
      // visible pixels come from the input: identical, and the masked view is identical
      assert.equal(maxAbsDiff(v1.masked, v2.masked), 0);
      assert.equal(maxAbsDiff(v1.recOrInp.mul(visHW), v2.recOrInp.mul(visHW)), 0);
      assert.equal(maxAbsDiff(v1.recOrInp.mul(visHW), x.mul(visHW)), 0);
      // the normalised reconstruction (the decoder output) is identical; de-normalised, masked patches take
      // their own input's mean/std, so for x3 they are the affine image of x's
      const p = 32;
      const normRec = (v: typeof v1): Tensor => {
        const { mean, std } = normalizedTarget(patchify(v.input, p));
        return patchify(v.reconstruction, p).sub(mean).div(std);
      };
      const r1 = normRec(v1);
      assert.ok(r1.abs().maxAll().item() > 0.1, 'a non-trivial reconstruction');
      assert.ok(maxAbsDiff(r1, normRec(v2)) < 1e-5, `decoder output differs: ${maxAbsDiff(r1, normRec(v2))}`);
      assert.ok(maxAbsDiff(r1, normRec(v3)) < 1e-5);
      assert.ok(maxAbsDiff(v1.recOrInp.mul(maskedHW), v2.recOrInp.mul(maskedHW)) > 1e-2, 'masked patches are de-normalised with their own statistics');
      const expected3 = torch.where(maskedHW, v1.recOrInp.mul(a).add(bShift), x3);
      assert.ok(maxAbsDiff(v3.recOrInp, expected3) < 1e-5, `rec_or_inp of x3: ${maxAbsDiff(v3.recOrInp, expected3)}`);
    });
  } finally {
    disposeModule(m);
    torch.dispose([...start.values()]);
  }
});
