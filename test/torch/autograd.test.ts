// Autograd entry points: backward (gradient argument, retainGraph, createGraph), grad accumulation and
// reset, detach, noGrad/enableGrad, leaves and retainGrad.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../helpers.js';

checkNoLeaks();
const { tidy } = torch;
const leaf = (v: torch.NestedArray): torch.Tensor => torch.tensor(v, { dtype: 'float64', requiresGrad: true });

test('backward of a scalar fills .grad of the leaves; requiresGrad propagates', () => tidy(() => {
  const x = leaf([1, -2, 3]);
  const w = leaf([0.5, 0.5, 2]);
  assert.equal(x.isLeaf, true);
  const y = x.mul(x).mul(w).sum(); // dy/dx = 2·x·w, dy/dw = x²
  assert.equal(y.requiresGrad, true);
  assert.equal(y.isLeaf, false);
  assert.equal(x.grad, null, 'no grad before backward');
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [1, -2, 12]);
  assert.deepEqual(w.grad!.toArray(), [1, 4, 9]);
  // a tensor computed from no grad-requiring input does not require grad; neither do integer results
  assert.equal(torch.ones([2]).mul(2).requiresGrad, false);
  assert.equal(x.argmax().requiresGrad, false);
  assert.equal(x.gt(0).requiresGrad, false);
}));

test('backward with a gradient argument for a non-scalar output', () => tidy(() => {
  const x = leaf([[1, 2], [3, 4]]);
  const y = x.mul(3).add(1);
  y.backward(torch.tensor([[1, 0], [0.5, -1]], { dtype: 'float64' }));
  assert.deepEqual(x.grad!.toArray(), [[3, 0], [1.5, -3]]);
  const z = x.mul(2);
  assert.throws(() => z.backward(), /backward.*grad can be implicitly created only for scalar outputs/);
  assert.throws(() => x.mul(2).backward(torch.ones([3], { dtype: 'float64' })), /backward.*(shape|size)/i);
  // several roots at once (torch.autograd.backward)
  const a = leaf([1, 2]);
  torch.backward([a.mul(2).sum(), a.pow(2)], [torch.ones([], { dtype: 'float64' }), torch.ones([2], { dtype: 'float64' })]);
  assert.deepEqual(a.grad!.toArray(), [2 + 2, 2 + 4]);
}));

test('gradients accumulate across backward calls; grad = null resets; retainGraph allows a second pass', () => tidy(() => {
  const x = leaf([1, 2]);
  x.mul(x).sum().backward();
  x.mul(3).sum().backward();
  assert.deepEqual(x.grad!.toArray(), [2 + 3, 4 + 3], 'accumulated');
  x.grad = null;
  assert.equal(x.grad, null);
  const y = x.pow(3).sum();
  y.backward(null, { retainGraph: true });
  assert.deepEqual(x.grad!.toArray(), [3, 12]);
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [6, 24], 'second pass through the retained graph adds again');
  assert.throws(() => y.backward(), /backward.*(second time|freed)/);
  // assigning a gradient tensor
  x.grad = torch.tensor([10, 20], { dtype: 'float64' });
  x.sum().backward();
  assert.deepEqual(x.grad!.toArray(), [11, 21]);
  // each .grad read is a new handle onto the same gradient
  const before = torch.liveTensorCount();
  const g1 = x.grad!, g2 = x.grad!;
  assert.equal(torch.liveTensorCount(), before + 2);
  g1.zero_();
  assert.deepEqual(g2.toArray(), [0, 0], 'same storage');
}));

test('createGraph: gradients of gradients', () => tidy(() => {
  const x = leaf([1, 2, -1]);
  x.pow(3).sum().backward(null, { createGraph: true });
  const g = x.grad!; // 3x², itself differentiable
  assert.deepEqual(g.toArray(), [3, 12, 3]);
  assert.equal(g.requiresGrad, true);
  x.grad = null;
  g.sum().backward();
  assert.deepEqual(x.grad!.toArray(), [6, 12, -6]);
}));

