// The reference's LAMB checkpoint (golden resnet_basic_96.spark_style.pth, written by torch.save after
// one TheSameAsTimmLAMB step) loads into our LAMB over getParamGroups' groups — every state tensor lands
// on the parameter of its shape — and the next step equals the reference math from the loaded state.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { loadPth, isRawTensor, type PyValue, type RawTensor } from '../../src/torch/io/index.js';
import { getParamGroupsWithNames } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { refLambStep, seq, type RefLambGroup } from '../torch/optim/support.js';
import { goldenParams, goldenPath, readGoldenHeader } from './golden_meta.js';

checkNoLeaks();
const { LAMB, optimizerStateDictFromPy } = torch.optim;

const json = JSON.parse(fs.readFileSync(goldenPath('resnet_basic_96.pth.json'), 'utf8')).spark_style as {
  optimizer_param_groups: Record<string, unknown>[]; optimizer_state_count: number;
  optimizer_state_0: Record<string, { shape: number[]; sum: number }>;
};
const ck = loadPth(goldenPath('resnet_basic_96.spark_style.pth')) as Map<PyValue, PyValue>;
const optPy = ck.get('optimizer')!;
const modulePy = ck.get('module') as Map<PyValue, PyValue>;

const f32 = (t: Tensor): number[] => Array.from(t.toTypedArray() as Float32Array);
function relErr(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let d = 0, n = 0;
  for (let i = 0; i < b.length; i++) { d += (a[i] - b[i]) ** 2; n += b[i] ** 2; }
  return Math.sqrt(d) / Math.max(Math.sqrt(n), 1e-12);
}

test('the reference LAMB checkpoint reads as a state dict with the reference layout', () => torch.tidy(() => {
  const sd = optimizerStateDictFromPy(optPy);
  assert.equal(sd.param_groups.length, json.optimizer_param_groups.length);
  let next = 0;
  sd.param_groups.forEach((g, i) => {
    const { num_params, ...ref } = json.optimizer_param_groups[i] as Record<string, unknown> & { num_params: number };
    const { params, ...opts } = g;
    assert.deepEqual(opts, ref, `group ${i} options`);
    assert.deepEqual(Object.keys(g), [...Object.keys(ref), 'params'], `group ${i} key order`);
    assert.deepEqual(params, Array.from({ length: num_params }, (_, k) => next + k), 'params numbered across groups');
    next += num_params;
  });
  assert.equal(sd.state.size, json.optimizer_state_count);
  const s0 = sd.state.get(0)!;
  assert.deepEqual(Object.keys(s0), Object.keys(json.optimizer_state_0));
  for (const [k, ref] of Object.entries(json.optimizer_state_0)) {
    const t = s0[k] as Tensor;
    assert.deepEqual(t.shape, ref.shape);
    assert.ok(Math.abs(t.sum().item() - ref.sum) < 1e-6, `${k} sum ${t.sum().item()} vs ${ref.sum}`);
  }
}));

test('it loads into our LAMB over getParamGroups(model) and the next step follows the reference math', () => {
  const named = goldenParams(readGoldenHeader('resnet_basic_96'));
  const raw = named.map(([n]) => {
    const r = modulePy.get(n);
    assert.ok(isRawTensor(r), `the checkpoint's module lacks ${n}`);
    return r as RawTensor;
  });
  const list: [string, Tensor][] = named.map(([n], i) =>
    [n, torch.tensor(raw[i].data, { dtype: raw[i].dtype, shape: raw[i].shape }).requiresGrad_(true).keep()]);
  const { groups, names } = getParamGroupsWithNames(list);
  assert.deepEqual(groups.map((g) => g.params.length), json.optimizer_param_groups.map((g) => g.num_params));

  const opt = new LAMB(groups, { lr: 0.01, weight_decay: 0, betas: [0.9, 0.95], max_grad_norm: 5.0 });
  // loadStateDict checks that every state tensor has its parameter's shape: the index mapping must be right
  torch.tidy(() => opt.loadStateDict(optimizerStateDictFromPy(optPy)));
  assert.deepEqual(opt.paramGroups.map((g) => g.step), [1, 1]);
  assert.deepEqual(opt.paramGroups.map((g) => g.lr), [0.001, 0.001], 'the saved options replace the constructor\'s');

  // what lrWdAnnealing would set: decay on the first group only (so the trust ratio is exercised)
  for (const g of opt.paramGroups) { g.lr = 0.002; g.weight_decay = 0.05 * (g.weight_decay_scale as number); }
  const byName = new Map(list);
  const ref: RefLambGroup[] = opt.paramGroups.map((g) => ({
    params: g.params.map(f32), lr: 0.002, weight_decay: g.weight_decay as number, betas: [0.9, 0.95], eps: 1e-6,
    bias_correction: true, grad_averaging: true, trust_clip: false, always_adapt: false, step: 1,
    m: g.params.map((p) => f32(opt.state.get(p)!.exp_avg as Tensor)), v: g.params.map((p) => f32(opt.state.get(p)!.exp_avg_sq as Tensor)),
  }));
  const before = opt.paramGroups.map((g) => g.params.map(f32));
  // gradients large enough that the global norm (≈ 20) is clipped to 5
  const grads = names.map((ns, gi) => ns.map((n, j) => seq(byName.get(n)!.numel, 1000 * gi + j, 0.05)));
  opt.paramGroups.forEach((g, gi) => g.params.forEach((p, j) => torch.tidy(() => {
    p.grad = torch.tensor(Float32Array.from(grads[gi][j]), { shape: p.shape });
  })));
  opt.step();
  // the JS reference in float64 from the float32 values the tensors hold
  const g32 = grads.map((gs) => gs.map((g) => Array.from(Float32Array.from(g))));
  const norm = refLambStep(ref, g32, 5.0);
  assert.ok(norm > 5, 'clipping must be active');
  assert.ok(Math.abs(opt.globalGradNorm - norm) <= 1e-5 * norm, `global norm ${opt.globalGradNorm} vs ${norm}`);
  opt.paramGroups.forEach((g, gi) => g.params.forEach((p, j) => {
    const now = f32(p), was = before[gi][j];
    const delta = now.map((x, k) => x - was[k]);
    const refDelta = ref[gi].params[j].map((x, k) => x - was[k]);
    const what = `${names[gi][j]}`;
    assert.ok(relErr(delta, refDelta) < 1e-4, `${what}: update off by ${relErr(delta, refDelta)}`);
    assert.ok(relErr(f32(opt.state.get(p)!.exp_avg as Tensor), ref[gi].m[j]!) < 1e-5, `${what} exp_avg`);
    assert.ok(relErr(f32(opt.state.get(p)!.exp_avg_sq as Tensor), ref[gi].v[j]!) < 1e-5, `${what} exp_avg_sq`);
  }));
  assert.deepEqual(opt.paramGroups.map((g) => g.step), [2, 2]);
  opt.zeroGrad(); opt.dispose();
  torch.dispose(list.map(([, t]) => t));
});
