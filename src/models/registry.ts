// Models by name (timm's create_model for the names SparK pretrains), and the reference's
// pretraining defaults per name (pretrain/models/__init__.py: pretrain_default_model_kwargs).
import { ResNet, RESNET_ARCHS, type GlobalPoolType } from './resnet.js';
import { ConvNeXt, CONVNEXT_ARCHS } from './convnext.js';
import type { Encoder } from './contract.js';

export type ResNetName = keyof typeof RESNET_ARCHS;
export type ConvNeXtName = keyof typeof CONVNEXT_ARCHS;
export type ModelName = ResNetName | ConvNeXtName;

/** Options every registered model takes (timm's create_model keywords, camelCased). */
export interface CreateModelOptions {
  /** Classifier outputs; 0 = encoder only (no head). Default 1000. */
  numClasses?: number;
  /** 'avg' (default), ResNet also 'max'; '' = no pooling (ResNet: needs numClasses 0; ConvNeXt ignores it). */
  globalPool?: GlobalPoolType;
  dropPathRate?: number;
  inChans?: number;
  /** ResNet only: dropout before the classifier. */
  dropRate?: number;
  /** ResNet only: zero each block's last BN weight (default true, as timm). */
  zeroInitLastBn?: boolean;
  /** ConvNeXt only: initial layer scale (default 1e-6). */
  layerScaleInitValue?: number;
  /** Skip the model's own weight init (keep PyTorch's layer defaults): when a checkpoint will overwrite them. */
  skipInit?: boolean;
}

const COMMON = ['numClasses', 'globalPool', 'dropPathRate', 'inChans', 'skipInit'];
const FAMILY_OPTS = { resnet: [...COMMON, 'dropRate', 'zeroInitLastBn'], convnext: [...COMMON, 'layerScaleInitValue'] };

/**
 * The reference's pretraining model kwargs: no head, no pooling, and a per-model stochastic depth.
 * Models the reference does not list for pretraining get 0.
 */
const PRETRAIN_DROP_PATH: Partial<Record<ModelName, number>> = {
  resnet50: 0.05, resnet101: 0.08, resnet152: 0.10, resnet200: 0.15,
  convnext_small: 0.2, convnext_base: 0.3, convnext_large: 0.4,
};

export interface PretrainDefaults { numClasses: 0; globalPool: ''; dropPathRate: number }

function familyOf(name: string): 'resnet' | 'convnext' {
  if (Object.hasOwn(RESNET_ARCHS, name)) return 'resnet';
  if (Object.hasOwn(CONVNEXT_ARCHS, name)) return 'convnext';
  throw new Error(`unknown model '${name}'; known models: ${listModels().join(', ')}`);
}

/** Every registered model name. */
export function listModels(): ModelName[] {
  return [...Object.keys(RESNET_ARCHS), ...Object.keys(CONVNEXT_ARCHS)] as ModelName[];
}

export function isModelName(name: string): name is ModelName {
  return Object.hasOwn(RESNET_ARCHS, name) || Object.hasOwn(CONVNEXT_ARCHS, name);
}

/** Build a registered model (weights freshly initialised from the default generator). */
export function createModel(name: 'resnet18' | 'resnet34' | 'resnet50' | 'resnet101' | 'resnet152' | 'resnet200', opts?: CreateModelOptions): ResNet;
export function createModel(name: 'convnext_tiny' | 'convnext_small' | 'convnext_base' | 'convnext_large', opts?: CreateModelOptions): ConvNeXt;
export function createModel(name: string, opts?: CreateModelOptions): ResNet | ConvNeXt;
export function createModel(name: string, opts: CreateModelOptions = {}): ResNet | ConvNeXt {
  const family = familyOf(name);
  const allowed = FAMILY_OPTS[family];
  const bad = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (bad.length) throw new Error(`createModel('${name}'): unknown option${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; ${family} models take ${allowed.join(', ')}`);
  if (family === 'resnet') {
    const a = RESNET_ARCHS[name as ResNetName];
    return new ResNet({ block: a.block, layers: [...a.layers], ...opts });
  }
  const a = CONVNEXT_ARCHS[name as ConvNeXtName];
  if (opts.globalPool !== undefined && opts.globalPool !== 'avg' && opts.globalPool !== '') {
    throw new Error(`createModel('${name}'): globalPool must be 'avg' or '' for ConvNeXt, got ${JSON.stringify(opts.globalPool)}`);
  }
  const { globalPool, ...rest } = opts;
  return new ConvNeXt({ depths: [...a.depths], dims: [...a.dims], globalPool: globalPool as 'avg' | '' | undefined, ...rest });
}

/** The reference's pretraining kwargs for a model name (num_classes 0, global_pool '', drop path). */
export function pretrainDefaults(name: string): PretrainDefaults {
  familyOf(name);
  return { numClasses: 0, globalPool: '', dropPathRate: PRETRAIN_DROP_PATH[name as ModelName] ?? 0 };
}

/**
 * The encoder SparK pretrains under `name` (the reference's build_sparse_encoder model): no head, no
 * pooling. As in the reference, a dropPathRate of 0 (its --dp default) keeps the model's default
 * rather than disabling stochastic depth. skipInit: for weights a checkpoint will overwrite (resuming).
 */
export function createPretrainEncoder(name: string, o: { dropPathRate?: number; skipInit?: boolean } = {}): (ResNet | ConvNeXt) & Encoder {
  const d = pretrainDefaults(name);
  return createModel(name, { ...d, dropPathRate: o.dropPathRate ? o.dropPathRate : d.dropPathRate, ...(o.skipInit ? { skipInit: true } : {}) });
}
