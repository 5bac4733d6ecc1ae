// The reference's param groups (SparK pretrain/utils/lr_control.py get_param_groups): no weight decay
// for 1-D params, names ending in `.bias` and names containing any of the no-decay keys; every other
// trainable param decays. Groups appear in order of first use ('decay' / 'no_decay' by the first
// param's kind), each {params, weight_decay_scale, lr_scale: 1} — lrWdAnnealing reads the scales.
import type { Tensor } from '../torch/tensor.js';
import type { Module } from '../torch/nn/module.js';
import type { ParamGroupInput } from '../torch/optim/index.js';

/** The keys SparK's pretraining passes (main.py). */
export const SPARK_NOWD_KEYS: readonly string[] = ['cls_token', 'pos_embed', 'mask_token', 'gamma'];

export interface ParamGroupsOptions {
  /** names containing any of these get no weight decay; default SPARK_NOWD_KEYS */
  nowdKeys?: Iterable<string>;
}

export interface NamedParamGroup extends ParamGroupInput {
  params: Tensor[];
  weight_decay_scale: number;
  lr_scale: number;
}

/** Whether the reference would exempt this parameter from weight decay. */
export function isNoWeightDecay(name: string, shape: readonly number[], nowdKeys: Iterable<string> = SPARK_NOWD_KEYS): boolean {
  if (shape.length === 1 || name.endsWith('.bias')) return true;
  for (const k of nowdKeys) if (name.includes(k)) return true;
  return false;
}

/**
 * Param groups for the optimizer, from a module (its namedParameters) or a list of [name, tensor].
 * Frozen params (requiresGrad false) are left out.
 */
export function getParamGroups(model: Module | Array<[string, Tensor]>, opts: ParamGroupsOptions = {}): NamedParamGroup[] {
  return getParamGroupsWithNames(model, opts).groups;
}

/** getParamGroups plus each group's parameter names in the same order (the reference prints them). */
export function getParamGroupsWithNames(model: Module | Array<[string, Tensor]>, opts: ParamGroupsOptions = {}): { groups: NamedParamGroup[]; names: string[][] } {
  const nowd = [...(opts.nowdKeys ?? SPARK_NOWD_KEYS)];
  const named = Array.isArray(model) ? model : model.namedParameters();
  const byName = new Map<string, { group: NamedParamGroup; names: string[] }>();
  for (const [name, p] of named) {
    if (!p.requiresGrad) continue; // frozen weights
    const noDecay = isNoWeightDecay(name, p.shape, nowd);
    const key = noDecay ? 'no_decay' : 'decay';
    let entry = byName.get(key);
    if (!entry) {
      entry = { group: { params: [], weight_decay_scale: noDecay ? 0 : 1, lr_scale: 1 }, names: [] };
      byName.set(key, entry);
    }
    entry.group.params.push(p);
    entry.names.push(name);
  }
  const entries = [...byName.values()];
  return { groups: entries.map((e) => e.group), names: entries.map((e) => e.names) };
}
