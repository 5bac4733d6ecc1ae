// Optimizer state dicts in PyTorch's layout: numbering across groups, the reference LAMB's group keys,
// save → load into a fresh optimizer → continue equals an uninterrupted run (also through a .pth
// file), clear errors for mismatched state dicts, and PyTorch itself loading ours (when present).
import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as torch from '../../../src/torch/index.js';
import type { Tensor } from '../../../src/torch/index.js';
import { loadPth, savePth, isRawTensor, type PyValue, PyTuple } from '../../../src/torch/io/index.js';
import { checkNoLeaks, assertClose, goldenPath } from '../../helpers.js';
import { param, runPythonTorch, seq, setGrads, values } from './support.js';

checkNoLeaks();
const { SGD, AdamW, LAMB, optimizerStateDictFromPy, optimizerStateDictToPy } = torch.optim;
type Optimizer = torch.optim.Optimizer;

const P0 = [seq(6, 1), seq(3, 2), seq(4, 3)];
const SHAPES = [[2, 3], [3], [4]];
const grads = (it: number): number[][] => [seq(6, 100 + it), seq(3, 200 + it, 0.5), seq(4, 300 + it, 2)];

type Make = (ps: Tensor[], lr: number) => Optimizer;
const MAKERS: [string, Make][] = [
  ['SGD', (ps, lr) => new SGD([{ params: [ps[0]], weight_decay: 0.01 }, { params: [ps[1], ps[2]], nesterov: true, dampening: 0 }], { lr, momentum: 0.9, dampening: 0.1 })],
  ['AdamW', (ps, lr) => new AdamW([{ params: [ps[0]] }, { params: [ps[1], ps[2]], weight_decay: 0, amsgrad: true }], { lr })],
  ['LAMB', (ps, lr) => new LAMB([{ params: [ps[0]], weight_decay_scale: 1, lr_scale: 1 }, { params: [ps[1], ps[2]], weight_decay_scale: 0, lr_scale: 1 }], { lr, weight_decay: 0.05, betas: [0.9, 0.95], max_grad_norm: 1 })],
];

const TMP = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-optim-'));
after(() => fs.rmSync(TMP, { recursive: true, force: true }));

/** A runs 4 steps; B starts from A's params and state dict after 2 and runs steps 3, 4. */
function checkResume(make: Make, transfer: (sd: torch.optim.OptimizerStateDict, into: Optimizer) => void): void {
  const a = P0.map((v, i) => param(v, SHAPES[i]));
  const optA = make(a, 0.01);
  for (let it = 0; it < 2; it++) { setGrads(a, grads(it)); optA.step(); }
  const b = a.map((p) => param(values(p), p.shape));
  // B is built with another lr: loading must replace the group options with the saved ones
  const optB = make(b, 123);
  transfer(optA.stateDict(), optB);
  for (let it = 2; it < 4; it++) {
    setGrads(a, grads(it)); optA.step();
    setGrads(b, grads(it)); optB.step();
  }
  a.forEach((p, i) => assert.deepEqual(values(b[i]), values(p), `param ${i} after resuming`));
  assert.deepEqual(optB.paramGroups.map((g) => g.lr), optA.paramGroups.map((g) => g.lr));
  optA.zeroGrad(); optB.zeroGrad();
  optA.dispose(); optB.dispose();
  torch.dispose([a, b]);
}

for (const [name, make] of MAKERS) {
  test(`${name}: stateDict → loadStateDict into a fresh optimizer → continuing equals the uninterrupted run`, () => {
    checkResume(make, (sd, into) => into.loadStateDict(sd));
  });
  test(`${name}: the same through a .pth file (optimizerStateDictToPy → savePth → loadPth → optimizerStateDictFromPy)`, () => {
    const file = path.join(TMP, `${name}.pth`);
    checkResume(make, (sd, into) => {
      savePth(file, optimizerStateDictToPy(sd));
      torch.tidy(() => into.loadStateDict(optimizerStateDictFromPy(loadPth(file))));
    });
  });
}

