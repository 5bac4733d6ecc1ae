// The fine-tuning recipe's pieces against the reference's formulas (downstream_imagenet mixup.py,
// lr_decay.py, util.py; timm 0.5.4 losses, optimizers and ModelEmaV2), written out independently here;
// the golden fixtures (golden_ft.test.ts) pin the same code to the reference's own numbers.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn, type Tensor } from '../../src/torch/index.js';
import { AdamW, LAMB } from '../../src/torch/optim/index.js';
import { ResNet } from '../../src/models/index.js';
import { Rng } from '../../src/data/rng.js';
import {
  BatchMixup, mixupTarget, betaSample, binaryCrossEntropy, softTargetCrossEntropy, criterionFor, ModelEmaV2,
  createFinetuneRecipe, finetuneStep, drawDecision, evaluateBatch,
} from '../../src/train/finetune/index.js';
import { finetuneLrWdAnnealing } from '../../src/train/schedule.js';
import { checkNoLeaks, flat } from '../helpers.js';

checkNoLeaks();

const close = (a: number[], b: number[], tol: number, what: string): void => {
  assert.equal(a.length, b.length, what);
  a.forEach((v, i) => assert.ok(Math.abs(v - b[i]) <= tol, `${what}[${i}]: ${v} vs ${b[i]}`));
};

test('mixupTarget: smoothed one-hot (off = s/K, on = 1 − s + s/K) of y·λ + of flip(y)·(1−λ), float32', () => {
  torch.tidy(() => {
    const y = torch.tensor([2, 0, 3], { dtype: 'int64' });
    const t = mixupTarget(y, 4, 0.3, 0.1);
    assert.equal(t.dtype, 'float32');
    const off = 0.025, on = 0.925;
    const oh = (c: number): number[] => [0, 1, 2, 3].map((k) => (k === c ? on : off));
    const want = [[2, 3], [0, 0], [3, 2]].flatMap(([a, b]) => oh(a).map((v, k) => Math.fround(Math.fround(v) * Math.fround(0.3)) + Math.fround(Math.fround(oh(b)[k]) * Math.fround(0.7))));
    close(flat(t), want, 1e-7, 'target');
    // λ = 1: the plain smoothed one-hot (what mixup 0 trains on)
    close(flat(mixupTarget(y, 4, 1, 0.1)), [2, 0, 3].flatMap(oh).map(Math.fround), 0, 'λ = 1');
  });
});

test('BatchMixup.apply: odd batch gets its first sample prepended (also unmixed); mixup and cutmix as mixup.py', () => {
  const mix = new BatchMixup({ mixupAlpha: 0.8, cutmixAlpha: 1, numClasses: 3 });
  torch.tidy(() => {
    const x = torch.arange(0, 3 * 2 * 4 * 4, 1, { dtype: 'float32' }).view([3, 2, 4, 4]);
    const y = torch.tensor([1, 2, 0], { dtype: 'int64' });
    const none = mix.apply(x, y, { lamDrawn: 1, useCutmix: false });
    assert.deepEqual(none.input.shape, [4, 2, 4, 4]);
    assert.deepEqual(flat(none.rawTarget), [1, 1, 2, 0]);
    assert.deepEqual(flat(none.input.narrow(0, 0, 1)), flat(x.narrow(0, 0, 1)));
    assert.deepEqual(flat(none.input.narrow(0, 1, 3)), flat(x));
    assert.equal(none.lam, 1);

    // mixup: x·λ + flip(x)·(1−λ), in float32
    const xs = torch.cat([x.narrow(0, 0, 1), x], 0);
    const m = mix.apply(x, y, { lamDrawn: 0.3, useCutmix: false });
    const a = flat(xs), b = flat(xs.flip([0]));
    close(flat(m.input), a.map((v, i) => Math.fround(Math.fround(v * Math.fround(0.3)) + Math.fround(b[i] * Math.fround(0.7)))), 0, 'mixup');
    assert.equal(m.lam, 0.3);

    // cutmix: rows 1..2, cols 0..2 of flip(x) pasted; λ = 1 − area/(H·W) = 1 − 6/16
    const c = mix.apply(x, y, { lamDrawn: 0.5, useCutmix: true, bbox: [1, 3, 0, 3] });
    assert.equal(c.lam, 1 - 6 / 16);
    const got = flat(c.input);
    for (let n = 0; n < 4; n++) for (let ch = 0; ch < 2; ch++) for (let i = 0; i < 4; i++) for (let j = 0; j < 4; j++) {
      const k = ((n * 2 + ch) * 4 + i) * 4 + j;
      const inBox = i >= 1 && i < 3 && j >= 0 && j < 3;
      assert.equal(got[k], inBox ? b[k] : a[k], `(${n},${ch},${i},${j})`);
    }
    close(flat(c.target), flat(mixupTarget(c.rawTarget, 3, 1 - 6 / 16, 0.1)), 0, 'cutmix targets use the corrected λ');
    // the input is not modified
    assert.deepEqual(flat(x), flat(torch.arange(0, 96, 1, { dtype: 'float32' })));
  });
  torch.tidy(() => assert.throws(() => mix.apply(torch.zeros([2, 3, 4, 4]), torch.zeros([2], { dtype: 'int64' }), { lamDrawn: 0.5, useCutmix: true, bbox: [0, 5, 0, 1] }),
    /box \[0,5,0,1\] is outside the 4×4 image/));
});

