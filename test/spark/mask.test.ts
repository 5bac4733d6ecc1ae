// SparK's random patch masks (reference spark.py SparK.mask): per sample, the round(f·f·(1−ratio))
// patches with the smallest uniform draws of torch.rand(B, f·f) are visible. Same algorithm and the
// same generator (mt19937) as PyTorch, so a seeded generator gives PyTorch's masks.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { ResNet } from '../../src/models/index.js';
import { SparK, randomMask, visibleCount, checkMask } from '../../src/spark/index.js';
import { checkNoLeaks, flat } from '../helpers.js';
import { disposeModule, oneThread, pythonWithTorch, runPythonJson } from './support.js';

checkNoLeaks();
oneThread();

const visiblePerSample = (active: torch.Tensor): number[] =>
  torch.tidy(() => flat(active.to({ dtype: 'int64' }).view([active.size(0), -1]).sum(1)));

test('visibleCount is Python round(f·f·(1−ratio)): halves go to the even neighbour, as the reference', () => {
  // expected values written from Python's round(): round(19.6) = 20, round(3.6) = 4, round(4.5) = 4, round(24.5) = 24
  assert.equal(visibleCount(7, 0.6), 20);
  assert.equal(visibleCount(3, 0.6), 4);
  assert.equal(visibleCount(2, 0.6), 2);
  assert.equal(visibleCount(4, 0.75), 4);
  assert.equal(visibleCount(3, 0.5), 4);
  assert.equal(visibleCount(7, 0.5), 24);
  assert.equal(visibleCount(5, 0.5), 12);
  assert.equal(visibleCount(1, 0.5), 0);
  assert.equal(visibleCount(6, 0.75), 9);
});

test('randomMask: shape (B,1,f,f), bool, exactly round(f·f·(1−ratio)) visible patches in every sample', () => torch.tidy(() => {
  // keep = Python's round(f·f·(1−ratio)): 19.6 → 20, 3.6 → 4, 4 → 4, 12.5 → 12, 19.599… → 20
  for (const [B, f, ratio, keep] of [[5, 7, 0.6, 20], [3, 3, 0.6, 4], [4, 4, 0.75, 4], [6, 5, 0.5, 12], [2, 14, 0.9, 20]] as const) {
    const m = randomMask(B, f, ratio, { generator: new torch.Generator(11) });
    assert.deepEqual(m.shape, [B, 1, f, f]);
    assert.equal(m.dtype, 'bool');
    assert.deepEqual(visiblePerSample(m), Array(B).fill(keep), `B=${B} f=${f} ratio=${ratio}`);
  }
}));

test('a seeded generator gives the same masks; different seeds and successive draws differ', () => torch.tidy(() => {
  const a = randomMask(8, 7, 0.6, { generator: new torch.Generator(1234) });
  const b = randomMask(8, 7, 0.6, { generator: new torch.Generator(1234) });
  assert.ok(a.equal(b), 'same seed, same mask');
  const c = randomMask(8, 7, 0.6, { generator: new torch.Generator(1235) });
  assert.ok(!a.equal(c), 'another seed, another mask');
  const g = new torch.Generator(1234);
  const first = randomMask(8, 7, 0.6, { generator: g }), second = randomMask(8, 7, 0.6, { generator: g });
  assert.ok(first.equal(a) && !second.equal(first), 'a generator advances');
  // the samples of one batch are drawn independently
  const rows = flat(a.view([8, 49]).to({ dtype: 'int64' }));
  const distinct = new Set(Array.from({ length: 8 }, (_, i) => rows.slice(i * 49, (i + 1) * 49).join('')));
  assert.ok(distinct.size > 1, 'the samples of a batch do not all share one mask');
  // the default generator follows torch.manualSeed
  torch.manualSeed(77);
  const d1 = randomMask(4, 7, 0.6);
  torch.manualSeed(77);
  assert.ok(randomMask(4, 7, 0.6).equal(d1));
}));

