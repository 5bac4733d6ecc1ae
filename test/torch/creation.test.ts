// Creation from JS data, factories, random generators, readback and dtype/device conversion.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat } from '../helpers.js';

checkNoLeaks();
const { tidy } = torch;

test('tensor() from typed arrays infers the dtype and copies the data', () => tidy(() => {
  const cases: [ArrayBufferView, torch.DType][] = [
    [new Float32Array([1.5, -2, 3]), 'float32'],
    [new Float64Array([1.5, -2, 3]), 'float64'],
    [new BigInt64Array([1n, -2n, 3n]), 'int64'],
    [new Int32Array([1, -2, 3]), 'int32'],
    [new Uint8Array([1, 2, 255]), 'uint8'],
  ];
  for (const [data, dtype] of cases) {
    const t = torch.tensor(data);
    assert.equal(t.dtype, dtype);
    assert.deepEqual(t.shape, [3]);
    const back = t.toTypedArray();
    assert.equal(back.constructor, data.constructor);
    assert.deepEqual(Array.from(back as ArrayLike<unknown>), Array.from(data as unknown as ArrayLike<unknown>));
  }
  // copied: changing the source afterwards does not change the tensor
  const src = new Float32Array([1, 2, 3, 4, 5, 6]);
  const t = torch.tensor(src, { shape: [2, 3] });
  src[0] = 100;
  assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
  // a view into a bigger buffer: only the view's bytes
  const big = new Float32Array([9, 9, 1, 2, 9]);
  assert.deepEqual(torch.tensor(big.subarray(2, 4)).toArray(), [1, 2]);
  // half types from raw bits: 0x3c00 = 1.0 (float16), 0x3f80 = 1.0 (bfloat16), 0xc000 = -2 (float16)
  assert.deepEqual(torch.tensor(new Uint16Array([0x3c00, 0xc000]), { dtype: 'float16' }).toArray(), [1, -2]);
  assert.deepEqual(torch.tensor(new Uint16Array([0x3f80]), { dtype: 'bfloat16' }).toArray(), [1]);
  assert.throws(() => torch.tensor(new Uint16Array([1])), /cannot infer a dtype from Uint16Array/);
  assert.throws(() => torch.tensor(new Float32Array(6), { shape: [2, 4] }), /24 bytes but shape \[2,4\] of float32 needs 32/);
}));

test('tensor() from nested arrays: shape, default dtypes, every dtype, scalars and empties', () => tidy(() => {
  const t = torch.tensor([[1, 2, 3], [4, 5, 6]]);
  assert.equal(t.dtype, 'float32');
  assert.deepEqual(t.shape, [2, 3]);
  assert.equal(t.ndim, 2);
  assert.equal(t.numel, 6);
  assert.equal(t.size(-1), 3);
  assert.deepEqual(t.stride(), [3, 1]);
  assert.deepEqual(t.toArray(), [[1, 2, 3], [4, 5, 6]]);
  const b = torch.tensor([[true, false], [false, true]]);
  assert.equal(b.dtype, 'bool');
  assert.deepEqual(b.toArray(), [[true, false], [false, true]]);

  const s = torch.tensor(3.5);
  assert.deepEqual(s.shape, []);
  assert.equal(s.item(), 3.5);
  assert.deepEqual(torch.tensor([]).shape, [0]);
  assert.deepEqual(torch.tensor([[], []]).shape, [2, 0]);

  // every dtype the issue names, values exactly representable in each
  const vals = [0, 1, 2, 100];
  for (const dtype of ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'uint8'] as const) {
    const x = torch.tensor(vals, { dtype });
    assert.equal(x.dtype, dtype);
    assert.deepEqual(x.toArray(), vals, dtype);
  }
  assert.deepEqual(torch.tensor([0, 1, 0], { dtype: 'bool' }).toArray(), [false, true, false]);
  // integer dtypes truncate toward zero, as a C cast (and PyTorch) does
  assert.deepEqual(torch.tensor([1.7, -1.7], { dtype: 'int32' }).toArray(), [1, -1]);
  assert.deepEqual(torch.tensor([1.7, -1.7], { dtype: 'int64' }).toArray(), [1, -1]);
  // half types round to nearest even: 1/3 = 1.0101010101|0101…b·2^-2 -> float16 keeps 10 bits (round
  // down) = 1365/4096; bfloat16 keeps 7 bits 1.0101010|1010… (round up) = 171/512
  assert.deepEqual(torch.tensor([1 / 3], { dtype: 'float16' }).toArray(), [1365 / 4096]);
  assert.deepEqual(torch.tensor([1 / 3], { dtype: 'bfloat16' }).toArray(), [171 / 512]);
  // float16 overflows to infinity above 65504; bfloat16 keeps float32's range
  assert.deepEqual(torch.tensor([70000], { dtype: 'float16' }).toArray(), [Infinity]);
  assert.deepEqual(torch.tensor([65504], { dtype: 'float16' }).toArray(), [65504]);
  // int64 beyond 2^31 survives the round trip
  assert.equal(torch.tensor([2 ** 40 + 3], { dtype: 'int64' }).item(), 2 ** 40 + 3);
}));