test('BatchMixup.decide: mixup/cutmix switch 0.5, Beta(α, α) λ, boxes inside the image; disabled → λ 1', () => {
  const mix = new BatchMixup({ mixupAlpha: 0.8, cutmixAlpha: 1, numClasses: 10 });
  const rng = new Rng(7);
  const n = 4000;
  let cut = 0;
  const lamsMix: number[] = [], lamsCut: number[] = [];
  for (let i = 0; i < n; i++) {
    const d = mix.decide(32, 48, rng);
    if (d.useCutmix) {
      cut++; lamsCut.push(d.lamDrawn);
      const [yl, yh, xl, xh] = d.bbox!;
      assert.ok(0 <= yl && yl <= yh && yh <= 32 && 0 <= xl && xl <= xh && xh <= 48);
      // the box side is ⌊h·√(1−λ)⌋ before clipping: never larger
      assert.ok(yh - yl <= Math.trunc(32 * Math.sqrt(1 - d.lamDrawn)) && xh - xl <= Math.trunc(48 * Math.sqrt(1 - d.lamDrawn)));
    } else lamsMix.push(d.lamDrawn);
  }
  assert.ok(Math.abs(cut / n - 0.5) < 0.03, `cutmix share ${cut / n}`);
  const stats = (v: number[]): [number, number] => { const m = v.reduce((a, b) => a + b, 0) / v.length; return [m, v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length]; };
  // Beta(α, α): mean 1/2, variance 1/(4(2α+1))
  const [mm, vm] = stats(lamsMix), [mc, vc] = stats(lamsCut);
  assert.ok(Math.abs(mm - 0.5) < 0.02 && Math.abs(vm / (1 / (4 * 2.6)) - 1) < 0.1, `mixup λ mean ${mm} var ${vm}`);
  assert.ok(Math.abs(mc - 0.5) < 0.02 && Math.abs(vc / (1 / 12) - 1) < 0.1, `cutmix λ mean ${mc} var ${vc}`);
  const small = Array.from({ length: 4000 }, () => betaSample(0.1, 0.1, rng));
  assert.ok(small.every((v) => v >= 0 && v <= 1));
  const [ms, vs] = stats(small);
  assert.ok(Math.abs(ms - 0.5) < 0.03 && Math.abs(vs / (1 / (4 * 1.2)) - 1) < 0.1, `Beta(.1,.1) mean ${ms} var ${vs}`);
  const off = new BatchMixup({ mixupAlpha: 0, cutmixAlpha: 1, numClasses: 10, enabled: false });
  assert.deepEqual(off.decide(32, 32, rng), { lamDrawn: 1, useCutmix: false });
  assert.throws(() => new BatchMixup({ mixupAlpha: 0, cutmixAlpha: 0, numClasses: 10 }), /one of mixupAlpha > 0 or cutmixAlpha > 0/);
});

