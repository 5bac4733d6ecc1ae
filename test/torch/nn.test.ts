// nn: Module tree (registration, names and state-dict order as PyTorch's), state-dict round trips,
// train/eval, apply, to(dtype), parameter counts, layer forwards, BatchNorm running statistics,
// DropPath, default initialisation and the init functions.
import { test, afterEach } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat } from '../helpers.js';
import { Net, NET_KEYS, NET_PARAMS, NET_NUMEL } from './nets.js';

checkNoLeaks();
// Module tensors are kept out of tidy(): every module a test makes is disposed after it.
const made: nn.Module[] = [];
function mk<M extends nn.Module>(m: M): M { made.push(m); return m; }
afterEach(() => { for (const m of made.splice(0)) m.dispose(); });
const { tidy, tensor } = torch;
const F = nn.functional;
// spread-free extremes: large arrays overflow the argument-count limit of a spread call
const maxOf = (a: number[]): number => a.reduce((m, x) => Math.max(m, x), -Infinity);
const minOf = (a: number[]): number => a.reduce((m, x) => Math.min(m, x), Infinity);
const maxAbs = (a: number[]): number => maxOf(a.map(Math.abs));

test('state-dict keys, named parameters/buffers/modules follow PyTorch\'s order', () => tidy(() => {
  const net = mk(new Net());
  assert.deepEqual([...net.stateDict().keys()], NET_KEYS);
  assert.deepEqual(net.namedParameters().map(([n]) => n), NET_PARAMS);
  assert.deepEqual(net.namedBuffers().map(([n]) => n),
    ['pos', 'stem.1.running_mean', 'stem.1.running_var', 'stem.1.num_batches_tracked', 'blocks.0.scale', 'blocks.1.scale'],
    'named_buffers includes non-persistent buffers');
  assert.deepEqual(net.namedModules().map(([n]) => n),
    ['', 'stem', 'stem.0', 'stem.1', 'stem.2', 'blocks', 'blocks.0', 'blocks.0.conv', 'blocks.0.norm', 'blocks.1', 'blocks.1.conv', 'blocks.1.norm', 'head']);
  assert.deepEqual(net.namedChildren().map(([n]) => n), ['stem', 'blocks', 'head']);
  assert.deepEqual(net.namedParameters('', false).map(([n]) => n), ['mask_token']);
  assert.deepEqual([...net.stateDict('module.').keys()].slice(0, 2), ['module.mask_token', 'module.pos']);
  assert.equal(net.numParameters(), NET_NUMEL);
  assert.ok(net.parameters().every((p) => p.requiresGrad && p.isLeaf));
  assert.ok(net.buffers().every((b) => !b.requiresGrad));
  assert.equal(net.stateDict().get('head.weight'), net.head.weight, 'the state dict holds the live tensors');
  // a shared (tied) parameter: listed once by parameters(), under both names in the state dict
  const tied = mk(new nn.Sequential(mk(new nn.Linear(4, 4)), mk(new nn.Linear(4, 4))));
  const replaced = (tied.at(1) as nn.Linear).weight;
  (tied.at(1) as nn.Linear).setTensor('weight', (tied.at(0) as nn.Linear).weight);
  replaced.dispose(); // kept tensors are the caller's to free once out of the module
  assert.equal(tied.parameters().length, 3);
  assert.equal(tied.numParameters(), 16 + 4 + 4);
  assert.deepEqual([...tied.stateDict().keys()], ['0.weight', '0.bias', '1.weight', '1.bias']);
  // forward runs
  assert.deepEqual(net.forward(torch.randn([2, 3, 6, 6])).shape, [2, 10]);
}));

test('state-dict round trip copies values (and converts dtype); the model keeps its own tensors', () => tidy(() => {
  const a = mk(new Net()), b = mk(new Net());
  torch.noGrad(() => a.stateDict().get('stem.1.running_mean')!.fill_(0.25));
  const report = b.loadStateDict(a.stateDict());
  assert.deepEqual(report, { missingKeys: [], unexpectedKeys: [] });
  for (const [k, v] of a.stateDict()) assert.ok(b.stateDict().get(k)!.equal(v), k);
  const before = flat(b.head.weight);
  torch.noGrad(() => a.head.weight.add_(1));
  assert.deepEqual(flat(b.head.weight), before, 'copied, not aliased');
  // a float64 state dict (as a plain object) loads into the float32 model, converted
  const sd64: Record<string, torch.Tensor> = {};
  for (const [k, v] of a.stateDict()) sd64[k] = v.dtype === 'float32' ? v.double() : v;
  b.loadStateDict(sd64);
  assert.equal(b.head.weight.dtype, 'float32');
  assertClose(b.head.weight, a.head.weight, { atol: 0 });
  // outputs agree after loading
  a.eval(); b.eval();
  const x = torch.randn([1, 3, 5, 5]);
  assertClose(b.forward(x), a.forward(x), { atol: 0 });
}));

