// Optimizer state dicts <-> the Python values of a torch.save file (src/torch/io): what a checkpoint
// writer/reader calls to put `optimizer.state_dict()` into a .pth and take it out again.
// Python ints (bigint) become numbers; tuples (betas) become arrays and go back as tuples; a group's
// `step` (LAMB keeps it per group, an int) goes back as an int, every other number as a float.
import type { Tensor } from '../tensor.js';
import { tensor } from '../tensor.js';
import type { RawTensor } from '../io/dtypes.js';
import { type PyValue, PyTuple, isRawTensor, pyTypeName } from '../io/pyvalue.js';
import type { OptimizerStateDict, OptionValue, Options, ParamState } from './optimizer.js';

const WHAT = 'optimizer state dict';

/**
 * The optimizer entry of a loaded .pth (a dict with `state` and `param_groups`) as a state dict for
 * Optimizer.loadStateDict. State tensors are new Tensors owned by the caller: run this and
 * loadStateDict inside one tidy() (loadStateDict copies what it keeps).
 */
export function optimizerStateDictFromPy(v: PyValue): OptimizerStateDict {
  const top = asDict(v, WHAT);
  const stateV = top.get('state'), groupsV = top.get('param_groups');
  if (stateV === undefined || groupsV === undefined) throw new Error(`${WHAT}: expected a dict with 'state' and 'param_groups' (torch.optim.Optimizer.state_dict()), got keys ${[...top.keys()].map(String).join(', ')}`);
  if (!Array.isArray(groupsV)) throw new Error(`${WHAT}: 'param_groups' must be a list, got ${pyTypeName(groupsV)}`);
  const param_groups = groupsV.map((gv, i) => {
    const g = asDict(gv, `${WHAT} param group ${i}`);
    const out: Options & { params: number[] } = { params: [] };
    for (const [k, x] of g) {
      if (typeof k !== 'string') throw new Error(`${WHAT}: param group ${i} has a non-string key`);
      if (k === 'params') {
        if (!Array.isArray(x)) throw new Error(`${WHAT}: param group ${i} 'params' must be a list of ints, got ${pyTypeName(x)}`);
        out.params = x.map((id) => toIndex(id, `${WHAT}: param group ${i} 'params'`));
      } else {
        out[k] = optionFromPy(x, `${WHAT}: param group ${i} option '${k}'`);
      }
    }
    // keep PyTorch's order: options first, params last
    const { params, ...rest } = out;
    return { ...rest, params } as Options & { params: number[] };
  });
  const state = new Map<number, ParamState>();
  for (const [k, sv] of asDict(stateV, `${WHAT} 'state'`)) {
    const idx = toIndex(k, `${WHAT}: a 'state' key`);
    const s: ParamState = {};
    for (const [name, x] of asDict(sv, `${WHAT} state of parameter ${idx}`)) {
      if (typeof name !== 'string') throw new Error(`${WHAT}: state of parameter ${idx} has a non-string key`);
      if (isRawTensor(x)) s[name] = tensorFromRaw(x);
      else if (x === null) s[name] = null;
      else if (typeof x === 'number') s[name] = x;
      else if (typeof x === 'bigint') s[name] = Number(x);
      else throw new Error(`${WHAT}: state '${name}' of parameter ${idx} is a ${pyTypeName(x)}; only tensors, numbers and None are supported`);
    }
    state.set(idx, s);
  }
  return { state, param_groups };
}

/** A state dict as Python values for savePth: what torch.optim.Optimizer.state_dict() would pickle. */
export function optimizerStateDictToPy(sd: OptimizerStateDict): Map<PyValue, PyValue> {
  const state = new Map<PyValue, PyValue>();
  for (const [k, s] of sd.state) {
    const m = new Map<PyValue, PyValue>();
    for (const [name, x] of Object.entries(s)) {
      if (x === null) m.set(name, null);
      else if (typeof x === 'number') m.set(name, name === 'step' && Number.isInteger(x) ? BigInt(x) : x);
      else m.set(name, tensorToRaw(x));
    }
    state.set(BigInt(k), m);
  }
  const groups = sd.param_groups.map((g) => {
    const m = new Map<PyValue, PyValue>();
    for (const [k, x] of Object.entries(g)) {
      if (k === 'params') continue;
      m.set(k, optionToPy(k, x as OptionValue));
    }
    m.set('params', g.params.map((i) => BigInt(i)));
    return m;
  });
  return new Map<PyValue, PyValue>([['state', state], ['param_groups', groups]]);
}

function asDict(v: PyValue | undefined, what: string): Map<PyValue, PyValue> {
  if (!(v instanceof Map)) throw new Error(`${what}: expected a dict, got ${pyTypeName(v)}`);
  return v;
}

function toIndex(v: PyValue, what: string): number {
  const n = typeof v === 'bigint' ? Number(v) : v;
  if (typeof n !== 'number' || !Number.isInteger(n) || n < 0) throw new Error(`${what} must be a non-negative int, got ${pyTypeName(v)}`);
  return n;
}

function optionFromPy(x: PyValue, what: string): OptionValue {
  if (x === null || typeof x === 'boolean' || typeof x === 'number' || typeof x === 'string') return x;
  if (typeof x === 'bigint') return Number(x);
  const items = x instanceof PyTuple ? x.items : Array.isArray(x) ? x : null;
  if (items && items.every((e) => typeof e === 'number' || typeof e === 'bigint')) return items.map(Number);
  throw new Error(`${what} is a ${pyTypeName(x)}; only numbers, bools, strings, None and tuples of numbers are supported`);
}

function optionToPy(key: string, x: OptionValue): PyValue {
  if (Array.isArray(x)) return new PyTuple(x.slice());
  if (typeof x === 'number' && key === 'step' && Number.isInteger(x)) return BigInt(x);
  return x;
}

function tensorFromRaw(r: RawTensor): Tensor {
  return tensor(r.data, { dtype: r.dtype, shape: r.shape });
}

function tensorToRaw(t: Tensor): RawTensor {
  const cpu = t.device === 'cpu' ? t : t.cpu();
  const a = cpu.toTypedArray();
  if (cpu !== t) cpu.dispose();
  return { dtype: t.dtype, shape: t.shape, data: new Uint8Array(a.buffer, a.byteOffset, a.byteLength) };
}