test('criteria: timm BinaryCrossEntropy and SoftTargetCrossEntropy on soft targets, with their gradients', () => {
  torch.tidy(() => {
    const x = torch.tensor([[0.5, -2, 3], [1.5, 0, -0.25]], { dtype: 'float64' }).requiresGrad_(true);
    const t = torch.tensor([[0.1, 0.2, 0.7], [0.9, 0.05, 0.05]], { dtype: 'float64' });
    const xs = flat(x), ts = flat(t);
    const bce = xs.reduce((s, v, i) => s + Math.max(v, 0) - v * ts[i] + Math.log1p(Math.exp(-Math.abs(v))), 0) / 6;
    const l1 = binaryCrossEntropy(x, t);
    close([l1.item()], [bce], 1e-15, 'bce');
    l1.backward();
    close(flat(x.grad!), xs.map((v, i) => (1 / (1 + Math.exp(-v)) - ts[i]) / 6), 1e-15, 'bce grad');
    x.grad = null;
    const lse = (r: number[]): number => Math.log(r.reduce((s, v) => s + Math.exp(v), 0));
    const rows = [xs.slice(0, 3), xs.slice(3)], trow = [ts.slice(0, 3), ts.slice(3)];
    const ce = rows.reduce((s, r, i) => s + r.reduce((a, v, k) => a - trow[i][k] * (v - lse(r)), 0), 0) / 2;
    const l2 = softTargetCrossEntropy(x, t);
    close([l2.item()], [ce], 1e-15, 'soft ce');
    assert.equal(criterionFor('lamb'), binaryCrossEntropy);
    assert.equal(criterionFor('adam'), softTargetCrossEntropy);
    assert.equal(criterionFor('adamw'), softTargetCrossEntropy);
    assert.throws(() => binaryCrossEntropy(x, t.narrow(1, 0, 2)), /logits \[2,3\] and soft targets \[2,2\] must both be \(N, classes\)/);
  });
});

class Pair extends nn.Module {
  w = this.registerParameter('w', torch.tensor([1, 2], { dtype: 'float32' }));
  bn = this.registerModule('bn', new nn.BatchNorm2d(1));
  forward(x: Tensor): Tensor { return x; }
}

test('ModelEmaV2: every state entry in order, ema = d·ema + (1−d)·model; int64 buffers truncated as copy_ does', () => {
  const model = new Pair(), emaModule = new Pair();
  try {
    torch.tidy(() => torch.noGrad(() => {
      model.w.copy_(torch.tensor([10, 20]));
      model.bn.getBuffer('num_batches_tracked')!.fill_(13);
    }));
    const ema = new ModelEmaV2(emaModule, 0.9, model);   // starts as a copy of the model, in eval mode
    assert.equal(emaModule.training, false);
    torch.tidy(() => torch.noGrad(() => { model.w.copy_(torch.tensor([20, 0])); model.bn.getBuffer('num_batches_tracked')!.fill_(17); }));
    ema.update(model);
    const f = Math.fround;
    close(flat(emaModule.w), [f(f(10 * f(0.9)) + f(20 * f(0.1))), f(f(20 * f(0.9)) + 0)], 0, 'w');
    // 0.9·13 + 0.1·17 = 13.4 → 13 in int64
    assert.deepEqual(flat(emaModule.bn.getBuffer('num_batches_tracked')!), [13]);
    const other = new nn.Linear(2, 2);
    try { assert.throws(() => ema.update(other), /the EMA has \d+ state entries but the model has 2|state entry 0 is 'w'/); } finally { for (const p of other.parameters()) p.dispose(); }
  } finally {
    for (const m of [model, emaModule]) for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
  }
});

