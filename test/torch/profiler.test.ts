// torch.profiler: libtorch's op profiler from JS — op names and self/total times as torch.profiler
// gives them, optimizer steps split off under "[optimizer] ", sparkts kernels named, and a profile
// that cannot be left running.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();

test('a profile names the ATen ops that ran, with self ≤ total time and call counts', () => {
  const x = torch.randn([2, 4, 16, 16]).keep(), w = torch.randn([8, 4, 3, 3]).keep();
  const { result, ops } = torch.profiler.profile(() => torch.tidy(() => torch.conv2d(x, w, null, 1, 1).relu().sum().item()));
  assert.ok(Number.isFinite(result));
  const byName = new Map(ops.map((o) => [o.name, o]));
  for (const name of ['aten::conv2d', 'aten::relu', 'aten::sum']) assert.ok(byName.has(name), `${name} in ${[...byName.keys()].join(', ')}`);
  const conv = byName.get('aten::conv2d')!;
  assert.equal(conv.calls, 1);
  assert.ok(conv.selfUs >= 0 && conv.selfUs <= conv.totalUs, 'conv2d itself is a thin wrapper around the convolution it calls');
  assert.ok(!byName.has('aten::mul'), 'nothing that did not run');
  torch.dispose([x, w]);
});

test('ops inside an optimizer step are reported under "[optimizer] "; sparkts kernels open their own ranges', () => {
  const p = torch.randn([64]).keep();
  p.requiresGrad = true;
  const opt = new torch.optim.AdamW([p], { lr: 0.1 });
  torch.tidy(() => p.mul(p).sum().backward());
  const { ops } = torch.profiler.profile(() => opt.step());
  assert.ok(ops.some((o) => o.name === 'Optimizer.step#AdamW.step'), 'the step range itself, named as PyTorch names it');
  assert.ok(ops.length > 1 && ops.filter((o) => o.name !== 'Optimizer.step#AdamW.step').every((o) => o.name.startsWith('[optimizer] ')));
  const rows = torch.profiler.profile(() => torch.tidy(() => {
    const x = torch.randn([2, 3, 4, 4]), mask = torch.rand([2, 1, 4, 4]).gt(0.5);
    return torch.maskedRows(x, mask).sum().item();
  })).ops;
  assert.ok(rows.some((o) => o.name === 'sparkts::masked_rows'));
  opt.zeroGrad();
  opt.dispose();
  p.dispose();
});

test('profiles do not nest, and a throwing function leaves the profiler off', () => {
  assert.throws(() => torch.profiler.profile(() => torch.profiler.profile(() => 0)), /already running/);
  assert.throws(() => torch.profiler.profile(() => { throw new Error('boom'); }), /boom/);
  const { ops } = torch.profiler.profile(() => torch.tidy(() => torch.ones([3]).add(1).sum().item()));
  assert.ok(ops.some((o) => o.name === 'aten::add'), 'a new profile starts cleanly after the failures');
  assert.equal(torch.profiler.recordFunction('user range', () => 7), 7);
});
