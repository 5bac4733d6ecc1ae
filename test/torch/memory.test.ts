// Deterministic memory release: dispose, tidy (nesting, results, exceptions), keep, module tensors,
// disposed-tensor errors, external-memory reporting to V8, and finalizers as the safety net.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import v8 from 'node:v8';
import vm from 'node:vm';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();
const live = (): number => torch.liveTensorCount();

test('dispose frees exactly one handle; twice is harmless; isDisposed', () => {
  const n0 = live();
  const t = torch.zeros([3]);
  assert.equal(live(), n0 + 1);
  assert.equal(t.isDisposed, false);
  t.dispose();
  assert.equal(t.isDisposed, true);
  assert.equal(live(), n0);
  t.dispose();
  assert.equal(live(), n0);
  // ops returning several tensors return several handles
  const x = torch.tensor([3, 1, 2]);
  const pair = x.sort();
  assert.equal(live(), n0 + 3);
  torch.dispose([x, pair]);
  assert.equal(live(), n0);
  // a view holds its own reference: disposing the base leaves it readable
  const base = torch.arange(4);
  const view = base.view([2, 2]);
  base.dispose();
  assert.deepEqual(view.toArray(), [[0, 1], [2, 3]]);
  view.dispose();
  assert.equal(live(), n0);
});

test('using a disposed tensor throws a clear error (as a method, as an argument, in a list)', () => {
  const t = torch.ones([2]);
  const u = torch.ones([2]);
  t.dispose();
  assert.throws(() => t.shape, /this Tensor was disposed; keep\(\) it or return it from tidy\(\) to use it later/);
  assert.throws(() => t.add(1), /disposed/);
  assert.throws(() => u.add(t), /disposed/);
  assert.throws(() => torch.cat([u, t]), /disposed/);
  assert.throws(() => t.toArray(), /disposed/);
  assert.equal(t.toString(), 'Tensor(disposed)');
  u.dispose();
});

test('tidy frees everything created inside except its result (tensor, array, object, Map)', () => {
  const n0 = live();
  const outside = torch.ones([2]);
  const r = torch.tidy(() => {
    const a = outside.add(1);
    const b = a.mul(2);
    b.exp();
    assert.equal(live(), n0 + 4);
    return b;
  });
  assert.equal(live(), n0 + 2, 'outside and the result survive');
  assert.deepEqual(r.toArray(), [4, 4]);
  assert.equal(outside.isDisposed, false, 'tensors from before the tidy are not its to free');

  const obj = torch.tidy(() => {
    const k = torch.zeros([1]);
    return { list: [k.add(1), k.add(2)], nested: { m: new Map([['x', k.add(3)]]) }, n: 5, s: 'text' };
  });
  assert.equal(live(), n0 + 5);
  assert.deepEqual(obj.list[1].toArray(), [2]);
  assert.deepEqual(obj.nested.m.get('x')!.toArray(), [3]);
  // returning a tensor from outside, or an in-place result (`this`), frees nothing extra
  const same = torch.tidy(() => outside.add_(1));
  assert.equal(same, outside);
  assert.equal(live(), n0 + 5);
  torch.dispose([r, outside, obj]);
  assert.equal(live(), n0);
});

test('nested tidy: inner results move to the outer scope and are freed with it', () => {
  const n0 = live();
  let inner: torch.Tensor | undefined;
  const outer = torch.tidy(() => {
    inner = torch.tidy(() => {
      torch.zeros([1]);
      return torch.ones([1]);
    });
    assert.equal(live(), n0 + 1, 'inner temp freed, inner result alive');
    const kept = torch.tidy(() => torch.ones([1]).mul(3));
    return kept;
  });
  assert.equal(inner!.isDisposed, true, 'not returned by the outer tidy: freed with it');
  assert.equal(outer.isDisposed, false);
  assert.equal(live(), n0 + 1);
  outer.dispose();
  assert.equal(live(), n0);
});