test('the mask equals PyTorch\'s: torch.rand(B, f·f, generator).argsort(1)[:, :len_keep] with the same seed', { skip: pythonWithTorch() ? false : 'python3 with torch is not installed' }, () => {
  const cases: [number, number, number, number][] = [[4, 7, 0.6, 5], [3, 3, 0.6, 0], [2, 4, 0.75, 2024], [5, 6, 0.5, 9]];
  // the reference's SparK.mask, verbatim in algorithm; two masks per generator (it advances)
  const py = `
import sys, json, torch
out = []
for B, f, ratio, seed in json.loads(sys.argv[1]):
    g = torch.Generator().manual_seed(seed)
    len_keep = round(f * f * (1 - ratio))
    ms = []
    for _ in range(2):
        idx = torch.rand(B, f * f, generator=g).argsort(dim=1)[:, :len_keep]
        ms.append(torch.zeros(B, f * f, dtype=torch.bool).scatter_(dim=1, index=idx, value=True).view(B, 1, f, f).int().flatten().tolist())
    out.append(ms)
print(json.dumps(out))
`;
  const ref = runPythonJson(py, [JSON.stringify(cases)]) as number[][][];
  cases.forEach(([B, f, ratio, seed], i) => torch.tidy(() => {
    const g = new torch.Generator(seed);
    for (let k = 0; k < 2; k++) {
      const ours = flat(randomMask(B, f, ratio, { generator: g }).to({ dtype: 'int32' }));
      assert.deepEqual(ours, ref[i][k], `case ${JSON.stringify(cases[i])} draw ${k}`);
    }
  }));
});

// A small SparK for the mask plumbing: ResNet basic [1,1,1,1], input 64 → f = 2, decoder width 32.
function tinySpark(maskRatio = 0.6, inputSize = 64): SparK {
  const enc = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 8, 16, 16], stemWidth: 8, numClasses: 0, globalPool: '' });
  try {
    return new SparK(enc, { inputSize, maskRatio, decoderWidth: 32 });
  } catch (e) { disposeModule(enc); throw e; }
}

test('SparK: a caller-supplied mask (bool or 0/1 integers) is used as given; SparK.mask draws from its generator', () => {
  const m = tinySpark();
  try {
    torch.tidy(() => {
      assert.equal(m.fmapSize, 2);
      assert.equal(m.lenKeep, 2);
      const x = torch.randn([2, 3, 64, 64], { generator: new torch.Generator(3) });
      const active = torch.tensor([[[[1, 0], [0, 1]]], [[[0, 1], [1, 0]]]], { dtype: 'bool' });
      m.eval();
      const a = m.forward(x, { active });
      const b = m.forward(x, { active: active.to({ dtype: 'uint8' }) });
      assert.equal(a.item(), b.item(), 'uint8 mask = bool mask');
      const other = m.forward(x, { active: active.logicalNot() });
      assert.notEqual(a.item(), other.item(), 'the mask given is the mask used');
      // no mask: drawn from the generator, as randomMask with the same seed
      const drawn = m.forward(x, { generator: new torch.Generator(8) });
      const same = m.forward(x, { active: m.mask(2, { generator: new torch.Generator(8) }) });
      assert.equal(drawn.item(), same.item());
      assert.deepEqual(visiblePerSample(m.mask(3)), [2, 2, 2]);
    });
  } finally { disposeModule(m); }
});

test('bad masks are rejected with one line naming the expected shape', () => {
  const m = tinySpark();
  try {
    torch.tidy(() => {
      const x = torch.randn([2, 3, 64, 64]);
      const bad: [number[], string][] = [[[2, 1, 3, 3], 'wrong patch grid'], [[3, 1, 2, 2], 'wrong batch'], [[2, 2, 2], '3-D'], [[2, 2, 2, 2], 'two channels']];
      for (const [shape, what] of bad) {
        assert.throws(() => m.forward(x, { active: torch.ones(shape, { dtype: 'bool' }) }), (e: Error) => {
          assert.match(e.message, /mask must have shape \[2,1,2,2\]/, what);
          assert.ok(e.message.includes(`got [${shape}]`), e.message);
          assert.ok(!e.message.includes('\n'), 'one line');
          return true;
        });
        assert.throws(() => m.visualize(x, torch.ones(shape, { dtype: 'bool' })), /mask must have shape \[2,1,2,2\]/);
      }
      assert.throws(() => checkMask(torch.ones([1, 1, 7, 7]), 1, 6), /mask must have shape \[1,1,6,6\].*got \[1,1,7,7\]/);
      assert.throws(() => m.forward(torch.randn([2, 3, 96, 96])), /SparK expects images of shape \[B,3,64,64\], got \[2,3,96,96\]/);
    });
  } finally { disposeModule(m); }
  for (const ratio of [0, 1, -0.1, 1.5, Number.NaN]) {
    assert.throws(() => tinySpark(ratio), /mask ratio must be in \(0, 1\)/, `ratio ${ratio}`);
  }
  assert.throws(() => tinySpark(0.6, 100), /input size 100 is not a multiple of the encoder's downsample ratio 32; use e\.g\. 96/);
});