test('finetuneLrWdAnnealing: warmup from 0.005·lr, cosine to 0.001·lr, constant wd, per-group scales, [min, max] over groups', () => {
  const p = [torch.zeros([2]).requiresGrad_(true), torch.zeros([2]).requiresGrad_(true)];
  try {
    const opt = new AdamW([{ params: [p[0]], lr_scale: 0.49, weight_decay_scale: 1 }, { params: [p[1]], lr_scale: 1, weight_decay_scale: 0 }], { lr: 1, weight_decay: 0, variant: 'timm' });
    const peak = 0.004, wd = 0.05, W = 3, T = 11;
    for (let it = 0; it < T; it++) {
      const cur = it < W ? 0.005 * peak + 0.995 * peak * it / W : 0.001 * peak + 0.999 * peak * (0.5 + 0.5 * Math.cos(Math.PI * (it - W) / (T - 1 - W)));
      const [minLr, maxLr, minWd, maxWd] = finetuneLrWdAnnealing(opt, peak, wd, it, W, T);
      assert.deepEqual([minLr, maxLr, minWd, maxWd], [cur * 0.49, cur, 0, wd], `it ${it}`);
      assert.deepEqual(opt.paramGroups.map((g) => [g.lr, g.weight_decay]), [[cur * 0.49, wd], [cur, 0]]);
    }
  } finally { torch.dispose(p); }
});

test('timm variants: AdamW keeps an int step and timm\'s group keys; Lamb divides by the clip factor (default max_grad_norm 1)', () => {
  const run = (variant: 'torch' | 'timm'): number[] => torch.tidy(() => {
    const w = torch.tensor([0.5, -1, 2]).requiresGrad_(true);
    const opt = new AdamW([w], { lr: 0.1, weight_decay: 0.05, variant });
    for (let i = 0; i < 3; i++) { opt.zeroGrad(); w.mul(w).mul(torch.tensor([1, 2, 3])).sum().backward(); opt.step(); }
    const s = opt.stateDict();
    if (variant === 'timm') {
      assert.equal(s.state.get(0)!.step, 3);
      assert.deepEqual(Object.keys(s.param_groups[0]), ['lr', 'betas', 'eps', 'weight_decay', 'amsgrad', 'params']);
    }
    const out = flat(w);
    opt.disposeState();
    w.grad = null;
    return out;
  });
  assert.deepEqual(run('timm'), run('torch'));   // the same arithmetic

  const lamb = (variant: 'spark' | 'timm', maxGradNorm?: number): number[] => torch.tidy(() => {
    const w = torch.tensor([0.5, -1, 2]).requiresGrad_(true);
    const opt = new LAMB([w], { lr: 0.1, weight_decay: 0, always_adapt: true, bias_correction: false, variant, ...(maxGradNorm ? { max_grad_norm: maxGradNorm } : {}) });
    assert.equal(opt.defaults.max_grad_norm, maxGradNorm ?? (variant === 'timm' ? 1 : 2));
    w.mul(w).mul(torch.tensor([3, 5, 7])).sum().backward();
    const g = flat(w.grad!);
    opt.step();
    const norm = Math.sqrt(g.reduce((s, v) => s + v * v, 0));
    assert.ok(Math.abs(opt.globalGradNorm - norm) < 1e-4);
    const grad = flat(w.grad!);
    // timm: grad / (norm / max) when norm > max
    const max = maxGradNorm ?? 1;
    if (variant === 'timm') close(grad, g.map((v) => (norm > max ? Math.fround(v / Math.fround(norm / max)) : v)), 1e-6, 'clipped grad');
    const out = flat(w);
    opt.disposeState(); w.grad = null;
    return out;
  });
  close(lamb('timm', 1e7), lamb('spark', 1e7), 0, 'no clipping: identical');
  close(lamb('timm', 2), lamb('spark', 2), 1e-6, 'clipping: equal up to the last bit');
  lamb('timm');
  torch.tidy(() => assert.throws(() => new AdamW([torch.zeros([1])], { variant: 'timm', maximize: true }), /timm's AdamW has no maximize option/));
});

const tinyResNet = (classes: number): ResNet =>
  new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [4, 8, 8, 8], stemWidth: 4, numClasses: classes });