test('strict loading reports missing and unexpected keys; non-strict loads the rest and returns them', () => tidy(() => {
  const net = mk(new Net());
  const sd = new Map(mk(new Net()).stateDict());
  sd.delete('head.bias');
  sd.delete('stem.1.num_batches_tracked');
  sd.set('extra.weight', torch.zeros([1]));
  assert.throws(() => net.loadStateDict(sd),
    /^Error: loadStateDict: state dict does not match the model; missing keys: stem\.1\.num_batches_tracked, head\.bias; unexpected keys: extra\.weight$/);
  const headBefore = flat(net.head.weight);
  assert.notDeepEqual(flat(sd.get('head.weight')!), headBefore);
  const report = net.loadStateDict(sd, { strict: false });
  assert.deepEqual(report, { missingKeys: ['stem.1.num_batches_tracked', 'head.bias'], unexpectedKeys: ['extra.weight'] });
  assert.deepEqual(flat(net.head.weight), flat(sd.get('head.weight')!), 'present keys were loaded');
}));

test('a shape mismatch names the key and both shapes, even non-strict, and loads nothing', () => tidy(() => {
  const net = mk(new Net());
  const sd = new Map(mk(new Net()).stateDict());
  sd.set('head.weight', torch.zeros([5, 8]));
  const stemBefore = flat(net.stem.at(0).getParameter('weight')!);
  for (const strict of [true, false]) {
    assert.throws(() => net.loadStateDict(sd, { strict }), /loadStateDict: size mismatch for head\.weight: the checkpoint has \[5,8\], the model has \[10,8\]/);
  }
  assert.deepEqual(flat(net.stem.at(0).getParameter('weight')!), stemBefore, 'nothing copied before the error');
}));

test('train/eval reach every module; apply visits children first; zeroGrad', () => tidy(() => {
  const net = mk(new Net());
  assert.ok(net.modules().every((m) => m.training));
  net.eval();
  assert.ok(net.modules().every((m) => !m.training));
  net.train();
  assert.ok(net.modules().every((m) => m.training));
  net.blocks.train(false);
  assert.equal(net.training, true);
  assert.equal(net.blocks.at(1).norm.training, false);
  // PyTorch: module.apply(fn) = for child in children: child.apply(fn); then fn(self)
  const order: string[] = [];
  const names = new Map(net.namedModules().map(([n, m]) => [m, n || '<root>']));
  net.apply((m) => order.push(names.get(m)!));
  assert.deepEqual(order, ['stem.0', 'stem.1', 'stem.2', 'stem', 'blocks.0.conv', 'blocks.0.norm', 'blocks.0', 'blocks.1.conv', 'blocks.1.norm', 'blocks.1', 'blocks', 'head', '<root>']);
  net.forward(torch.randn([1, 3, 4, 4])).sum().backward();
  assert.ok(net.parameters().every((p) => { const g = p.grad; return g !== null; }));
  net.zeroGrad();
  assert.ok(net.parameters().every((p) => p.grad === null));
}));

test('to(dtype) converts floating parameters and buffers in place, keeps identity and int buffers', () => tidy(() => {
  const net = mk(new Net());
  const w = net.head.weight;
  const vals = flat(w);
  net.to('float64');
  assert.equal(net.head.weight, w, 'same Tensor object');
  assert.equal(w.dtype, 'float64');
  assert.deepEqual(flat(w), vals.map((v) => Math.fround(v)));
  assert.ok(w.requiresGrad);
  assert.equal(net.stateDict().get('stem.1.num_batches_tracked')!.dtype, 'int64');
  assert.equal(net.stateDict().get('pos')!.dtype, 'float64');
  assert.equal(net.getBuffer('pos')!.dtype, 'float64');
  const y = net.forward(torch.randn([1, 3, 4, 4], { dtype: 'float64' }));
  assert.equal(y.dtype, 'float64');
  y.sum().backward();
  assert.equal(w.grad!.dtype, 'float64');
  net.to({ dtype: 'float32' });
  assert.equal(w.dtype, 'float32');
}));

