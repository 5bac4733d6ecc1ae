// The optimizer base: PyTorch's torch.optim.Optimizer — param groups with defaults filled in from the
// constructor, per-parameter state, zero_grad, and state_dict/load_state_dict in PyTorch's layout
// (params numbered across groups in order), so a PyTorch optimizer checkpoint loads and continues.
//
// Option names are PyTorch's (snake_case: lr, weight_decay, betas, ...) everywhere — in constructor
// options, in groups and in state dicts — because a state dict carries them verbatim.
import type { Tensor } from '../tensor.js';
import { keep, tidy } from '../memory.js';
import { noGrad } from '../autograd.js';
import { recordFunction } from '../profiler.js';
import { isFloating } from '../dtype.js';

/** A group option value: a number, a flag, a tuple such as betas, or None. */
export type OptionValue = number | boolean | string | null | number[];
export type Options = Record<string, OptionValue>;

/** A param group as the optimizer holds it: its params plus every option (defaults filled in). */
export interface ParamGroup {
  params: Tensor[];
  [option: string]: OptionValue | Tensor[] | undefined;
}

/** What a caller passes: params plus any options that differ from the constructor's defaults. */
export type ParamGroupInput = { params: Tensor[] | Tensor } & { [option: string]: OptionValue | Tensor[] | Tensor | undefined };

/** One parameter's state (e.g. {exp_avg, exp_avg_sq}); SGD without momentum stores None buffers. */
export type ParamState = Record<string, Tensor | number | null>;

/** torch.optim.Optimizer.state_dict(): state keyed by parameter index, groups with params as indices. */
export interface OptimizerStateDict {
  state: Map<number, ParamState>;
  param_groups: Array<Options & { params: number[] }>;
}

function copyValue(v: OptionValue): OptionValue {
  return Array.isArray(v) ? v.slice() : v;
}

export abstract class Optimizer {
  readonly defaults: Options;
  paramGroups: ParamGroup[] = [];
  /** Per-parameter state, keyed by the parameter Tensor; insertion order = first step order. */
  state = new Map<Tensor, ParamState>();

  constructor(params: Tensor[] | ParamGroupInput[], defaults: Options) {
    this.defaults = defaults;
    if (!Array.isArray(params)) throw new Error(`${this.constructor.name}: params must be an array of Tensors or of param groups ({params, ...options})`);
    if (params.length === 0) throw new Error(`${this.constructor.name}: got an empty parameter list`);
    const groups: ParamGroupInput[] = isTensorLike(params[0]) ? [{ params: params as Tensor[] }] : (params as ParamGroupInput[]);
    for (const g of groups) this.addParamGroup(g);
  }

  /** Add a group (torch's add_param_group): missing options are taken from the defaults. */
  addParamGroup(group: ParamGroupInput): void {
    const name = this.constructor.name;
    if (group === null || typeof group !== 'object' || !('params' in group)) {
      throw new Error(`${name}: a param group must be an object with a params array`);
    }
    const params = Array.isArray(group.params) ? group.params.slice() : [group.params as Tensor];
    for (const p of params) {
      if (!isTensorLike(p)) throw new Error(`${name}: a param group's params must be Tensors`);
      if (!p.isLeaf) throw new Error(`${name}: can't optimize a non-leaf Tensor (optimize the leaf it was computed from)`);
    }
    const out: ParamGroup = { params: [] };
    for (const [k, v] of Object.entries(group)) {
      if (k === 'params' || v === undefined) continue;
      out[k] = copyValue(v as OptionValue);
    }
    // user keys first, then the defaults in declaration order: PyTorch's setdefault order, which
    // fixes the key order of the state dict's groups
    for (const [k, v] of Object.entries(this.defaults)) if (!(k in out)) out[k] = copyValue(v);
    for (const [k, v] of Object.entries(out)) {
      if (v === REQUIRED) throw new Error(`${name}: parameter group didn't specify a value of required optimization parameter ${k} (pass {${k}} to the constructor or to every group)`);
    }
    const seen = new Set<Tensor>();
    for (const g of this.paramGroups) for (const p of g.params) seen.add(p);
    if (params.some((p) => seen.has(p))) throw new Error(`${name}: some parameters appear in more than one parameter group`);
    out.params = params;
    this.paramGroups.push(out);
  }