test('state dict layout: params numbered across groups, state keyed by index, LAMB step per group', () => {
  const ps = P0.map((v, i) => param(v, SHAPES[i]));
  const opt = MAKERS[2][1](ps, 0.01);
  let sd = opt.stateDict();
  assert.equal(sd.state.size, 0);
  assert.equal('step' in sd.param_groups[0], false, 'no step before the first step, as the reference');
  setGrads(ps, [grads(0)[0], null, grads(0)[2]]);
  opt.step();
  sd = opt.stateDict();
  assert.deepEqual(sd.param_groups.map((g) => g.params), [[0], [1, 2]]);
  assert.deepEqual([...sd.state.keys()], [0, 2]);
  assert.deepEqual(Object.keys(sd.state.get(2)!), ['exp_avg', 'exp_avg_sq']);
  assert.equal(sd.state.get(2)!.exp_avg, opt.state.get(ps[2])!.exp_avg, 'the live state tensors, as PyTorch');
  assert.deepEqual(sd.param_groups.map((g) => g.step), [1, 1]);
  // the group keys, in order, of the reference's LAMB checkpoint
  const golden = goldenPath('resnet_basic_96.pth.json');
  const refGroups = JSON.parse(fs.readFileSync(golden, 'utf8')).spark_style.optimizer_param_groups as Record<string, unknown>[];
  const refKeys = Object.keys(refGroups[0]).map((k) => (k === 'num_params' ? 'params' : k));
  assert.deepEqual(Object.keys(sd.param_groups[0]), refKeys);
  // as Python values: step an int, betas a tuple, params a list of ints
  const py = optimizerStateDictToPy(sd);
  const g0 = (py.get('param_groups') as Map<PyValue, PyValue>[])[0];
  assert.equal(g0.get('step'), 1n);
  assert.ok(g0.get('betas') instanceof PyTuple);
  assert.equal(typeof g0.get('lr'), 'number');
  assert.deepEqual(g0.get('params'), [0n]);
  assert.ok(isRawTensor((py.get('state') as Map<PyValue, Map<PyValue, PyValue>>).get(2n)!.get('exp_avg')));
  opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
});

test('loadStateDict: mismatched state dicts fail with one clear message and leave the optimizer as it was', () => {
  const ps = P0.map((v, i) => param(v, SHAPES[i]));
  const opt = MAKERS[1][1](ps, 0.01);
  setGrads(ps, grads(0));
  opt.step();
  const sd = opt.stateDict();
  const other = [param([1, 2, 3]), param([4])];
  const one = new AdamW(other);
  assert.throws(() => one.loadStateDict(sd), /has 2 parameter groups, this optimizer has 1/);
  const two = new AdamW([{ params: [other[0]] }, { params: [other[1]] }]);
  assert.throws(() => two.loadStateDict(sd), /param group 0 has 1 params in the state dict but 1|param group 1 has 2 params in the state dict but 1/);
  const ps2 = P0.map((v, i) => param(v, [SHAPES[i].reduce((x, y) => x * y)]));
  const flatShapes = MAKERS[1][1](ps2, 0.01);
  assert.throws(() => flatShapes.loadStateDict(sd), /state 'exp_avg' of parameter 0 has shape \[2,3\] but the parameter has shape \[6\]/);
  assert.equal(flatShapes.state.size, 0, 'a failed load changes nothing');
  assert.equal(flatShapes.paramGroups[0].lr, 0.01);
  const bogus = { state: new Map([[7, {}]]), param_groups: sd.param_groups };
  assert.throws(() => flatShapes.loadStateDict(bogus), /state for parameter 7, which none of its param groups lists/);
  assert.throws(() => flatShapes.loadStateDict({} as never), /expected \{state, param_groups\}/);
  opt.zeroGrad();
  for (const o of [opt, one, two, flatShapes]) o.dispose();
  torch.dispose([ps, ps2, other]);
});

test('loadStateDict copies the tensors (the source can be freed) and casts floating state to the param dtype', () => {
  const p = param([1, 2, 3]);
  const opt = new AdamW([p]);
  torch.tidy(() => {
    const sd = {
      state: new Map([[0, { step: torch.tensor(4), exp_avg: torch.tensor([0.1, 0.2, 0.3]), exp_avg_sq: torch.tensor([1, 1, 1]) }]]),
      param_groups: [{ lr: 0.5, betas: [0.9, 0.999], eps: 1e-8, weight_decay: 0, amsgrad: false, maximize: false, params: [0] }],
    };
    opt.loadStateDict(sd);
  });
  const s = opt.state.get(p)!;
  assert.equal((s.exp_avg as Tensor).dtype, 'float64', 'cast to the float64 param');
  assert.equal((s.step as Tensor).dtype, 'float32', 'step keeps its dtype');
  assert.equal((s.step as Tensor).item(), 4);
  assert.equal(opt.paramGroups[0].lr, 0.5);
  opt.dispose(); p.dispose();
});