test('layers forward as their functional form with their own parameters and options', () => tidy(() => {
  const x = torch.randn([2, 4, 7, 6]);
  const conv = mk(new nn.Conv2d(4, 6, [3, 2], { stride: 2, padding: [1, 0], dilation: [1, 2], groups: 2 }));
  assert.deepEqual(conv.weight.shape, [6, 2, 3, 2]);
  assertClose(conv.forward(x), F.conv2d(x, conv.weight, conv.bias, { stride: 2, padding: [1, 0], dilation: [1, 2], groups: 2 }), { atol: 0 });
  const deconv = mk(new nn.ConvTranspose2d(4, 6, 4, { stride: 2, padding: 1, groups: 2 }));
  assert.deepEqual(deconv.weight.shape, [4, 3, 4, 4], 'transposed weight layout (in, out/groups, kh, kw)');
  assert.deepEqual(deconv.forward(x).shape, [2, 6, 14, 12]);
  assertClose(deconv.forward(x), F.convTranspose2d(x, deconv.weight, deconv.bias, { stride: 2, padding: 1, groups: 2 }), { atol: 0 });
  assert.throws(() => mk(new nn.Conv2d(4, 6, 3, { groups: 4 })), /divisible by groups/);
  assert.throws(() => mk(new nn.ConvTranspose2d(3, 6, 3, { groups: 2 })), /divisible by groups/);
  assert.equal(mk(new nn.Conv2d(4, 6, 3, { bias: false })).bias, null);
  const lin = mk(new nn.Linear(6, 3));
  assertClose(lin.forward(x), F.linear(x, lin.weight, lin.bias), { atol: 0 });
  assert.deepEqual([...mk(new nn.Linear(2, 2, { bias: false })).stateDict().keys()], ['weight']);
  assertClose(mk(new nn.MaxPool2d(2)).forward(x), F.maxPool2d(x, 2, { stride: 2 }), { atol: 0 });
  assertClose(mk(new nn.MaxPool2d(3, { stride: 2, padding: 1 })).forward(x), F.maxPool2d(x, 3, { stride: 2, padding: 1 }), { atol: 0 });
  assertClose(mk(new nn.AvgPool2d(2, { stride: 1, countIncludePad: false, padding: 1 })).forward(x), F.avgPool2d(x, 2, { stride: 1, padding: 1, countIncludePad: false }), { atol: 0 });
  assertClose(mk(new nn.AdaptiveAvgPool2d([1, 1])).forward(x), x.mean([2, 3], true), { atol: 1e-6 });
  assertClose(mk(new nn.ReLU()).forward(x), x.relu(), { atol: 0 });
  assertClose(mk(new nn.ReLU6()).forward(x.mul(5)), x.mul(5).clamp(0, 6), { atol: 0 });
  assertClose(mk(new nn.GELU('tanh')).forward(x), F.gelu(x, { approximate: 'tanh' }), { atol: 0 });
  assertClose(mk(new nn.GELU()).forward(x), F.gelu(x), { atol: 0 });
  assertClose(mk(new nn.SiLU()).forward(x), x.silu(), { atol: 0 });
  assert.equal(mk(new nn.Identity()).forward(x), x);
  const ln = mk(new nn.LayerNorm([7, 6], 1e-6));
  assertClose(ln.forward(x), F.layerNorm(x, [7, 6], { eps: 1e-6 }), { atol: 0 });
  assert.equal(mk(new nn.LayerNorm(4, 1e-5, false)).weight, null);
  const gn = mk(new nn.GroupNorm(2, 4));
  assertClose(gn.forward(x), F.groupNorm(x, 2), { atol: 1e-6 }); // the affine kernel rounds differently
  assert.throws(() => mk(new nn.GroupNorm(3, 4)), /not divisible/);
  const drop = mk(new nn.Dropout(0.5));
  assert.ok(flat(drop.forward(x)).some((v) => v === 0));
  drop.eval();
  assert.equal(drop.forward(x), x, 'identity in eval');
  // containers
  const seq = mk(new nn.Sequential(mk(new nn.Linear(6, 5)), mk(new nn.ReLU())));
  seq.append(mk(new nn.Linear(5, 2)));
  assert.equal(seq.length, 3);
  assert.ok(seq.at(-1) instanceof nn.Linear);
  assert.deepEqual(seq.forward(x).shape, [2, 4, 7, 2]);
  const pl = mk(new nn.ParameterList([torch.zeros([2]), torch.ones([3])]));
  assert.deepEqual([...pl.stateDict().keys()], ['0', '1']);
  assert.equal([...pl].length, 2);
  assert.ok(pl.at(1).requiresGrad);
  assert.throws(() => mk(new nn.ModuleList()).forward(), /container/);
}));

