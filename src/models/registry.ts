// Models by name (timm's create_model for the names SparK pretrains and fine-tunes): ONE record per
// model holding every per-model fact — family, factory, the reference's pretraining defaults
// (pretrain/models/__init__.py drop path; main.py's densify norm and Adam β₂ per family), its
// fine-tuning defaults (downstream_imagenet/arg.py HP_DEFAULT_VALUES; ours, stated, for the models that
// table lacks) and the layer-id rule of layer-wise lr decay. Jobs read the record; nothing guesses
// from a model's name.
import { ResNet, RESNET_ARCHS, type GlobalPoolType } from './resnet.js';
import { ConvNeXt, CONVNEXT_ARCHS } from './convnext.js';
import type { Encoder } from './contract.js';
import { resnetLayerIdRule, convnextLayerIdRule, type LayerIdRule } from './layer_decay.js';

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
  /** ConvNeXt only: the official head_init_scale (default 1). */
  headInitScale?: number;
  /** Skip the model's own weight init (keep PyTorch's layer defaults): when a checkpoint will overwrite them. */
  skipInit?: boolean;
}

const COMMON = ['numClasses', 'globalPool', 'dropPathRate', 'inChans', 'skipInit'];
const FAMILY_OPTS = { resnet: [...COMMON, 'dropRate', 'zeroInitLastBn'], convnext: [...COMMON, 'layerScaleInitValue', 'headInitScale'] };

export type ModelFamily = 'resnet' | 'convnext';
/** SparK's densify norm per family: sparse BatchNorm for ResNets, sparse LayerNorm for ConvNeXts. */
export type DensifyNormKind = 'bn' | 'ln';

/** The reference's SparK pretraining facts for one model. */
export interface PretrainFacts {
  /** pretrain_default_model_kwargs drop_path_rate (0 for the models it does not list) */
  readonly dropPathRate: number;
  /** main.py: densify_norm 'bn' for ResNets, 'ln' for ConvNeXts */
  readonly densifyNorm: DensifyNormKind;
  /** main.py's --ada default: Adam β₂ 0.95 for ResNets, 0.999 for ConvNeXts */
  readonly adamBeta2: number;
}

/** One row of downstream_imagenet/arg.py HP_DEFAULT_VALUES (names as its HP_DEFAULT_NAMES). */
export interface FinetuneDefaults {
  readonly bs: number;
  readonly ep: number;
  readonly wp_ep: number;
  readonly opt: 'adam' | 'lamb';
  readonly base_lr: number;
  readonly lr_scale: number;
  readonly wd: number;
  readonly mixup: number;
  readonly rep_aug: number;
  readonly drop_path: number;
  readonly ema: number;
  /** 'arg.py' = the reference's own row; otherwise why sparkts chose these values */
  readonly source: string;
}

export interface ModelRecord {
  readonly name: ModelName;
  readonly family: ModelFamily;
  /** the architecture the factory builds (timm's layers per stage, or ConvNeXt depths and dims) */
  readonly arch: (typeof RESNET_ARCHS)[ResNetName] | (typeof CONVNEXT_ARCHS)[ConvNeXtName];
  /** the encoder's downsample ratio = SparK's mask patch size (input sizes must be multiples of it) */
  readonly downsampleRatio: number;
  /** the factory: createModel(name, opts) */
  create(opts?: CreateModelOptions): ResNet | ConvNeXt;
  readonly pretrain: PretrainFacts;
  /** fine-tuning defaults at the reference's img_size 224 */
  readonly finetune: FinetuneDefaults;
  /** the reference's separate row for fine-tuning at 384 px, where it has one (convnext_large_384) */
  readonly finetune384?: FinetuneDefaults;
  /** layer ids for layer-wise lr decay: resnets_/convnext_get_layer_id_and_scale_exp (layer_decay.ts) */
  readonly layerIdRule: LayerIdRule;
}

type Row = [bs: number, ep: number, wp_ep: number, opt: 'adam' | 'lamb', base_lr: number, lr_scale: number, wd: number,
  mixup: number, rep_aug: number, drop_path: number, ema: number];
const row = (r: Row, source = 'arg.py'): FinetuneDefaults => {
  const [bs, ep, wp_ep, opt, base_lr, lr_scale, wd, mixup, rep_aug, drop_path, ema] = r;
  return Object.freeze({ bs, ep, wp_ep, opt, base_lr, lr_scale, wd, mixup, rep_aug, drop_path, ema, source });
};