test('tensor() rejects ragged arrays, unknown dtypes, and integer tensors that require grad (without leaking)', () => {
  const before = torch.liveTensorCount();
  assert.throws(() => torch.tensor([[1, 2], [3]]), /ragged nested array/);
  assert.throws(() => torch.tensor([1, [2]] as never), /ragged nested array/);
  assert.throws(() => torch.tensor([[1], 2] as never), /ragged nested array/);
  assert.throws(() => torch.tensor(['a'] as never), /expected numbers or booleans, got string/);
  assert.throws(() => torch.tensor([1, 2], { dtype: 'float128' as never }), /tensor\(\): unknown dtype 'float128'/);
  assert.throws(() => torch.tensor([1, 2], { dtype: 'int64', requiresGrad: true }), /floating point/);
  assert.throws(() => torch.zeros([2], { dtype: 'int32', requiresGrad: true }), /floating point/);
  assert.equal(torch.liveTensorCount(), before);
});

test('readback: toTypedArray types, toArray nesting, item', () => tidy(() => {
  const x = torch.tensor([[1, 2], [3, 4]], { dtype: 'int64' });
  assert.ok(x.toTypedArray() instanceof BigInt64Array);
  assert.deepEqual(x.toArray(), [[1, 2], [3, 4]]);
  assert.ok(torch.tensor([1], { dtype: 'float16' }).toTypedArray() instanceof Uint16Array);
  assert.ok(torch.tensor([true]).toTypedArray() instanceof Uint8Array);
  assert.equal(torch.tensor([[7]]).item(), 7);
  assert.equal(torch.tensor([true]).item(), 1);
  assert.throws(() => x.item(), /item\(\) needs a tensor with one element, this one has 4/);
  // a non-contiguous view reads back in logical order
  assert.deepEqual(x.t().toArray(), [[1, 3], [2, 4]]);
  assert.deepEqual(Array.from(x.t().toTypedArray() as BigInt64Array), [1n, 3n, 2n, 4n]);
}));