const TIGHT = { atol: 1e-15, rtol: 1e-13 };
const PY_INTEROP = `
import copy, sys, torch
d = torch.load(sys.argv[1])
out = {}
for name, cls in (('SGD', torch.optim.SGD), ('AdamW', torch.optim.AdamW)):
    e = d[name]
    ps = [torch.nn.Parameter(t.clone()) for t in e['params']]
    opt = cls([{'params': ps[:1]}, {'params': ps[1:]}], lr=999.0)
    opt.load_state_dict(e['optimizer'])
    for p, g in zip(ps, e['grads'][0]): p.grad = g.clone()
    opt.step()
    r = {'params3': [p.detach().clone() for p in ps], 'state3': copy.deepcopy(opt.state_dict())}  # state_dict() holds the live tensors
    for p, g in zip(ps, e['grads'][1]): p.grad = g.clone()
    opt.step()
    r['params4'] = [p.detach().clone() for p in ps]
    out[name] = r
torch.save(out, sys.argv[2])
`;

test('PyTorch loads our SGD/AdamW state dicts and continues identically; we load its state dicts and continue identically', (t) => {
  const dir = TMP;
  const raw = (t: Tensor): PyValue => (optimizerStateDictToPy({ state: new Map([[0, { t }]]), param_groups: [] }).get('state') as Map<PyValue, Map<PyValue, PyValue>>).get(0n)!.get('t')!;
  const rawOf = (xs: number[][]): PyValue[] => torch.tidy(() => xs.map((x, i) => raw(torch.tensor(x, { dtype: 'float64', shape: SHAPES[i] }))));
  const ours = new Map<string, { ps: Tensor[]; opt: Optimizer }>();
  const input = new Map<PyValue, PyValue>();
  for (const [name, make] of MAKERS.slice(0, 2)) {
    const ps = P0.map((v, i) => param(v, SHAPES[i]));
    const opt = make(ps, 0.01);
    for (let it = 0; it < 2; it++) { setGrads(ps, grads(it)); opt.step(); }
    input.set(name, new Map<PyValue, PyValue>([
      ['params', rawOf(ps.map(values))],
      ['optimizer', optimizerStateDictToPy(opt.stateDict())],
      ['grads', [rawOf(grads(2)), rawOf(grads(3))]],
    ]));
    ours.set(name, { ps, opt });
  }
  savePth(path.join(dir, 'in.pth'), input);
  if (runPythonTorch(PY_INTEROP, [path.join(dir, 'in.pth'), path.join(dir, 'out.pth')]) === null) {
    for (const { ps, opt } of ours.values()) { opt.zeroGrad(); opt.dispose(); torch.dispose(ps); }
    t.skip('/usr/bin/python3 with torch is not installed');
    return;
  }
  const out = loadPth(path.join(dir, 'out.pth')) as Map<PyValue, Map<PyValue, PyValue>>;
  const fromRaw = (v: PyValue): number[] => torch.tidy(() => values(optimizerStateDictFromPy(new Map<PyValue, PyValue>([['state', new Map([[0n, new Map([['t', v]])]])], ['param_groups', []]])).state.get(0)!.t as Tensor));
  for (const [name, { ps, opt }] of ours) {
    const r = out.get(name)!;
    // ours → PyTorch: its third step from our state equals ours
    setGrads(ps, grads(2)); opt.step();
    // two libtorch builds may differ in the last bit (vectorised tails), hence a float64-tight tolerance
    (r.get('params3') as PyValue[]).forEach((v, i) => assertClose(fromRaw(v), values(ps[i]), TIGHT, `${name} param ${i} after PyTorch's step 3`));
    // PyTorch → ours: load its state dict after step 3, step 4 equals its step 4
    const b = (r.get('params3') as PyValue[]).map((v, i) => param(fromRaw(v), SHAPES[i]));
    const optB = MAKERS.find(([n]) => n === name)![1](b, 999);
    torch.tidy(() => optB.loadStateDict(optimizerStateDictFromPy(r.get('state3')!)));
    setGrads(b, grads(3)); optB.step();
    (r.get('params4') as PyValue[]).forEach((v, i) => assertClose(values(b[i]), fromRaw(v), TIGHT, `${name} param ${i} after our step 4 from PyTorch's state`));
    opt.zeroGrad(); optB.zeroGrad(); opt.dispose(); optB.dispose();
    torch.dispose([ps, b]);
  }
});