test('finetuneStep: one recipe iteration on a tiny ResNet — schedule, drawn decision (seeded per iteration), finite loss, accuracy, EMA moves', () => {
  torch.manualSeed(0);
  const model = tinyResNet(5), emaModule = tinyResNet(5);
  const free = (): void => { for (const m of [model, emaModule]) for (const t of [...m.parameters(), ...m.buffers()]) t.dispose(); };
  try {
    const r = createFinetuneRecipe(model, {
      opt: 'lamb', lr: 0.01, wd: 0.02, lrScale: 0.7, clip: 1, mixup: 0.8, numClasses: 5, warmupIters: 1, maxIters: 10, seed: 3,
    }, { module: emaModule, decay: 0.5 });
    assert.ok(r.optimizer instanceof LAMB && (r.optimizer as LAMB).variant === 'timm');
    assert.equal(r.criterion, binaryCrossEntropy);
    // layer decay: groups named by layer id, lr_scale = 0.7^(N+1−id); ResNet [1,1,1,1] has N = 4
    assert.deepEqual([...new Set(r.optimizer.paramGroups.map((g) => g.lr_scale as number))].sort(), [0.7 ** 5, 0.7 ** 4, 0.7 ** 3, 0.7 ** 2, 0.7, 1].sort());
    const d0 = drawDecision(r, 0, 32, 32);
    assert.deepEqual(drawDecision(r, 0, 32, 32), d0, 'the same iteration draws the same decision (exact resume)');
    const before = torch.tidy(() => flat(emaModule.fc.getParameter('weight')!));
    const batch = torch.tidy(() => ({ input: torch.randn([3, 3, 32, 32]), target: torch.tensor([0, 4, 2], { dtype: 'int64' }) }));
    const res = finetuneStep(r, batch, 0);
    assert.deepEqual(res.decision, d0);
    assert.ok(Number.isFinite(res.loss) && res.loss > 0);
    assert.ok(res.acc >= 0 && res.acc <= 100 && Number.isInteger(res.acc / 25), `accuracy over B′ = 4: ${res.acc}`);
    assert.deepEqual(res.lr, [0.005 * 0.01 * 0.7 ** 5, 0.005 * 0.01]);
    assert.deepEqual(res.wd, [0, 0.02]);
    assert.ok(res.gradNorm !== null && res.gradNorm > 0);
    assert.notDeepEqual(torch.tidy(() => flat(emaModule.fc.getParameter('weight')!)), before);
    const ev = evaluateBatch(emaModule, batch.input, batch.target);
    assert.equal(ev.count, 3);
    assert.ok(ev.top1 <= ev.top5 && ev.top5 <= 3);
    // a non-finite loss stops the step before anything is updated
    const w0 = torch.tidy(() => flat(model.fc.getParameter('weight')!));
    const [nan, t2] = torch.tidy(() => [torch.full([2, 3, 32, 32], NaN), batch.target.narrow(0, 0, 2).clone()]);
    try {
      assert.throws(() => finetuneStep(r, { input: nan, target: t2 }, 1), /^Error: fine-tuning loss is NaN at iteration 1; lower --base_lr or set --clip$/);
    } finally { torch.dispose([nan, t2]); }
    assert.deepEqual(torch.tidy(() => flat(model.fc.getParameter('weight')!)), w0);
    torch.dispose([batch.input, batch.target]);
    r.optimizer.disposeState();
  } finally { free(); }
  const pair = new Pair();
  try {
    assert.throws(() => createFinetuneRecipe(pair, { opt: 'sgd' as 'adam', lr: 1, wd: 0, lrScale: 0, clip: 0, mixup: 0, numClasses: 2, warmupIters: 0, maxIters: 2 }),
      /unknown optimizer 'sgd'; choose one of adam, adamw, lamb/);
  } finally { for (const t of [...pair.parameters(), ...pair.buffers()]) t.dispose(); }
});

class Logits extends nn.Module { forward(x: Tensor): Tensor { return x.mul(1); } }

test('evaluateBatch: top-1 and top-5 hits, in eval mode, mode restored', () => {
  const m = new Logits();
  torch.tidy(() => {
    const logits = torch.tensor([
      [9, 8, 7, 6, 5, 4, 0], // target 0: top-1
      [9, 8, 7, 6, 5, 4, 0], // target 4: top-5 only
      [9, 8, 7, 6, 5, 4, 0], // target 6: neither
    ]);
    m.train();
    assert.deepEqual(evaluateBatch(m, logits, torch.tensor([0, 4, 6], { dtype: 'int64' })), { count: 3, top1: 1, top5: 2 });
    assert.equal(m.training, true);
  });
});
