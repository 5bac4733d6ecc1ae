// The reference's own torch.save files (timm-style weights and a full SparK checkpoint) must read
// back exactly what resnet_basic_96.pth.json (written by Python beside them) says they hold.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { test } from 'node:test';
import { type RawTensor } from '../../../src/torch/io/dtypes.js';
import { loadPthDetailed } from '../../../src/torch/io/pth.js';
import { PyOrderedDict, PyTuple, type PyValue, isRawTensor, pyTypeName } from '../../../src/torch/io/pyvalue.js';
import { toNumbers } from '../../../src/torch/io/raw.js';
import { golden, parsePyJson } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

interface TensorSummary { dtype: string; shape: bigint[]; sum: number; abs_sum: number }
interface Golden {
  timm_style: Record<string, TensorSummary>;
  spark_style: {
    top_level: Record<string, unknown>;
    module: Record<string, TensorSummary>;
    module_config: Record<string, unknown>;
    optimizer_param_groups: Record<string, unknown>[];
    optimizer_state_count: bigint;
    optimizer_state_0: Record<string, { shape: bigint[]; sum: number }>;
  };
}

const ref = parsePyJson(fs.readFileSync(golden('resnet_basic_96.pth.json'), 'utf8')) as Golden;

function sums(t: RawTensor): { sum: number; abs: number } {
  let sum = 0;
  let abs = 0;
  for (const x of toNumbers(t)) { sum += x; abs += Math.abs(x); }
  return { sum, abs };
}

function assertClose(got: number, want: number, what: string): void {
  assert.ok(Math.abs(got - want) <= 1e-6 * Math.abs(want) + 1e-12, `${what}: got ${got}, want ${want}`);
}

function checkTensor(name: string, t: PyValue | undefined, want: { dtype?: string; shape: bigint[]; sum: number; abs_sum?: number }): void {
  assert.ok(isRawTensor(t), `${name} should be a tensor, got ${pyTypeName(t)}`);
  if (want.dtype) assert.equal(t.dtype, want.dtype, `${name} dtype`);
  assert.deepEqual(t.shape, want.shape.map(Number), `${name} shape`);
  const s = sums(t);
  assertClose(s.sum, want.sum, `${name} sum`);
  if (want.abs_sum !== undefined) assertClose(s.abs, want.abs_sum, `${name} abs_sum`);
}

function checkStateDict(sd: PyValue, want: Record<string, TensorSummary>, what: string): void {
  assert.ok(sd instanceof PyOrderedDict, `${what} should be an OrderedDict, got ${pyTypeName(sd)}`);
  const tensorKeys = [...sd.keys()].filter((k) => isRawTensor(sd.get(k)));
  assert.deepEqual(tensorKeys, Object.keys(want), `${what}: tensor names and order`);
  for (const [k, w] of Object.entries(want)) checkTensor(`${what}.${k}`, sd.get(k), w);
  // state dicts carry torch's per-module version table
  const meta = sd.attrs.get('_metadata');
  assert.ok(meta instanceof PyOrderedDict, `${what}._metadata should be an OrderedDict`);
  assert.deepEqual(meta.get(''), new Map([['version', 1n]]));
}

test('timm-style state dict: every tensor matches the golden summary', () => {
  const { value, unknownGlobals } = loadPthDetailed(golden('resnet_basic_96.timm_style.pth'));
  assert.deepEqual(unknownGlobals, []);
  checkStateDict(value, ref.timm_style, 'timm_style');
});

test('spark-style checkpoint: top level, module, config, optimizer', () => {
  const { value, unknownGlobals } = loadPthDetailed(golden('resnet_basic_96.spark_style.pth'));
  assert.deepEqual(unknownGlobals, []);
  assert.ok(value instanceof Map && !(value instanceof PyOrderedDict));
  const want = ref.spark_style;

  // top-level values; for containers the golden file records the Python type name
  assert.deepEqual([...value.keys()], Object.keys(want.top_level));
  for (const [k, w] of Object.entries(want.top_level)) {
    const got = value.get(k);
    if (k === 'module' || k === 'optimizer') assert.equal(pyTypeName(got), w, `type of ${k}`);
    else assert.deepEqual(got, w, `top-level ${k}`);
  }
  assert.equal(typeof value.get('epoch'), 'bigint', 'epoch is a Python int');

  const module = value.get('module') as PyOrderedDict;
  checkStateDict(module, want.module, 'module');
  const config = module.get('config');
  assert.ok(config instanceof Map && !(config instanceof PyOrderedDict), 'module.config is a dict');
  assert.deepEqual(config, new Map(Object.entries(want.module_config)));

  const opt = value.get('optimizer');
  assert.ok(opt instanceof Map);
  const groups = opt.get('param_groups');
  assert.ok(Array.isArray(groups));
  assert.equal(groups.length, want.optimizer_param_groups.length);
  let next = 0n;
  groups.forEach((g, i) => {
    assert.ok(g instanceof Map, `param_groups[${i}] is a dict`);
    const w = { ...want.optimizer_param_groups[i] };
    const numParams = w.num_params as bigint;
    delete w.num_params;
    const params = g.get('params');
    assert.ok(Array.isArray(params), 'params is a list');
    // torch numbers parameters consecutively across groups
    assert.deepEqual(params, Array.from({ length: Number(numParams) }, () => next++));
    const betas = g.get('betas');
    assert.ok(betas instanceof PyTuple, 'betas is a tuple');
    const got = new Map([...g].filter(([k]) => k !== 'params').map(([k, v]) => [k, v instanceof PyTuple ? v.items : v]));
    assert.deepEqual(got, new Map(Object.entries(w)), `param_groups[${i}]`);
  });

  const state = opt.get('state');
  assert.ok(state instanceof Map);
  assert.equal(BigInt(state.size), want.optimizer_state_count);
  assert.deepEqual([...state.keys()], Array.from({ length: state.size }, (_, i) => BigInt(i)));
  const s0 = state.get(0n);
  assert.ok(s0 instanceof Map);
  for (const [k, w] of Object.entries(want.optimizer_state_0)) checkTensor(`optimizer.state[0].${k}`, s0.get(k), w);
});