test('BatchNorm: running statistics vs hand computation (momentum, unbiased var, num_batches_tracked, momentum=null)', () => tidy(() => {
  // two channels, N=2, H=1, W=2: channel values written out
  const x1 = tensor([[[[1, 3]], [[0, 0]]], [[[5, 7]], [[2, -2]]]]); // ch0: 1,3,5,7 (mean 4, ss 20); ch1: 0,0,2,-2 (mean 0, ss 8)
  const x2 = tensor([[[[2, 2]], [[1, 3]]], [[[2, 2]], [[5, 7]]]]); // ch0: 2,2,2,2 (mean 2, ss 0); ch1: 1,3,5,7 (mean 4, ss 20)
  const bn = mk(new nn.BatchNorm2d(2));
  assert.deepEqual([...bn.stateDict().keys()], ['weight', 'bias', 'running_mean', 'running_var', 'num_batches_tracked']);
  assert.deepEqual(flat(bn.weight!), [1, 1]);
  assert.deepEqual(flat(bn.bias!), [0, 0]);
  const y = bn.forward(x1);
  // training output uses the biased batch variance: ch0 (x-4)/sqrt(5+eps)
  assertClose(y.select(1, 0).flatten(), [1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5 + 1e-5)), { atol: 1e-6 });
  assertClose(bn.runningMean!, [0.1 * 4, 0.1 * 0], { atol: 1e-7 });
  assertClose(bn.runningVar!, [0.9 + 0.1 * 20 / 3, 0.9 + 0.1 * 8 / 3], { atol: 1e-6 });
  assert.equal(bn.getBuffer('num_batches_tracked')!.item(), 1);
  bn.forward(x2);
  assertClose(bn.runningMean!, [0.9 * 0.4 + 0.1 * 2, 0.1 * 4], { atol: 1e-6 });
  assertClose(bn.runningVar!, [0.9 * (0.9 + 2 / 3) + 0, 0.9 * (0.9 + 0.8 / 3) + 0.1 * 20 / 3], { atol: 1e-6 });
  assert.equal(bn.getBuffer('num_batches_tracked')!.item(), 2);
  // eval: normalise with the running statistics, update nothing
  bn.eval();
  const rm = flat(bn.runningMean!), rv = flat(bn.runningVar!);
  const ye = bn.forward(x1);
  assertClose(ye.select(1, 1).flatten(), [0, 0, 2, -2].map((v) => (v - rm[1]) / Math.sqrt(rv[1] + 1e-5)), { atol: 1e-6 });
  assert.deepEqual(flat(bn.runningMean!), rm);
  assert.equal(bn.getBuffer('num_batches_tracked')!.item(), 2);

  // momentum = null: cumulative moving average of the batch statistics
  const cum = mk(new nn.BatchNorm2d(2, { momentum: null }));
  cum.forward(x1);
  assertClose(cum.runningMean!, [4, 0], { atol: 1e-6 });
  assertClose(cum.runningVar!, [20 / 3, 8 / 3], { atol: 1e-6 });
  cum.forward(x2);
  assertClose(cum.runningMean!, [3, 2], { atol: 1e-6 });
  assertClose(cum.runningVar!, [(20 / 3 + 0) / 2, (8 / 3 + 20 / 3) / 2], { atol: 1e-6 });
  // momentum 0.3 and eps
  const m3 = mk(new nn.BatchNorm2d(2, { momentum: 0.3, eps: 0.5 }));
  const y3 = m3.forward(x1);
  assertClose(m3.runningMean!, [1.2, 0], { atol: 1e-6 });
  assertClose(y3.select(1, 0).flatten(), [1, 3, 5, 7].map((v) => (v - 4) / Math.sqrt(5 + 0.5)), { atol: 1e-6 });
  // affine=false: no parameters; trackRunningStats=false: no buffers and batch statistics in eval too
  const plain = mk(new nn.BatchNorm2d(2, { affine: false, trackRunningStats: false }));
  assert.deepEqual([...plain.stateDict().keys()], []);
  plain.eval();
  assertClose(plain.forward(x1), F.batchNorm(x1, null, null, { training: true }), { atol: 0 });
  // BatchNorm1d over (N, C) and (N, C, L); dimension checks
  const b1 = mk(new nn.BatchNorm1d(2));
  b1.forward(tensor([[1, 0], [3, 2]]));
  assertClose(b1.runningMean!, [0.2, 0.1], { atol: 1e-7 });
  assertClose(b1.runningVar!, [0.9 + 0.1 * 2, 0.9 + 0.1 * 2], { atol: 1e-6 });
  assert.deepEqual(b1.forward(torch.zeros([2, 2, 5])).shape, [2, 2, 5]);
  assert.throws(() => b1.forward(torch.zeros([2, 2, 2, 2])), /BatchNorm1d: expected a 2-D \(N,C\) or 3-D \(N,C,L\) input, got \[2,2,2,2\]/);
  assert.throws(() => bn.forward(torch.zeros([2, 2])), /BatchNorm2d: expected a 4-D \(N,C,H,W\) input, got \[2,2\]/);
  // gradients flow to weight and bias in training mode
  const g = mk(new nn.BatchNorm2d(2));
  g.forward(x1).mul(tensor([[[[1]], [[2]]]])).sum().backward();
  assertClose(g.bias!.grad!, [4, 8], { atol: 1e-6 });
}));

