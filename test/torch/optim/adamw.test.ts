// torch.optim.AdamW against its update rule computed in plain float64 JS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../../helpers.js';
import { F64, param, refAdamWStep, seq, setGrads, values, type RefAdamWGroup } from './support.js';

checkNoLeaks();
const { AdamW } = torch.optim;

function refGroup(params: number[][], o: Partial<RefAdamWGroup>): RefAdamWGroup {
  return { params: params.map((p) => p.slice()), lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 1e-2, amsgrad: false, maximize: false, state: [], ...o };
}

const P0 = [seq(6, 3), seq(4, 4)];
const SHAPES = [[3, 2], [4]];
// step 2 has much smaller gradients so that AMSGrad's running max differs from v
const GRADS = [1, 0.01, 0.5].map((s, it) => [seq(6, 30 + it, s), seq(4, 40 + it, s)]);

for (const [label, o] of [
  ['defaults', {}],
  ['weight decay + custom betas/eps', { lr: 0.05, betas: [0.8, 0.9] as [number, number], eps: 1e-6, weight_decay: 0.1 }],
  ['amsgrad', { lr: 0.02, weight_decay: 0.05, amsgrad: true }],
  ['maximize, no weight decay', { lr: 0.01, weight_decay: 0, maximize: true }],
] as const) {
  test(`AdamW ${label}: three steps equal the float64 update rule`, () => {
    const ps = P0.map((v, i) => param(v, SHAPES[i]));
    const opt = new AdamW(ps, o);
    const ref = [refGroup(P0, o)];
    for (const g of GRADS) {
      setGrads(ps, g);
      opt.step();
      refAdamWStep(ref, [g.map((x) => x.slice())]);
      ps.forEach((p, i) => assertClose(values(p), ref[0].params[i], F64, `${label} param ${i}`));
    }
    ps.forEach((p, i) => {
      const s = opt.state.get(p)!;
      assertClose(values(s.exp_avg as torch.Tensor), ref[0].state[i]!.m, F64, 'exp_avg');
      assertClose(values(s.exp_avg_sq as torch.Tensor), ref[0].state[i]!.v, F64, 'exp_avg_sq');
      if ('amsgrad' in o) assertClose(values(s.max_exp_avg_sq as torch.Tensor), ref[0].state[i]!.vmax, F64, 'max_exp_avg_sq');
    });
    opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
  });
}

test('AdamW state: per-param step as a 0-dim float32 tensor, then exp_avg, exp_avg_sq (PyTorch 1.13 layout)', () => {
  const p = param([1, 2, 3]);
  const opt = new AdamW([p], { amsgrad: true });
  for (let i = 0; i < 2; i++) { setGrads([p], [[0.1, 0.2, 0.3]]); opt.step(); }
  const s = opt.state.get(p)!;
  assert.deepEqual(Object.keys(s), ['step', 'exp_avg', 'exp_avg_sq', 'max_exp_avg_sq']);
  const step = s.step as torch.Tensor;
  assert.equal(step.dtype, 'float32');
  assert.deepEqual(step.shape, []);
  assert.equal(step.item(), 2);
  assert.equal((s.exp_avg as torch.Tensor).dtype, 'float64');
  opt.zeroGrad(); opt.dispose(); p.dispose();
});

test('AdamW param groups with different lr and weight decay', () => {
  const ps = P0.map((v, i) => param(v, SHAPES[i]));
  const opt = new AdamW([{ params: [ps[0]], lr: 0.1, weight_decay: 0.3 }, { params: [ps[1]], weight_decay: 0 }], { lr: 0.01 });
  const ref = [refGroup([P0[0]], { lr: 0.1, weight_decay: 0.3 }), refGroup([P0[1]], { lr: 0.01, weight_decay: 0 })];
  for (const g of GRADS) {
    setGrads(ps, g);
    opt.step();
    refAdamWStep(ref, [[g[0].slice()], [g[1].slice()]]);
  }
  assertClose(values(ps[0]), ref[0].params[0], F64, 'group 0');
  assertClose(values(ps[1]), ref[1].params[0], F64, 'group 1');
  opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
});

test('AdamW: bad arguments fail with one clear message', () => {
  const p = param([1]);
  assert.throws(() => new AdamW([p], { betas: [1, 0.9] }), /invalid beta parameter at index 0/);
  assert.throws(() => new AdamW([p], { eps: -1 }), /invalid epsilon/);
  assert.throws(() => new AdamW([p], { weight_decay: -1 }), /invalid weight_decay/);
  p.dispose();
});