test('keep() survives every enclosing tidy until disposed', () => {
  const n0 = live();
  let k: torch.Tensor | undefined;
  torch.tidy(() => {
    torch.tidy(() => {
      k = torch.ones([2]).keep();
      torch.ones([2]);
    });
  });
  assert.equal(k!.isDisposed, false);
  assert.equal(live(), n0 + 1);
  k!.dispose();
  assert.equal(live(), n0);
});

test('an exception inside tidy frees its tensors and propagates; async functions are refused', () => {
  const n0 = live();
  assert.throws(() => torch.tidy(() => {
    torch.zeros([2]);
    torch.ones([2]).add(torch.ones([3])); // shape mismatch throws from native code
  }), /add\(self: \[2\], other: \[3\]\)/);
  assert.equal(live(), n0);
  assert.throws(() => torch.tidy(() => { torch.zeros([2]); throw new Error('mine'); }), /mine/);
  assert.equal(live(), n0);
  assert.throws(() => torch.tidy((async () => torch.zeros([1])) as never), /Promise/);
  assert.equal(live(), n0);
  // the scope stack is intact after the failures: a fresh tidy still works
  const t = torch.tidy(() => torch.zeros([1]).add(1));
  assert.equal(live(), n0 + 1);
  t.dispose();
});

test('module parameters and buffers are never freed by tidy; a training step in tidy leaks nothing', () => {
  const n0 = live();
  const m = torch.tidy(() => new torch.nn.Sequential(new torch.nn.Linear(3, 2), new torch.nn.BatchNorm1d(2)));
  const nTensors = m.parameters().length + m.buffers().length; // 2 + 2 params, 3 buffers
  assert.equal(nTensors, 7);
  assert.equal(live(), n0 + 7);
  for (let step = 0; step < 3; step++) {
    torch.tidy(() => {
      const y = m.forward(torch.randn([4, 3]));
      y.pow(2).mean().backward();
      torch.noGrad(() => { for (const p of m.parameters()) { const g = p.grad!; p.sub_(g.mul(0.1)); } });
      m.zeroGrad();
    });
    assert.equal(live(), n0 + 7, `step ${step}`);
  }
  torch.dispose(m.stateDict());
  assert.equal(live(), n0);
});

test('native bytes are reported to V8 once per storage and released on dispose', () => {
  const m0 = torch.nativeMemory();
  const big = torch.zeros([256, 1024, 8]); // 8 MiB of float32
  const m1 = torch.nativeMemory();
  assert.equal(m1.reportedBytes - m0.reportedBytes, 8 * 2 ** 20);
  assert.equal(m1.v8ExternalBytes - m0.v8ExternalBytes, 8 * 2 ** 20, 'V8 sees the same amount');
  const view = big.view([-1]);
  assert.equal(torch.nativeMemory().reportedBytes, m1.reportedBytes, 'a view shares the storage: not counted again');
  const copy = big.clone();
  assert.equal(torch.nativeMemory().reportedBytes - m1.reportedBytes, 8 * 2 ** 20);
  torch.dispose([view, copy, big]);
  const m2 = torch.nativeMemory();
  assert.equal(m2.reportedBytes, m0.reportedBytes);
  assert.equal(m2.v8ExternalBytes, m0.v8ExternalBytes);
  // freed by tidy too
  torch.tidy(() => { torch.ones([1024, 1024]); });
  assert.equal(torch.nativeMemory().reportedBytes, m0.reportedBytes);
});

test('finalizers free unreachable, undisposed tensors (the safety net)', async () => {
  v8.setFlagsFromString('--expose-gc');
  const gc = vm.runInNewContext('gc') as () => void;
  const n0 = live(), m0 = torch.nativeMemory().reportedBytes;
  (() => { for (let i = 0; i < 20; i++) torch.zeros([1024]); })(); // created outside any tidy, never disposed
  assert.equal(live(), n0 + 20);
  for (let i = 0; i < 10 && live() > n0; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
  assert.equal(live(), n0, 'all collected');
  assert.equal(torch.nativeMemory().reportedBytes, m0);
});
