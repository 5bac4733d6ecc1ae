// One error path: libtorch failures become JS Errors naming the op and the shapes; bad arguments
// become TypeErrors naming the argument; the process stays alive.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';

checkNoLeaks();
const { tidy } = torch;
const F = torch.nn.functional;

/** The error fn throws (fails if it does not). */
function caught(fn: () => unknown): Error {
  try { fn(); } catch (e) { return e as Error; }
  assert.fail('expected an error');
}

test('a shape mismatch is a JS Error naming the op and both shapes, on one line', () => tidy(() => {
  const cases: [() => unknown, RegExp][] = [
    [() => torch.ones([2, 3]).add(torch.ones([4])), /^add\(self: \[2,3\], other: \[4\]\): The size of tensor a \(3\) must match the size of tensor b \(4\)/],
    [() => torch.ones([2, 3]).mul(torch.ones([3, 2])), /^mul\(self: \[2,3\], other: \[3,2\]\)/],
    [() => torch.ones([2, 3]).matmul(torch.ones([2, 3])), /^matmul\(self: \[2,3\], other: \[2,3\]\): mat1 and mat2 shapes cannot be multiplied \(2x3 and 2x3\)/],
    [() => F.conv2d(torch.ones([1, 3, 8, 8]), torch.ones([4, 2, 3, 3])), /^conv2d\(input: \[1,3,8,8\], weight: \[4,2,3,3\]\): .*channels/],
    [() => torch.cat([torch.ones([2, 3]), torch.ones([3, 4])], 0), /^cat\(tensors: \[\[2,3\], \[3,4\]\]\)/],
    [() => torch.ones([2, 2]).copy_(torch.ones([3])), /^copy_\(self: \[2,2\], src: \[3\]\)/],
    [() => torch.ones([2, 3]).reshape([4, 2]), /^reshape\(self: \[2,3\]\): shape '\[4, 2\]' is invalid for input of size 6/],
    [() => F.linear(torch.ones([5, 3]), torch.ones([2, 4])), /^linear\(input: \[5,3\], weight: \[2,4\]\)/],
  ];
  for (const [fn, re] of cases) {
    const e = caught(fn);
    assert.ok(e instanceof Error);
    assert.match(e.message, re);
    assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  }
  // still computing afterwards
  assert.deepEqual(torch.ones([2]).add(1).toArray(), [2, 2]);
}));

test('other libtorch failures (indices, dtypes, dims, internal asserts) are Errors too', () => tidy(() => {
  const x = torch.ones([2, 3]);
  assert.throws(() => x.indexSelect(0, torch.tensor([5], { dtype: 'int64' })), /^Error: index_select\(self: \[2,3\], index: \[1\]\): index out of range/);
  assert.throws(() => x.gather(1, torch.tensor([[5]], { dtype: 'int64' })), /gather.*index 5 is out of bounds/);
  assert.throws(() => x.matmul(torch.ones([3, 2], { dtype: 'float64' })), /matmul.*(expected|dtype|Double|Float)/i);
  assert.throws(() => x.sum(2), /sum\(self: \[2,3\]\): Dimension out of range/);
  assert.throws(() => F.crossEntropy(x, torch.tensor([0, 7], { dtype: 'int64' })), /cross_entropy_loss.*Target 7 is out of bounds/);
  assert.throws(() => torch.zeros([-1]), /zeros\(\): .*(negative dimension|must be non-negative)/); // 1.13 / 2.x wording
  assert.throws(() => x.item(), /item\(self: \[2,3\]\)/);
}));

test('bad dtype / device / memory-format strings are TypeErrors listing the valid ones', () => tidy(() => {
  const e = caught(() => torch.zeros([2], { dtype: 'float128' as never }));
  assert.ok(e instanceof TypeError);
  assert.match(e.message, /^zeros: unknown dtype 'float128' \(use float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8 or bool\)/);
  assert.throws(() => torch.tensor([1], { dtype: 'double' as never }), /tensor\(\): unknown dtype 'double'/);
  assert.throws(() => torch.ones([2]).to('half' as never), /to\(\): 'half' is neither a dtype/);
  assert.throws(() => torch.ones([2]).sum(null, false, 'int' as never), /sum: unknown dtype 'int'/);
  assert.throws(() => torch.arange(3, undefined, 1, { device: 'tpu' }), /invalid device 'tpu' \(use cpu or cuda\[:n\]\)/);
  assert.throws(() => torch.ones([1, 1, 1, 1]).contiguous('nchw' as never), /unknown memory format 'nchw'/);
}));

test('wrong argument types are TypeErrors naming the op, the argument and what it must be', () => tidy(() => {
  const x = torch.ones([2, 3]);
  const cases: [() => unknown, RegExp][] = [
    [() => x.add('a' as never), /^add: argument 1 'other' must be a Tensor or a number$/],
    [() => x.add(x, 'a' as never), /^add: argument 2 'alpha' must be a number$/],
    [() => x.reshape([2.5, 2]), /^reshape: argument 1 'shape' must be an array of integers$/],
    [() => (x.reshape as () => unknown)(), /^reshape: argument 1 'shape' must be an array of integers$/],
    [() => x.sum(1.5), /^sum: argument 1 'dim' must be an integer$/],
    [() => x.sort(0, 1 as never), /^sort: argument 2 'descending' must be a boolean$/],
    [() => F.conv2d(torch.ones([1, 1, 3, 3]), torch.ones([1, 1, 2, 2]), null, { stride: 'a' as never }), /^conv2d: argument 3 'stride' must be an integer or an array of integers$/],
    [() => torch.indexSelect(x, 0, [0] as never), /^index_select: argument 2 'index' must be a Tensor$/],
    [() => torch.cat([x, 3] as never), /^cat: argument 0 'tensors' must be an array of live Tensors$/],
    [() => torch.zeros(3 as never), /^zeros: argument 0 'size' must be an array of integers$/],
    // a Generator where a Tensor goes and the reverse: refused, not misread as the other native type
    [() => x.add(new torch.Generator(1) as never), /^add: argument 1 'other' must be a Tensor or a number$/],
    [() => torch.randn([2], { generator: x as never }), /^randn: argument 1 'generator' must be a Generator$/],
    [() => x.mul({ handle: {} } as never), /^mul: argument 1 'other' must be a Tensor or a number$/],
  ];
  for (const [fn, re] of cases) {
    const e = caught(fn);
    assert.ok(e instanceof TypeError, `${e.constructor.name}: ${e.message}`);
    assert.match(e.message, re);
  }
}));

test('the process survives a burst of native errors (checked in a child process)', () => {
  const torchIndex = path.join(repoRoot(), 'dist/src/torch/index.js');
  const script = `
    const torch = await import(${JSON.stringify(torchIndex)});
    let n = 0;
    for (let i = 0; i < 200; i++) {
      for (const f of [() => torch.ones([2]).add(torch.ones([3])), () => torch.ones([2]).indexSelect(0, torch.tensor([9], { dtype: 'int64' })),
                       () => torch.where(torch.tensor([true]), torch.ones([2]), torch.ones([3]))]) {
        try { torch.tidy(f); } catch { n++; }
      }
    }
    console.log(n, torch.ones([2]).sum().item());`;
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', script], { encoding: 'utf8', timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), '600 2');
});
