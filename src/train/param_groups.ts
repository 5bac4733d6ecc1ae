// The reference's param groups: no weight decay for 1-D params, names ending in `.bias` and names
// containing any of the no-decay keys; every other trainable param decays. Pretraining
// (pretrain/utils/lr_control.py get_param_groups) stops there: groups 'decay' / 'no_decay' in order of
// first use, each {params, weight_decay_scale, lr_scale: 1}. Fine-tuning (downstream_imagenet/
// lr_decay.py get_param_groups) is the same function with layer-wise lr decay switched on when the
// model has a layer-id rule and 0 < lr_scale < 1: groups 'layer<id>_decay' / 'layer<id>_no_decay',
// lr_scale = lr_scale ** scale_exp. The schedule reads the scales.
import type { Tensor } from '../torch/tensor.js';
import type { Module } from '../torch/nn/module.js';
import type { ParamGroupInput } from '../torch/optim/index.js';
import { hasLayerIds, type LayerIdRule } from '../models/layer_decay.js';

/** The keys SparK's pretraining passes (main.py). */
export const SPARK_NOWD_KEYS: readonly string[] = ['cls_token', 'pos_embed', 'mask_token', 'gamma'];

export interface ParamGroupsOptions {
  /** names containing any of these get no weight decay; default SPARK_NOWD_KEYS */
  nowdKeys?: Iterable<string>;
  /**
   * Layer-wise lr decay factor (fine-tuning's --lr_scale). Used only when 0 < lrScale < 1 and a layer-id
   * rule exists, as the reference: otherwise every lr_scale is 1. Default 0 (pretraining: none).
   */
  lrScale?: number;
  /** The layer-id rule; default the model's own layerIdAndScaleExp (none for a [name, tensor] list). */
  layerIds?: LayerIdRule;
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
export function getParamGroupsWithNames(model: Module | Array<[string, Tensor]>, opts: ParamGroupsOptions = {}): { groups: NamedParamGroup[]; names: string[][]; keys: string[] } {
  const nowd = [...(opts.nowdKeys ?? SPARK_NOWD_KEYS)];
  const named = Array.isArray(model) ? model : model.namedParameters();
  const lrScale = opts.lrScale ?? 0;
  const rule = opts.layerIds ?? (hasLayerIds(model) ? (n: string) => model.layerIdAndScaleExp(n) : undefined);
  const usingLrScale = rule !== undefined && lrScale > 0 && lrScale < 1;
  const byName = new Map<string, { group: NamedParamGroup; names: string[] }>();
  for (const [name, p] of named) {
    if (!p.requiresGrad) continue; // frozen weights
    const noDecay = isNoWeightDecay(name, p.shape, nowd);
    let key = noDecay ? 'no_decay' : 'decay';
    let thisLrScale = 1;
    if (usingLrScale) {
      const [layerId, scaleExp] = rule(name);
      key = `layer${layerId}_${key}`;
      thisLrScale = lrScale ** scaleExp;     // Python's float ** int: the same pow() for these values
    }
    let entry = byName.get(key);
    if (!entry) {
      entry = { group: { params: [], weight_decay_scale: noDecay ? 0 : 1, lr_scale: thisLrScale }, names: [] };
      byName.set(key, entry);
    }
    entry.group.params.push(p);
    entry.names.push(name);
  }
  const entries = [...byName.values()];
  return { groups: entries.map((e) => e.group), names: entries.map((e) => e.names), keys: [...byName.keys()] };
}