test('DropPath: per-sample, scaled by 1/keep, identity in eval or at 0', () => tidy(() => {
  torch.manualSeed(11);
  const x = torch.ones([4000, 3, 2]);
  const dp = mk(new nn.DropPath(0.25));
  const y = dp.forward(x);
  const rows = (y.reshape([4000, 6]).toArray() as number[][]);
  let dropped = 0;
  for (const r of rows) {
    // every element of a sample shares one draw: all 0 or all 1/keep
    assert.ok(r.every((v) => v === 0) || r.every((v) => Math.abs(v - 1 / 0.75) < 1e-6), `sample ${r}`);
    if (r[0] === 0) dropped++;
  }
  assert.ok(Math.abs(dropped / 4000 - 0.25) < 0.03, `dropped ${dropped / 4000}`);
  assertClose([y.mean().item()], [1], { atol: 0.05 }, 'expectation preserved');
  const noScale = nn.dropPath(x, 0.5, true, false);
  assert.ok(flat(noScale).every((v) => v === 0 || v === 1));
  dp.eval();
  assert.equal(dp.forward(x), x);
  assert.equal(mk(new nn.DropPath(0)).forward(x), x);
  // gradient: per-sample mask times 1/keep
  dp.train();
  const z = torch.ones([8, 2], { requiresGrad: true });
  torch.manualSeed(5);
  const out = dp.forward(z);
  out.sum().backward();
  assertClose(z.grad!, out.detach(), { atol: 0 });
}));

