// In-place activations and the scalar-exponent pow that the SparK step relies on for speed must not
// change a single number.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { sparseContext } from '../../src/spark/sparse.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();

test('x.pow(0.5) equals x.sqrt() exactly and x.pow(2) equals x*x (scalar-exponent kernel, as Python)', () => torch.tidy(() => {
  const x = torch.rand([4096], { generator: new torch.Generator(3) }).add(0.01);
  assert.ok(x.pow(0.5).equal(x.sqrt()));
  assert.ok(x.pow(2).equal(x.mul(x)));
}));

test('ReLU/ReLU6 in place after a sparse BatchNorm: same values and gradients as out of place', () => torch.tidy(() => {
  const gen = new torch.Generator(7);
  const active = torch.bernoulli(0.5, [2, 1, 4, 4], { generator: gen }).bool();
  for (const Act of [nn.ReLU, nn.ReLU6]) {
    const results = [false, true].map((inplace) => torch.tidy(() => {
      const bn = new nn.BatchNorm2d(3);
      const act = new Act(inplace);
      const x = torch.randn([2, 3, 4, 4], { generator: new torch.Generator(11) }).mul(4).requiresGrad_();
      const y = act.forward(bn.forward(x, sparseContext(active)));
      y.mul(torch.arange(0, 96, 1, { dtype: 'float32' }).reshape([2, 3, 4, 4])).sum().backward();
      const out = [y.detach().clone(), x.grad!, bn.weight!.grad!];
      bn.dispose();
      return out;
    }));
    results[0].forEach((t, i) => assert.ok(t.equal(results[1][i]), `${Act.name} output ${i} differs in place`));
  }
}));

test('nn.consume frees its input once the next layer has it, and nothing else', () => {
  const before = torch.liveTensorCount();
  const x = torch.ones([3]);
  const y = nn.consume(x, (t) => t.add(1));
  assert.equal(x.isDisposed, true);
  assert.deepEqual(y.toArray(), [2, 2, 2]);
  const z = nn.consume(y, (t) => t.relu_());  // in place: the same tensor comes back and stays alive
  assert.equal(z, y);
  assert.equal(y.isDisposed, false);
  z.dispose();
  assert.equal(torch.liveTensorCount(), before);
});
