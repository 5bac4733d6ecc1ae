// Layer ids for layer-wise lr decay (the reference's downstream_imagenet/models/__init__.py:
// resnets_get_layer_id_and_scale_exp and convnext_get_layer_id_and_scale_exp). A parameter with
// layer id i of a net with N+1 ids gets lr · lr_scale^(N+1−i): the stem learns slowest, the head at
// full lr. The rules depend only on the stage depths, so they are built from those.
//
// Where the reference's function does not cover a net, the rule here extends it the way that keeps its
// numbers for the nets it does cover (tested against ft_param_groups.json):
//   ResNet stage-2/3 depths outside its table (e.g. resnet18 [2,2,2,2])  → resnet50's grouping
//     (2 blocks of stage 2 and 3 blocks of stage 3 per id) instead of NotImplementedError;
//   ConvNeXt whose stage 3 is deeper than 27 blocks → N grows so that ids stay below the last stage's;
//   nets with other than 4 stages → one id per stage (stem 0, stage s → s+1, head → stages+1).
// A custom encoder brings its own rule by implementing `layerIdAndScaleExp(name)` (the reference's
// `get_layer_id_and_scale_exp` hook); without one it gets no layer decay, as in the reference.

/** [layer id, scale exponent] of a parameter; its lr scale is lr_scale ** exponent. */
export type LayerIdAndScaleExp = [layerId: number, scaleExp: number];
export type LayerIdRule = (paramName: string) => LayerIdAndScaleExp;

/** A module that assigns layer ids to its parameters (the reference's get_layer_id_and_scale_exp). */
export interface HasLayerIds {
  layerIdAndScaleExp(paramName: string): LayerIdAndScaleExp;
}

export function hasLayerIds(m: unknown): m is HasLayerIds {
  return typeof (m as Partial<HasLayerIds> | null)?.layerIdAndScaleExp === 'function';
}

function intAt(parts: string[], i: number, name: string): number {
  const v = Number(parts[i]);
  if (!Number.isInteger(v)) throw new Error(`layer id: cannot read a stage/block index from parameter '${name}'`);
  return v;
}

/** One id per stage: stem 0, stage s (and its downsampling) s+1, everything after the backbone stages+1. */
function perStageRule(stages: number, stageOf: (name: string) => number | 'stem' | 'head'): LayerIdRule {
  const N = stages;
  return (name) => {
    const s = stageOf(name);
    const id = s === 'stem' ? 0 : s === 'head' ? N + 1 : s + 1;
    return [id, N + 1 - id];
  };
}

// the reference's table: (stage-2 depth, stage-3 depth) → blocks per id in stages 2 and 3
const RESNET_BLOCKS_PER_ID: Array<[number, number, number, number]> = [
  [4, 6, 2, 3],     // resnet50 (and resnet34)
  [4, 23, 2, 3],    // resnet101
  [8, 36, 4, 4],    // resnet152
  [24, 36, 4, 4],   // resnet200
  [30, 48, 5, 6],   // eca269d
];

/** resnets_get_layer_id_and_scale_exp for a timm ResNet with these blocks per stage (`layer1.0.conv1.weight`, `fc.weight`, stem). */
export function resnetLayerIdRule(layers: readonly number[]): LayerIdRule {
  if (layers.length !== 4) {
    return perStageRule(layers.length, (n) => (n.startsWith('layer') ? intAt([n.split('.')[0].slice(5)], 0, n) - 1 : n.startsWith('fc.') ? 'head' : 'stem'));
  }
  const [, L2, L3] = layers;
  const row = RESNET_BLOCKS_PER_ID.find(([a, b]) => a === L2 && b === L3);
  const [blk2, blk3] = row ? [row[2], row[3]] : [2, 3];
  const N2 = Math.ceil(L2 / blk2 - 1e-5), N3 = Math.ceil(L3 / blk3 - 1e-5);
  const N = 2 + N2 + N3;
  return (name) => {
    let id: number;
    if (name.startsWith('layer')) {
      const parts = name.split('.');
      const stage = Number(parts[0].slice(5)), block = intAt(parts, 1, name);
      if (stage === 1) id = 1;
      else if (stage === 2) id = 2 + Math.floor(block / blk2);
      else if (stage === 3) id = 2 + N2 + Math.floor(block / blk3);
      else id = N;
    } else if (name.startsWith('fc.')) {
      id = N + 1;
    } else {
      id = 0;
    }
    return [id, N + 1 - id];
  };
}

/** convnext_get_layer_id_and_scale_exp for an official ConvNeXt with these blocks per stage. */
export function convnextLayerIdRule(depths: readonly number[]): LayerIdRule {
  if (depths.length !== 4) {
    return perStageRule(depths.length, (n) => {
      const parts = n.split('.');
      if (n.startsWith('downsample_layers')) { const s = intAt(parts, 1, n); return s === 0 ? 'stem' : s; }
      if (n.startsWith('stages')) return intAt(parts, 1, n);
      return 'head';
    });
  }
  const d2 = depths[2];
  // the reference: N = 12 if len(stages[-2]) > 9 else 6; stage-3 ids are 3 + block // 3, so a stage
  // deeper than 27 blocks needs a larger N to keep its ids below the last stage's (N)
  const N = Math.max(d2 > 9 ? 12 : 6, 4 + Math.floor((d2 - 1) / 3));
  return (name) => {
    const parts = name.split('.');
    let id: number;
    if (name.startsWith('downsample_layers')) {
      const stage = intAt(parts, 1, name);
      id = stage === 0 ? 0 : stage === 1 || stage === 2 ? stage + 1 : N;
    } else if (name.startsWith('stages')) {
      const stage = intAt(parts, 1, name), block = intAt(parts, 2, name);
      id = stage === 0 || stage === 1 ? stage + 1 : stage === 2 ? 3 + Math.floor(block / 3) : N;
    } else {
      id = N + 1;   // after the backbone: norm, head
    }
    return [id, N + 1 - id];
  };
}