test('default initialisation: kaiming-uniform(a=√5) weights and fan-in bias bounds; norms at 1/0', () => tidy(() => {
  torch.manualSeed(0);
  const check = (w: torch.Tensor, bound: number, what: string): void => {
    const v = flat(w);
    const top = maxAbs(v);
    assert.ok(top <= bound, `${what}: ${top} > bound ${bound}`);
    assert.ok(top > 0.97 * bound, `${what}: max ${top} far below the bound ${bound}: not U(-b, b)`);
    const variance = v.reduce((s, x) => s + x * x, 0) / v.length;
    assert.ok(Math.abs(variance / (bound * bound / 3) - 1) < 0.08, `${what}: variance ${variance} vs ${bound * bound / 3}`);
  };
  // Linear(in=200): gain(leaky_relu, √5) = √(1/3), bound = gain·√(3/fan_in) = 1/√200
  const lin = mk(new nn.Linear(200, 150));
  check(lin.weight, 1 / Math.sqrt(200), 'linear weight');
  const bias = flat(lin.bias!);
  assert.ok(bias.every((b) => Math.abs(b) <= 1 / Math.sqrt(200)) && maxAbs(bias) > 0.8 / Math.sqrt(200));
  // Conv2d: fan_in = in/groups · kh · kw
  const conv = mk(new nn.Conv2d(16, 64, 3, { groups: 2 }));
  check(conv.weight, 1 / Math.sqrt(8 * 9), 'conv weight');
  assert.ok(flat(conv.bias!).every((b) => Math.abs(b) <= 1 / Math.sqrt(72)));
  // ConvTranspose2d: PyTorch computes fan_in from weight.size(1) = out/groups: 32/1 · 4·4
  const de = mk(new nn.ConvTranspose2d(64, 32, 4));
  check(de.weight, 1 / Math.sqrt(32 * 16), 'transposed conv weight');
  assert.ok(flat(de.bias!).every((b) => Math.abs(b) <= 1 / Math.sqrt(512)));
  const bn = mk(new nn.BatchNorm2d(3));
  assert.deepEqual([flat(bn.weight!), flat(bn.bias!), flat(bn.runningMean!), flat(bn.runningVar!)], [[1, 1, 1], [0, 0, 0], [0, 0, 0], [1, 1, 1]]);
  const ln = mk(new nn.LayerNorm(3)), gn = mk(new nn.GroupNorm(1, 3));
  assert.deepEqual([flat(ln.weight!), flat(ln.bias!), flat(gn.weight!), flat(gn.bias!)], [[1, 1, 1], [0, 0, 0], [1, 1, 1], [0, 0, 0]]);
}));

test('init functions: gains, kaiming normal/uniform, xavier, normal/uniform/constant/zeros/ones, generators', () => tidy(() => {
  const init = nn.init;
  assert.equal(init.calculateGain('relu'), Math.SQRT2);
  assert.equal(init.calculateGain('tanh'), 5 / 3);
  assert.equal(init.calculateGain('leaky_relu', Math.sqrt(5)), Math.sqrt(2 / 6));
  assert.equal(init.calculateGain('linear'), 1);
  assert.deepEqual(init.calculateFanInAndFanOut(torch.empty([8, 4, 3, 2])), [24, 48]);
  assert.throws(() => init.calculateFanInAndFanOut(torch.empty([5])), /at least 2 dims/);
  const moments = (t: torch.Tensor): [number, number] => {
    const v = flat(t); const m = v.reduce((a, b) => a + b, 0) / v.length;
    return [m, Math.sqrt(v.reduce((a, b) => a + (b - m) ** 2, 0) / v.length)];
  };
  torch.manualSeed(1);
  // timm ResNet: kaiming_normal_(mode='fan_out', nonlinearity='relu'): std = √2/√(out·k·k)
  const w = torch.empty([128, 64, 3, 3]);
  init.kaimingNormal_(w, { mode: 'fan_out', nonlinearity: 'relu' });
  const [m1, s1] = moments(w);
  assert.ok(Math.abs(m1) < 0.002 && Math.abs(s1 / (Math.SQRT2 / Math.sqrt(128 * 9)) - 1) < 0.02, `kaiming normal std ${s1}`);
  init.kaimingUniform_(w, { nonlinearity: 'relu' }); // bound = √2·√(3/fan_in)
  const b2 = Math.SQRT2 * Math.sqrt(3 / (64 * 9));
  assert.ok(maxAbs(flat(w)) <= b2 && maxAbs(flat(w)) > 0.99 * b2);
  const xw = torch.empty([300, 200]);
  init.xavierUniform_(xw, { gain: 2 });
  const xb = 2 * Math.sqrt(6 / 500);
  assert.ok(maxAbs(flat(xw)) <= xb && maxAbs(flat(xw)) > 0.99 * xb);
  init.xavierNormal_(xw);
  assert.ok(Math.abs(moments(xw)[1] / Math.sqrt(2 / 500) - 1) < 0.02);
  init.normal_(xw, 3, 0.5);
  const [m3, s3] = moments(xw);
  assert.ok(Math.abs(m3 - 3) < 0.01 && Math.abs(s3 - 0.5) < 0.01);
  init.uniform_(xw, -2, -1);
  assert.ok(flat(xw).every((v) => v >= -2 && v < -1));
  init.constant_(xw, 0.7);
  assert.ok(flat(xw).every((v) => Math.abs(v - 0.7) < 1e-7));
  init.zeros_(xw);
  assert.ok(flat(xw).every((v) => v === 0));
  init.ones_(xw);
  assert.ok(flat(xw).every((v) => v === 1));
  // on a parameter (requires grad) without complaint; with explicit generators, reproducibly
  const p = nn.parameter(torch.empty([3, 4]));
  init.kaimingUniform_(p, { generator: new torch.Generator(9) });
  const q = torch.empty([3, 4]);
  init.kaimingUniform_(q, { generator: new torch.Generator(9) });
  assert.deepEqual(flat(p), flat(q));
  assert.equal(p.requiresGrad, true);
  p.dispose(); // parameter() keeps it out of tidy
}));