  /** Set every gradient to None (setToNone, the default) or to zero in place. */
  zeroGrad(setToNone = true): void {
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        const grad = p.grad;
        if (!grad) continue;
        if (setToNone) p.grad = null;
        else noGrad(() => grad.zero_());
        grad.dispose();
      }
    }
  }

  /**
   * One optimization step. Runs without autograd recording; every temporary is freed before it
   * returns (state tensors are keep()-ed by the subclasses).
   */
  step(): void {
    // named as PyTorch names every optimizer step, so a profile splits the optimizer off the same way
    recordFunction(`Optimizer.step#${this.constructor.name}.step`, () => noGrad(() => tidy(() => { this.update(); })));
  }

  /** The update itself; called by step() inside noGrad and tidy. */
  protected abstract update(): void;

  /** The state for p, created empty on first use (PyTorch's defaultdict). */
  protected stateFor(p: Tensor): ParamState {
    let s = this.state.get(p);
    if (!s) { s = {}; this.state.set(p, s); }
    return s;
  }

  /**
   * PyTorch's state_dict(): `state` keyed by parameter index (numbered across groups in order),
   * groups with every option and `params` as indices (last key). The tensors are the live state
   * tensors, not copies (as in PyTorch); clone them to snapshot a run that keeps training.
   */
  stateDict(): OptimizerStateDict {
    const index = new Map<Tensor, number>();
    let start = 0;
    const groups = this.paramGroups.map((g) => {
      const packed: Options = {};
      for (const [k, v] of Object.entries(g)) if (k !== 'params') packed[k] = copyValue(v as OptionValue);
      g.params.forEach((p, i) => { if (!index.has(p)) index.set(p, start + i); });
      start += g.params.length;
      return { ...packed, params: g.params.map((p) => index.get(p)!) };
    });
    const state = new Map<number, ParamState>();
    for (const [p, s] of this.state) {
      const i = index.get(p);
      if (i !== undefined) state.set(i, { ...s });
    }
    return { state, param_groups: groups };
  }

  /**
   * PyTorch's load_state_dict(): the groups must match in number and sizes; the saved options replace
   * the groups' options (missing ones come from the defaults); state tensors are copied, floating ones
   * cast to their parameter's dtype, all moved to its device (`step` keeps its dtype and device).
   */
  loadStateDict(sd: OptimizerStateDict | { state: Record<string, ParamState>; param_groups: Array<Options & { params: number[] }> }): void {
    const name = this.constructor.name;
    if (!sd || typeof sd !== 'object' || !Array.isArray(sd.param_groups) || !sd.state || typeof sd.state !== 'object') {
      throw new Error(`${name}.loadStateDict: expected {state, param_groups} as written by stateDict() or torch.optim.Optimizer.state_dict()`);
    }
    const saved = sd.param_groups;
    if (saved.length !== this.paramGroups.length) {
      throw new Error(`${name}.loadStateDict: the state dict has ${saved.length} parameter groups, this optimizer has ${this.paramGroups.length}; build the optimizer with the same param groups as the one that was saved`);
    }
    saved.forEach((g, i) => {
      if (!Array.isArray(g.params)) throw new Error(`${name}.loadStateDict: param group ${i} has no params list`);
      if (g.params.length !== this.paramGroups[i].params.length) {
        throw new Error(`${name}.loadStateDict: param group ${i} has ${g.params.length} params in the state dict but ${this.paramGroups[i].params.length} in this optimizer; build it with the same param groups as the one that was saved`);
      }
    });
    const idMap = new Map<number, Tensor>();
    saved.forEach((g, i) => g.params.forEach((id, j) => idMap.set(Number(id), this.paramGroups[i].params[j])));

    const entries: [number, ParamState][] = sd.state instanceof Map
      ? [...sd.state.entries()].map(([k, v]) => [Number(k), v])
      : Object.entries(sd.state).map(([k, v]) => [Number(k), v]);
    // validate everything before touching this optimizer, so a bad state dict leaves it unchanged
    for (const [k, s] of entries) {
      const p = idMap.get(k);
      if (!p) throw new Error(`${name}.loadStateDict: the state dict has state for parameter ${k}, which none of its param groups lists`);
      for (const [key, v] of Object.entries(s)) {
        if (isTensorLike(v) && key !== 'step') {
          const a = v.shape, b = p.shape;
          if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
            throw new Error(`${name}.loadStateDict: state '${key}' of parameter ${k} has shape [${a}] but the parameter has shape [${b}]; the state dict belongs to a different model`);
          }
        }
      }
    }
    const fresh = new Map<Tensor, ParamState>();
    noGrad(() => {
      for (const [k, s] of entries) {
        const p = idMap.get(k)!;
        const out: ParamState = {};
        for (const [key, v] of Object.entries(s)) {
          if (isTensorLike(v)) {
            const dtype = key !== 'step' && isFloating(p.dtype) && isFloating(v.dtype) ? p.dtype : v.dtype;
            const device = key !== 'step' ? p.device : v.device;
            out[key] = keep(v.to({ dtype, device }, { copy: true }));
          } else {
            out[key] = v;
          }
        }
        fresh.set(p, out);
      }
    });
    this.disposeState();
    this.state = fresh;
    this.paramGroups = this.paramGroups.map((g, i) => {
      const ng: ParamGroup = { params: g.params };
      for (const [k, v] of Object.entries(saved[i])) if (k !== 'params') ng[k] = copyValue(v as OptionValue);
      for (const [k, v] of Object.entries(this.defaults)) if (!(k in ng)) ng[k] = copyValue(v);
      return ng;
    });
  }

  /** Free every state tensor (the optimizer forgets its state). */
  disposeState(): void {
    for (const s of this.state.values()) for (const v of Object.values(s)) if (isTensorLike(v)) v.dispose();
    this.state.clear();
  }

  /** Free the state; the optimizer can still step (it starts from fresh state). */
  dispose(): void { this.disposeState(); }

  // ---- typed access to group options, with one clear error when a loaded group has a wrong value ----
  protected num(g: ParamGroup, key: string): number {
    const v = g[key];
    if (typeof v !== 'number') throw new Error(`${this.constructor.name}: param group option '${key}' must be a number, got ${JSON.stringify(v)}`);
    return v;
  }
  protected flag(g: ParamGroup, key: string): boolean {
    const v = g[key];
    if (typeof v !== 'boolean') throw new Error(`${this.constructor.name}: param group option '${key}' must be true or false, got ${JSON.stringify(v)}`);
    return v;
  }
  protected pair(g: ParamGroup, key: string): [number, number] {
    const v = g[key];
    if (!Array.isArray(v) || v.length !== 2 || v.some((x) => typeof x !== 'number')) {
      throw new Error(`${this.constructor.name}: param group option '${key}' must be a pair of numbers, got ${JSON.stringify(v)}`);
    }
    return [v[0] as number, v[1] as number];
  }
}

/** Marks an option the caller must give (PyTorch's `required`, e.g. SGD's lr). */
export const REQUIRED = '<required parameter>';

function isTensorLike(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && typeof (v as Tensor).dispose === 'function' && 'kept' in (v as object);
}

/** Throw a one-line error unless cond holds (constructor argument checks, as PyTorch's ValueErrors). */
export function check(cond: boolean, msg: string): void {
  if (!cond) throw new Error(msg);
}