test('detach shares data but cuts the graph', () => tidy(() => {
  const x = leaf([1, 2]);
  const d = x.mul(2).detach();
  assert.equal(d.requiresGrad, false);
  const y = x.mul(d).sum(); // d treated as a constant: dy/dx = d
  y.backward();
  assert.deepEqual(x.grad!.toArray(), [2, 4]);
  const xd = x.detach();
  assert.equal(xd.requiresGrad, false);
  torch.noGrad(() => x.add_(1));
  assert.deepEqual(xd.toArray(), [2, 3], 'the detached tensor sees in-place changes of the original');
}));

test('noGrad / enableGrad / isGradEnabled, restored after exceptions', () => tidy(() => {
  const x = leaf([1, 2]);
  assert.equal(torch.isGradEnabled(), true);
  const y = torch.noGrad(() => {
    assert.equal(torch.isGradEnabled(), false);
    const inner = torch.enableGrad(() => { assert.equal(torch.isGradEnabled(), true); return x.mul(2); });
    assert.equal(inner.requiresGrad, true);
    assert.equal(torch.isGradEnabled(), false);
    return x.mul(2);
  });
  assert.equal(y.requiresGrad, false);
  assert.equal(torch.isGradEnabled(), true);
  assert.throws(() => torch.noGrad(() => { throw new Error('boom'); }), /boom/);
  assert.equal(torch.isGradEnabled(), true, 'restored after a throw');
  assert.throws(() => torch.noGrad((async () => 1) as never), /synchronous/);
  assert.equal(torch.isGradEnabled(), true);
}));

test('retainGrad keeps a non-leaf gradient; requiresGrad_ and leaf rules', () => tidy(() => {
  const x = leaf([1, 2]);
  const h = x.mul(3);
  h.retainGrad();
  const h2 = x.mul(4);
  h.mul(h).add(h2).sum().backward();
  assert.deepEqual(h.grad!.toArray(), [6, 12]); // 2h
  assert.equal(h2.grad, null, 'non-leaf without retainGrad keeps no grad');
  assert.deepEqual(x.grad!.toArray(), [18 + 4, 36 + 4]);
  const t = torch.zeros([2], { dtype: 'float64' });
  assert.equal(t.requiresGrad_(), t);
  assert.equal(t.requiresGrad, true);
  t.requiresGrad = false;
  assert.equal(t.requiresGrad, false);
  assert.throws(() => { h.requiresGrad = false; }, /requiresGrad_.*leaf variables.*detach/);
}));

test('modifying a saved tensor in place before backward is reported, not silently wrong', () => tidy(() => {
  const x = leaf([1, 2]);
  const e = x.exp(); // exp saves its output for backward
  const y = e.sum();
  e.mul_(2);
  assert.throws(() => y.backward(), /backward.*modified by an inplace operation/);
}));

test('custom ops carry their own backward through a chain (masked_rows -> op -> rows_to_masked)', () => tidy(() => {
  const x = torch.arange(8, undefined, 1, { dtype: 'float64' }).reshape([1, 2, 2, 2]);
  x.requiresGrad = true;
  const mask = torch.tensor([[[[true, false], [false, true]]]]);
  const rows = torch.maskedRows(x, mask); // visible positions (0,0) and (1,1), NHWC order
  assert.deepEqual(rows.toArray(), [[0, 4], [3, 7]]);
  const back = torch.rowsToMasked(rows.mul(10), mask);
  assert.deepEqual(back.toArray(), [[[[0, 0], [0, 30]], [[40, 0], [0, 70]]]]);
  back.sum().backward();
  assertClose(x.grad!, [[[[10, 0], [0, 10]], [[10, 0], [0, 10]]]]);
  assert.throws(() => torch.maskedRows(x, torch.ones([1, 1, 3, 2]).bool()), /masked_rows.*does not match/);
  assert.throws(() => torch.rowsToMasked(torch.zeros([3, 2]), mask), /rows_to_masked.*2 visible positions but rows has 3/);
}));