test('trunc_normal_: values within [a, b], truncated-normal moments (mean, std, a, b are absolute)', () => tidy(() => {
  const init = nn.init;
  const t = torch.empty([200000]);
  torch.manualSeed(2);
  init.truncNormal_(t); // N(0,1) truncated to [-2, 2]
  const v = flat(t);
  assert.ok(v.every((x) => x >= -2 && x <= 2));
  assert.ok(minOf(v) < -1.99 && maxOf(v) > 1.99, 'reaches the bounds');
  const mean = v.reduce((a, b) => a + b, 0) / v.length;
  const variance = v.reduce((a, b) => a + (b - mean) ** 2, 0) / v.length;
  // Var = 1 - 2·2·φ(2)/(Φ(2) - Φ(-2)), φ(2) = e^-2/√(2π), Φ(2) - Φ(-2) = erf(√2)
  const phi2 = Math.exp(-2) / Math.sqrt(2 * Math.PI);
  const mass = torch.tensor([Math.SQRT2], { dtype: 'float64' }).erf().item();
  assert.ok(Math.abs(mean) < 0.01, `mean ${mean}`);
  assert.ok(Math.abs(variance - (1 - 4 * phi2 / mass)) < 0.01, `variance ${variance} vs ${1 - 4 * phi2 / mass}`);
  // timm's usage: std .02 with bounds ±2 (absolute, 100 std away): an untruncated N(0, .02²)
  init.truncNormal_(t, { std: 0.02 });
  const w = flat(t);
  const sd = Math.sqrt(w.reduce((a, b) => a + b * b, 0) / w.length);
  assert.ok(Math.abs(sd - 0.02) < 0.0005, `std ${sd}`);
  // asymmetric bounds around a mean: all within, mean of N(1, 1) on [0.5, 3] is above 1
  init.truncNormal_(t, { mean: 1, std: 1, a: 0.5, b: 3 });
  const u = flat(t);
  assert.ok(u.every((x) => x >= 0.5 && x <= 3));
  const um = u.reduce((a, b) => a + b, 0) / u.length;
  // E = μ + σ(φ(α) - φ(β))/(Φ(β) - Φ(α)), α = -0.5, β = 2
  const pdf = (z: number): number => Math.exp(-z * z / 2) / Math.sqrt(2 * Math.PI);
  const cdf = (z: number): number => (1 + torch.tensor([z / Math.SQRT2], { dtype: 'float64' }).erf().item()) / 2;
  const expected = 1 + (pdf(-0.5) - pdf(2)) / (cdf(2) - cdf(-0.5));
  assert.ok(Math.abs(um - expected) < 0.01, `mean ${um} vs ${expected}`);
}));

test('init.withoutDefaultInit: layers built inside draw no random numbers; the default init is back afterwards, also after a throw', () => {
  const draw = (): number => torch.tidy(() => torch.rand([1]).item());
  torch.manualSeed(5);
  const expect = draw();
  torch.manualSeed(5);
  const lin = nn.init.withoutDefaultInit(() => new nn.Linear(64, 64));
  const conv = nn.init.withoutDefaultInit(() => new nn.Conv2d(3, 8, 3));
  assert.equal(draw(), expect, 'no draws were made');
  assert.throws(() => nn.init.withoutDefaultInit(() => { throw new Error('boom'); }), /boom/);
  assert.equal(nn.init.defaultInitSkipped(), false);
  torch.manualSeed(5);
  const after = new nn.Linear(64, 64);
  assert.notEqual(draw(), expect, 'outside, the default init draws again');
  for (const m of [lin, conv, after]) torch.dispose(m.parameters());
});