test('factories: zeros, ones, full, empty, arange, linspace, eye', () => tidy(() => {
  const z = torch.zeros([2, 3]);
  assert.equal(z.dtype, 'float32');
  assert.deepEqual(z.toArray(), [[0, 0, 0], [0, 0, 0]]);
  assert.deepEqual(torch.ones([2], { dtype: 'int32' }).toArray(), [1, 1]);
  assert.equal(torch.ones([2], { dtype: 'int32' }).dtype, 'int32');
  assert.deepEqual(torch.full([2, 1], 7.5).toArray(), [[7.5], [7.5]]);
  assert.deepEqual(torch.full([2], 3, { dtype: 'int64' }).toArray(), [3, 3]);
  const fb = torch.full([2], true);
  assert.equal(fb.dtype, 'bool');
  assert.deepEqual(fb.toArray(), [true, true]);
  assert.deepEqual(torch.empty([4, 0, 2]).shape, [4, 0, 2]);
  assert.deepEqual(torch.zeros([]).shape, []);
  assert.equal(torch.zeros([], { dtype: 'float64' }).dtype, 'float64');

  const a = torch.arange(5);
  assert.equal(a.dtype, 'int64');
  assert.deepEqual(a.toArray(), [0, 1, 2, 3, 4]);
  assert.deepEqual(torch.arange(2, 8, 3).toArray(), [2, 5]);
  assert.deepEqual(torch.arange(5, 0, -2).toArray(), [5, 3, 1]);
  const af = torch.arange(0, 1, 0.25);
  assert.equal(af.dtype, 'float32');
  assert.deepEqual(af.toArray(), [0, 0.25, 0.5, 0.75]);
  assert.equal(torch.arange(3, undefined, 1, { dtype: 'float64' }).dtype, 'float64');

  assert.deepEqual(torch.linspace(0, 1, 5).toArray(), [0, 0.25, 0.5, 0.75, 1]);
  assert.deepEqual(torch.linspace(-1, 1, 1).toArray(), [-1]);
  assert.deepEqual(torch.linspace(2, 2, 0).shape, [0]);
  assert.deepEqual(torch.eye(3).toArray(), [[1, 0, 0], [0, 1, 0], [0, 0, 1]]);
  assert.deepEqual(torch.eye(2, 3).toArray(), [[1, 0, 0], [0, 1, 0]]);

  const like = torch.tensor([[1, 2]], { dtype: 'float64' });
  assert.deepEqual(like.zerosLike().toArray(), [[0, 0]]);
  assert.equal(like.onesLike().dtype, 'float64');
  assert.deepEqual(like.fullLike(4).toArray(), [[4, 4]]);
  assert.deepEqual(torch.scalarTensor(2.5).shape, []);
  // requiresGrad option on factories
  const g = torch.zeros([2], { requiresGrad: true });
  assert.equal(g.requiresGrad, true);
  assert.equal(g.isLeaf, true);
}));

test('rand/randn/randint/randperm/normal/bernoulli: ranges and moments', () => tidy(() => {
  torch.manualSeed(1);
  const n = 20000;
  const u = flat(torch.rand([n]));
  assert.ok(u.every((v) => v >= 0 && v < 1));
  const mean = (a: number[]): number => a.reduce((s, v) => s + v, 0) / a.length;
  const variance = (a: number[]): number => { const m = mean(a); return a.reduce((s, v) => s + (v - m) ** 2, 0) / a.length; };
  // standard error of the mean of U(0,1) over 2e4 draws is 0.002: 5 SE bounds
  assert.ok(Math.abs(mean(u) - 0.5) < 0.01);
  assert.ok(Math.abs(variance(u) - 1 / 12) < 0.005);
  const z = flat(torch.randn([n], { dtype: 'float64' }));
  assert.ok(Math.abs(mean(z)) < 0.04);
  assert.ok(Math.abs(variance(z) - 1) < 0.05);
  const nr = flat(torch.normal(3, 0.5, [n]));
  assert.ok(Math.abs(mean(nr) - 3) < 0.02);
  assert.ok(Math.abs(Math.sqrt(variance(nr)) - 0.5) < 0.02);

  const ri = torch.randint(-2, 3, [n]);
  assert.equal(ri.dtype, 'int64');
  const riv = flat(ri);
  assert.ok(riv.every((v) => Number.isInteger(v) && v >= -2 && v < 3));
  for (let k = -2; k < 3; k++) assert.ok(riv.includes(k), `randint never drew ${k}`);

  const p = torch.randperm(50);
  assert.equal(p.dtype, 'int64');
  assert.deepEqual(flat(p).sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));

  assert.deepEqual(flat(torch.bernoulli(0, [100])), new Array(100).fill(0));
  assert.deepEqual(flat(torch.bernoulli(1, [100])), new Array(100).fill(1));
  assert.ok(Math.abs(mean(flat(torch.bernoulli(0.3, [n]))) - 0.3) < 0.02);
  // bernoulli of a probability tensor: per-element probabilities
  const probs = torch.tensor([0, 1, 0, 1]);
  assert.deepEqual(torch.bernoulli(probs).toArray(), [0, 1, 0, 1]);
  assert.deepEqual(probs.bernoulliP(1).toArray(), [1, 1, 1, 1]);
  // normal with tensor mean/std: std 0 returns the mean exactly
  assert.deepEqual(torch.normalTensors(torch.tensor([1, -2]), torch.tensor([0, 0])).toArray(), [1, -2]);
}));