// downstream_imagenet/arg.py HP_DEFAULT_VALUES, verbatim
const HP = {
  convnext_small: row([4096, 400, 20, 'adam', 0.0002, 0.7, 0.01, 0.8, 3, 0.3, 0.9999]),
  convnext_base: row([4096, 400, 20, 'adam', 0.0001, 0.7, 0.01, 0.8, 3, 0.4, 0.9999]),
  convnext_large: row([4096, 200, 10, 'adam', 0.0001, 0.7, 0.02, 0.8, 3, 0.5, 0.9999]),
  convnext_large_384: row([1024, 200, 20, 'adam', 0.00006, 0.7, 0.01, 0.8, 3, 0.5, 0.99995]),
  resnet50: row([2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999]),
  resnet101: row([2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999]),
  resnet152: row([2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999]),
  resnet200: row([2048, 300, 5, 'lamb', 0.001, 0.8, 0.02, 0.1, 0, 0.2, 0.9999]),
  // the models the reference's table lacks: the nearest listed model's recipe, stated in the README
  resnet18: row([2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999], "sparkts: resnet50's row (the reference's recipe for the nearest ResNet it lists; not tuned)"),
  resnet34: row([2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999], "sparkts: resnet50's row (the reference's recipe for the nearest ResNet it lists; not tuned)"),
  convnext_tiny: row([4096, 400, 20, 'adam', 0.0002, 0.7, 0.01, 0.8, 3, 0.1, 0.9999], "sparkts: convnext_small's row with drop path 0.1, the ConvNeXt paper's ImageNet-1k value for ConvNeXt-T (not tuned)"),
  seresnet50: row([2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999], "sparkts: resnet50's row (the same network with squeeze-excitation; not tuned)"),
  resnet50_gn: row([2048, 300, 5, 'lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999], "sparkts: resnet50's row (the same network with GroupNorm; not tuned)"),
  // resnet8 is fine-tuned on a few hundred to a few thousand labelled 32-px images (docs/transfer.md):
  // resnet50's optimizer, weight decay, layer decay, mixup and drop path, with a batch such a set can
  // fill (32), an lr with which LAMB moves the weights in a few hundred steps (base_lr 0.16 → lr 0.02
  // by the linear rule; LAMB's step is lr × the weight norm, so lr 4e-3 left a net from random init
  // at chance after 100 steps), 10 epochs (≈ 320 steps on 1000 images) and an EMA decay that averages
  // over ~100 of those steps (0.99; 0.9999 would stay near the initial weights in so few steps)
  resnet8: row([32, 10, 1, 'lamb', 0.16, 0.7, 0.02, 0.1, 0, 0.05, 0.99], "sparkts: resnet50's row for small labelled sets of 32-px images (bs 32, lr 0.02, 10 epochs, EMA 0.99; chosen, not tuned)"),
} as const;

const RESNET_PRETRAIN = (dropPathRate: number): PretrainFacts => Object.freeze({ dropPathRate, densifyNorm: 'bn', adamBeta2: 0.95 });
const CONVNEXT_PRETRAIN = (dropPathRate: number): PretrainFacts => Object.freeze({ dropPathRate, densifyNorm: 'ln', adamBeta2: 0.999 });

// pretrain_default_model_kwargs drop_path_rate; the models it does not list get 0
const PRETRAIN_DROP_PATH: Record<ModelName, number> = {
  resnet8: 0, resnet18: 0, resnet34: 0, resnet50: 0.05, resnet101: 0.08, resnet152: 0.10, resnet200: 0.15, seresnet50: 0, resnet50_gn: 0,
  convnext_tiny: 0, convnext_small: 0.2, convnext_base: 0.3, convnext_large: 0.4,
};

function buildRecords(): Map<string, ModelRecord> {
  const out = new Map<string, ModelRecord>();
  for (const [name, arch] of Object.entries(RESNET_ARCHS) as [ResNetName, (typeof RESNET_ARCHS)[ResNetName]][]) {
    out.set(name, Object.freeze({
      name, family: 'resnet' as const, arch, downsampleRatio: ('stem' in arch && arch.stem === 'small' ? 2 : 4) * 2 ** (arch.layers.length - 1), create: (o?: CreateModelOptions) => createModel(name, o), pretrain: RESNET_PRETRAIN(PRETRAIN_DROP_PATH[name]), finetune: HP[name],
      layerIdRule: resnetLayerIdRule(arch.layers),
    }));
  }
  for (const [name, arch] of Object.entries(CONVNEXT_ARCHS) as [ConvNeXtName, (typeof CONVNEXT_ARCHS)[ConvNeXtName]][]) {
    out.set(name, Object.freeze({
      name, family: 'convnext' as const, arch, downsampleRatio: 32, create: (o?: CreateModelOptions) => createModel(name, o), pretrain: CONVNEXT_PRETRAIN(PRETRAIN_DROP_PATH[name]), finetune: HP[name],
      ...(name === 'convnext_large' ? { finetune384: HP.convnext_large_384 } : {}),
      layerIdRule: convnextLayerIdRule(arch.depths),
    }));
  }
  return out;
}
const RECORDS = buildRecords();

/** The registry record of a model name; one error line listing the known names otherwise. */
export function modelRecord(name: string): ModelRecord {
  const r = RECORDS.get(name);
  if (!r) throw new Error(`unknown model '${name}'; known models: ${listModels().join(', ')}`);
  return r;
}

/** Every record, in listModels() order. */
export function modelRecords(): ModelRecord[] {
  return [...RECORDS.values()];
}

/**
 * The fine-tuning defaults for `name` at this image size: arg.py picks its convnext_large_384 row for
 * convnext_large at img_size 384, the model's own row otherwise.
 */
export function finetuneDefaults(name: string, imgSize = 224): FinetuneDefaults {
  const r = modelRecord(name);
  return imgSize === 384 && r.finetune384 ? r.finetune384 : r.finetune;
}

export interface PretrainDefaults { numClasses: 0; globalPool: ''; dropPathRate: number }

function familyOf(name: string): ModelFamily {
  return modelRecord(name).family;
}

/** Every registered model name. */
export function listModels(): ModelName[] {
  return [...Object.keys(RESNET_ARCHS), ...Object.keys(CONVNEXT_ARCHS)] as ModelName[];
}

export function isModelName(name: string): name is ModelName {
  return Object.hasOwn(RESNET_ARCHS, name) || Object.hasOwn(CONVNEXT_ARCHS, name);
}

/**
 * The classification form the reference fine-tunes (timm's create_model(name, num_classes=K,
 * drop_path_rate=dp)): timm ResNet with `fc`, official ConvNeXt with `norm` + `head`.
 */
export function createClassifier(name: string, o: { numClasses: number; dropPathRate?: number; skipInit?: boolean }): ResNet | ConvNeXt {
  if (!Number.isInteger(o.numClasses) || o.numClasses < 1) throw new Error(`createClassifier('${name}'): numClasses must be a positive integer, got ${o.numClasses}`);
  return createModel(name, { numClasses: o.numClasses, dropPathRate: o.dropPathRate ?? 0, ...(o.skipInit ? { skipInit: true } : {}) });
}

/** Build a registered model (weights freshly initialised from the default generator). */
export function createModel(name: ResNetName, opts?: CreateModelOptions): ResNet;
export function createModel(name: 'convnext_tiny' | 'convnext_small' | 'convnext_base' | 'convnext_large', opts?: CreateModelOptions): ConvNeXt;
export function createModel(name: string, opts?: CreateModelOptions): ResNet | ConvNeXt;
export function createModel(name: string, opts: CreateModelOptions = {}): ResNet | ConvNeXt {
  const family = familyOf(name);
  const allowed = FAMILY_OPTS[family];
  const bad = Object.keys(opts).filter((k) => !allowed.includes(k));
  if (bad.length) throw new Error(`createModel('${name}'): unknown option${bad.length > 1 ? 's' : ''} ${bad.join(', ')}; ${family} models take ${allowed.join(', ')}`);
  if (family === 'resnet') {
    const a: (typeof RESNET_ARCHS)[ResNetName] & { attnLayer?: 'se'; norm?: 'gn'; channels?: readonly number[]; stemWidth?: number; stem?: 'timm' | 'small' } = RESNET_ARCHS[name as ResNetName];
    return new ResNet({
      block: a.block, layers: [...a.layers], attnLayer: a.attnLayer ?? null, norm: a.norm ?? 'bn',
      ...(a.channels ? { channels: [...a.channels] } : {}), ...(a.stemWidth ? { stemWidth: a.stemWidth } : {}), ...(a.stem ? { stem: a.stem } : {}),
      ...opts,
    });
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
  return { numClasses: 0, globalPool: '', dropPathRate: modelRecord(name).pretrain.dropPathRate };
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
