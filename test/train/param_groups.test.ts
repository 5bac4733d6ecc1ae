// getParamGroups against the reference: the golden runs' nowd_params, group order and scales, a Module
// input, frozen params, and the no-decay keys.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { getParamGroups, getParamGroupsWithNames, isNoWeightDecay } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { GOLDEN_CASES, goldenParams, readGoldenHeader } from './golden_meta.js';

checkNoLeaks();
const { nn } = torch;

for (const name of GOLDEN_CASES) {
  test(`${name}: the no-decay group is exactly the reference's nowd_params, in registration order`, () => {
    const h = readGoldenHeader(name);
    const named = goldenParams(h);
    // shape-only stand-ins: getParamGroups looks at names, shapes and requiresGrad only
    const list: [string, Tensor][] = named.map(([n, s]) => [n, torch.empty(s).requiresGrad_(true).keep()]);
    const { groups, names } = getParamGroupsWithNames(list);
    const nowd = JSON.parse(h.meta.nowd_params) as string[];
    const decayFirst = !nowd.includes(named[0][0]);
    const [decay, noDecay] = decayFirst ? [0, 1] : [1, 0];
    assert.equal(groups.length, 2);
    assert.deepEqual(names[noDecay], nowd);
    assert.deepEqual(names[decay], named.map(([n]) => n).filter((n) => !nowd.includes(n)));
    assert.equal(groups[decay].weight_decay_scale, 1);
    assert.equal(groups[noDecay].weight_decay_scale, 0);
    assert.ok(groups.every((g) => g.lr_scale === 1));
    // the params are the same tensor objects, in the same order
    assert.ok(groups[noDecay].params.every((p, i) => p === list.find(([n]) => n === names[noDecay][i])![1]));
    assert.deepEqual(Object.keys(groups[0]), ['params', 'weight_decay_scale', 'lr_scale']);
    torch.dispose(list.map(([, t]) => t));
  });
}

class Tiny extends nn.Module {
  conv = this.registerModule('conv', new nn.Conv2d(3, 4, 3));
  bn = this.registerModule('bn', new nn.BatchNorm2d(4));
  maskToken = this.registerParameter('mask_token', torch.zeros([1, 4, 1, 1]));
  lsGamma = this.registerParameter('ls_gamma', torch.ones([4, 4]));
  frozen = this.registerParameter('frozen', torch.ones([4, 4]));
  head = this.registerModule('head', new nn.Linear(4, 2));
  forward(x: Tensor): Tensor { return x; }
}

test('getParamGroups(Module): 1-D, .bias and nowd-key params get no decay; frozen params are left out', () => {
  const m = new Tiny();
  m.frozen.requiresGrad = false;
  const { groups, names } = getParamGroupsWithNames(m);
  // PyTorch's named_parameters order: a module's own params, then its children's; the first param
  // (mask_token, no decay) makes no_decay the first group
  assert.deepEqual(names, [
    ['mask_token', 'ls_gamma', 'conv.bias', 'bn.weight', 'bn.bias', 'head.bias'],
    ['conv.weight', 'head.weight'],
  ]);
  assert.deepEqual(groups.map((g) => g.weight_decay_scale), [0, 1]);
  assert.equal(groups[1].params[0], m.conv.weight);
  // no keys: the 4-D mask token and the 2-D ls_gamma decay now
  assert.deepEqual(getParamGroupsWithNames(m, { nowdKeys: [] }).names[0], ['mask_token', 'ls_gamma', 'conv.weight', 'head.weight']);
  // the groups feed an optimizer directly
  const opt = new torch.optim.LAMB(getParamGroups(m), { weight_decay: 0 });
  assert.deepEqual(Object.keys(opt.paramGroups[0]).slice(0, 4), ['params', 'weight_decay_scale', 'lr_scale', 'lr']);
  opt.dispose();
  torch.dispose([...m.parameters(), ...m.buffers()]);
});

test('the group order follows the first parameter: no_decay first when the first param is a bias', () => {
  const b = torch.zeros([3]).requiresGrad_(true).keep(), w = torch.zeros([3, 3]).requiresGrad_(true).keep();
  const { groups, names } = getParamGroupsWithNames([['x.bias', b], ['x.weight', w]]);
  assert.deepEqual(names, [['x.bias'], ['x.weight']]);
  assert.deepEqual(groups.map((g) => g.weight_decay_scale), [0, 1]);
  assert.equal(isNoWeightDecay('blocks.0.gamma', [8, 8]), true);
  assert.equal(isNoWeightDecay('pos_embed', [1, 4, 8]), true);
  assert.equal(isNoWeightDecay('fc.weight', [8, 8]), false);
  torch.dispose([b, w]);
});