test('manualSeed makes the default stream reproducible; explicit generators are independent of it', () => tidy(() => {
  torch.manualSeed(123);
  const a = flat(torch.randn([5]));
  const ai = flat(torch.randint(0, 1000, [5]));
  torch.manualSeed(123);
  assert.deepEqual(flat(torch.randn([5])), a);
  assert.deepEqual(flat(torch.randint(0, 1000, [5])), ai);
  torch.manualSeed(124);
  assert.notDeepEqual(flat(torch.randn([5])), a);

  const g1 = new torch.Generator(7), g2 = new torch.Generator(7);
  const x1 = flat(torch.rand([5], { generator: g1 }));
  torch.manualSeed(999); // must not affect explicit generators
  torch.rand([3]);
  assert.deepEqual(flat(torch.rand([5], { generator: g2 })), x1);
  assert.notDeepEqual(flat(torch.rand([5], { generator: g1 })), x1, 'a generator advances');

  // state save / restore replays the same draws
  const g = new torch.Generator(42);
  const state = g.getState();
  const first = flat(torch.randn([4], { generator: g }));
  g.setState(state);
  assert.deepEqual(flat(torch.randn([4], { generator: g })), first);
  // in-place samplers take generators too
  const e1 = torch.empty([4]).uniform_(0, 1, new torch.Generator(5));
  const e2 = torch.empty([4]).uniform_(0, 1, new torch.Generator(5));
  assert.deepEqual(e1.toArray(), e2.toArray());
  assert.deepEqual(flat(torch.randperm(10, { generator: new torch.Generator(3) })), flat(torch.randperm(10, { generator: new torch.Generator(3) })));
}));

test('dtype conversion: to(dtype) values, shortcuts, copies, and errors', () => tidy(() => {
  const x = torch.tensor([1.5, -2.5, 0, 3.75]);
  assert.deepEqual(x.to('int32').toArray(), [1, -2, 0, 3]);
  assert.deepEqual(x.to('bool').toArray(), [true, true, false, true]);
  assert.deepEqual(x.long().toArray(), [1, -2, 0, 3]);
  assert.equal(x.double().dtype, 'float64');
  assert.equal(x.long().float().dtype, 'float32');
  assert.deepEqual(x.to('float16').toArray(), [1.5, -2.5, 0, 3.75]);
  assert.deepEqual(x.to({ dtype: 'bfloat16' }).to('float64').toArray(), [1.5, -2.5, 0, 3.75]);
  // uint8 wraps modulo 256 from integers, as in PyTorch
  assert.deepEqual(torch.tensor([255, 256, 257], { dtype: 'int32' }).to('uint8').toArray(), [255, 0, 1]);
  // same dtype and device: the same storage unless copy is asked for
  const same = x.to('float32');
  same.fill_(9);
  assert.deepEqual(x.toArray(), [9, 9, 9, 9]);
  const copy = x.to('float32', { copy: true });
  copy.fill_(1);
  assert.deepEqual(x.toArray(), [9, 9, 9, 9]);
  assert.throws(() => x.to('float128' as never), /neither a dtype .* nor a device/);
  assert.throws(() => torch.zeros([2], { dtype: 'float128' as never }), /unknown dtype 'float128'/);
  assert.throws(() => torch.zeros([2], { device: 'gpu' }), /invalid device 'gpu'/);
}));

test('devices: cpu everywhere; cuda round trip when a GPU is present', (t) => tidy(() => {
  const x = torch.tensor([[1, 2], [3, 4]]);
  assert.equal(x.device, 'cpu');
  assert.equal(x.cpu().device, 'cpu');
  if (!torch.cuda.isAvailable()) {
    assert.throws(() => x.cuda(), /cuda/i);
    t.skip('no CUDA device');
    return;
  }
  const g = x.cuda();
  assert.equal(g.device, 'cuda:0');
  assert.deepEqual(g.mul(2).cpu().toArray(), [[2, 4], [6, 8]]);
  const h = torch.zeros([3], { device: 'cuda', dtype: 'float16' });
  assert.equal(h.device, 'cuda:0');
  assert.deepEqual(h.toArray(), [0, 0, 0]);
  assert.equal(torch.tensor([1, 2], { device: 'cuda' }).device, 'cuda:0');
  const r = torch.randn([4], { device: 'cuda' });
  assert.equal(r.device, 'cuda:0');
  assertClose(x.cuda().matmul(x.cuda()), [[7, 10], [15, 22]]);
}));
