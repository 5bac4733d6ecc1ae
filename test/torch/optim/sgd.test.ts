// torch.optim.SGD against its update rule computed in plain float64 JS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../../helpers.js';
import { F64, param, refSGDStep, seq, setGrads, values, type RefSGDGroup } from './support.js';

checkNoLeaks();
const { SGD } = torch.optim;

function refGroup(params: number[][], o: Partial<RefSGDGroup>): RefSGDGroup {
  return { params: params.map((p) => p.slice()), lr: 0.1, momentum: 0, dampening: 0, weight_decay: 0, nesterov: false, maximize: false, bufs: [], ...o };
}

const P0 = [seq(6, 1), seq(3, 2)];
const SHAPES = [[2, 3], [3]];
const GRADS = [0, 1, 2].map((it) => [seq(6, 10 + it, 2), seq(3, 20 + it, 2)]);

for (const [label, o] of [
  ['momentum + dampening + weight decay', { lr: 0.1, momentum: 0.9, dampening: 0.1, weight_decay: 0.01 }],
  ['nesterov', { lr: 0.05, momentum: 0.8, nesterov: true, weight_decay: 0.02 }],
  ['plain', { lr: 0.3 }],
  ['maximize', { lr: 0.1, momentum: 0.5, maximize: true }],
] as const) {
  test(`SGD ${label}: three steps equal the float64 update rule`, () => {
    const ps = P0.map((v, i) => param(v, SHAPES[i]));
    const opt = new SGD(ps, o);
    const ref = [refGroup(P0, o)];
    for (const g of GRADS) {
      setGrads(ps, g);
      opt.step();
      refSGDStep(ref, [g.map((x) => x.slice())]);
      ps.forEach((p, i) => assertClose(values(p), ref[0].params[i], F64, `${label} param ${i}`));
    }
    opt.zeroGrad();
    opt.dispose();
    torch.dispose(ps);
  });
}

test('SGD: the first momentum buffer is the gradient itself (not scaled by 1 - dampening)', () => {
  const p = param([1, -2, 3]);
  const opt = new SGD([p], { lr: 0.1, momentum: 0.9, dampening: 0.5, weight_decay: 0.1 });
  setGrads([p], [[0.5, 0.25, -1]]);
  opt.step();
  const buf = opt.state.get(p)!.momentum_buffer as torch.Tensor;
  // d_p = grad + wd·p (before the update)
  assertClose(values(buf), [0.5 + 0.1 * 1, 0.25 + 0.1 * -2, -1 + 0.1 * 3], F64, 'momentum_buffer');
  assertClose(values(p), [1 - 0.1 * 0.6, -2 - 0.1 * 0.05, 3 - 0.1 * -0.7], F64, 'param');
  opt.zeroGrad(); opt.dispose(); p.dispose();
});

test('SGD param groups: each group uses its own lr / weight decay; missing options come from the defaults', () => {
  const ps = P0.map((v, i) => param(v, SHAPES[i]));
  const opt = new SGD([{ params: [ps[0]], lr: 0.5, weight_decay: 0.1 }, { params: [ps[1]] }], { lr: 0.01, momentum: 0.9 });
  assert.equal(opt.paramGroups[0].lr, 0.5);
  assert.equal(opt.paramGroups[0].momentum, 0.9);
  assert.equal(opt.paramGroups[1].lr, 0.01);
  assert.equal(opt.paramGroups[1].weight_decay, 0);
  const ref = [refGroup([P0[0]], { lr: 0.5, weight_decay: 0.1, momentum: 0.9 }), refGroup([P0[1]], { lr: 0.01, momentum: 0.9 })];
  for (const g of GRADS.slice(0, 2)) {
    setGrads(ps, g);
    opt.step();
    refSGDStep(ref, [[g[0].slice()], [g[1].slice()]]);
  }
  assertClose(values(ps[0]), ref[0].params[0], F64, 'group 0');
  assertClose(values(ps[1]), ref[1].params[0], F64, 'group 1');
  opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
});

test('SGD: params without a gradient are skipped; without momentum the state holds None buffers (as PyTorch)', () => {
  const ps = [param([1, 2]), param([3, 4])];
  const opt = new SGD(ps, { lr: 0.1 });
  setGrads(ps, [[1, 1], null]);
  opt.step();
  assert.deepEqual(values(ps[0]), [0.9, 1.9]);
  assert.deepEqual(values(ps[1]), [3, 4]);
  assert.deepEqual(opt.state.get(ps[0]), { momentum_buffer: null });
  assert.equal(opt.state.has(ps[1]), false);
  opt.zeroGrad();
  assert.equal(ps[0].grad, null);
  opt.dispose(); torch.dispose(ps);
});

test('zeroGrad(false) zeroes the gradients in place instead of dropping them', () => {
  const p = param([1, 2]);
  const opt = new SGD([p], { lr: 0.1 });
  setGrads([p], [[3, 4]]);
  opt.zeroGrad(false);
  const g = p.grad!;
  assert.deepEqual(values(g), [0, 0]);
  g.dispose();
  opt.zeroGrad();
  opt.dispose(); p.dispose();
});

test('SGD: bad arguments fail with one clear message', () => {
  const p = param([1]);
  assert.throws(() => new SGD([p]), /SGD: .*required optimization parameter lr/);
  assert.throws(() => new SGD([p], { lr: -1 }), /invalid learning rate/);
  assert.throws(() => new SGD([p], { lr: 0.1, nesterov: true }), /Nesterov momentum requires a momentum and zero dampening/);
  assert.throws(() => new SGD([], { lr: 0.1 }), /empty parameter list/);
  assert.throws(() => new SGD([{ params: [p] }, { params: [p] }], { lr: 0.1 }), /more than one parameter group/);
  const nonLeaf = torch.tidy(() => p.mul(2));
  assert.throws(() => new SGD([nonLeaf], { lr: 0.1 }), /non-leaf/);
  nonLeaf.dispose(); p.dispose();
});
