// The fine-tuning job's options: one place for their defaults (the CLI, the library API and the tests
// all resolve through `resolveFinetuneOptions`), the reference's per-model recipe from the registry
// record (downstream_imagenet/arg.py HP_DEFAULT_VALUES) for every hyperparameter not given, and the
// checks that can run before any data is read or any model is built.
import { existsSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import { finetuneDefaults, isModelName, listModels, type FinetuneDefaults } from '../models/index.js';
import { defaultWorkerCount } from '../data/index.js';

import { FINETUNE_OPTIMIZERS, type FinetuneOptimizerName } from './finetune/index.js';

/** Progress events for a caller that wants them (the library API, a UI). */
export type FinetuneProgress =
  | { kind: 'step'; epoch: number; iter: number; itersPerEpoch: number; globalIter: number; totalIters: number; loss: number; acc: number; lr: number; imgPerSec: number }
  | { kind: 'eval'; epoch: number; acc: number; accEma: number; maxAcc: number; maxAccEma: number }
  | { kind: 'epoch'; epoch: number; trainLoss: number; trainAcc: number };

/**
 * What a caller gives. Every hyperparameter the reference's table holds (bs … ema) is optional: when
 * not given it comes from the model's registry record (arg.py HP_DEFAULT_VALUES, or sparkts's stated
 * row for the models that table lacks). Unlike arg.py, an explicit 0 is kept (arg.py replaces every
 * falsy value by the default, so `--mixup 0` could not switch mixing off there).
 */
export interface FinetuneOptions {
  /** dataset root with train/<class>/* and val/<class>/* */
  dataPath: string;
  model: string;
  /** weights in: a timm-style file, a *_withdecoder_*spark_style.pth (its encoder), or one of our fine-tune checkpoints (resumed exactly); '' = random init */
  resumeFrom?: string;
  /** default exp/<model>_finetune */
  expDir?: string;
  imgSize?: number;
  bs?: number;
  ep?: number;
  wpEp?: number;
  opt?: string;
  baseLr?: number;
  /** layer-wise lr decay factor (used when 0 < lr_scale < 1) */
  lrScale?: number;
  /** gradient clipping max norm; ≤ 0: none (the reference's -1) */
  clip?: number;
  wd?: number;
  mixup?: number;
  repAug?: number;
  dropPath?: number;
  ema?: number;
  /** SyncBN when distributed (the reference's --sbn, default true): BatchNorm statistics over all ranks; ignored in one process */
  sbn?: boolean;
  /** decode worker threads (the reference's --dataloader_workers); default min(cores, 8) */
  workers?: number;
  /** classifier outputs; default: the number of class folders */
  numClasses?: number;
  device?: string;
  /** libtorch intra-op threads; 0 (default) = the machine's available parallelism */
  threads?: number;
  seed?: number;
  /** stop after this many iterations in this invocation (0 = run all epochs); for smoke tests */
  maxIters?: number;
  /** the command line, recorded in the checkpoints' args and the log */
  cmd?: string;
  /** where messages and the progress bar go (default stdout) */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** false: no messages and no progress bar (use onProgress) */
  verbose?: boolean;
  onProgress?: (p: FinetuneProgress) => void;
  /** true when the run should stop after the current step (signals); set by the CLI */
  stopRequested?: () => boolean;
}

/** Defaults of everything that is not a per-model hyperparameter (the reference's where it has one). */
export const FINETUNE_DEFAULTS = {
  resumeFrom: '', imgSize: 224, clip: -1, sbn: true, numClasses: 0, device: 'cpu', threads: 0, seed: 0, maxIters: 0, cmd: '',
} as const;

export interface ResolvedFinetuneOptions extends Required<Omit<FinetuneOptions, 'stdout' | 'onProgress' | 'stopRequested' | 'opt' | 'verbose'>> {
  opt: FinetuneOptimizerName;
  /** lr = base_lr · bs / 256 (arg.py) */
  lr: number;
  /** where the per-model defaults came from (the record's source line) */
  recipeSource: string;
  /** the hyperparameters that came from the record rather than from the caller */
  fromRecipe: string[];
  stdout?: FinetuneOptions['stdout'];
  verbose?: boolean;
  onProgress?: FinetuneOptions['onProgress'];
  stopRequested?: FinetuneOptions['stopRequested'];
}

const HP_KEYS = [['bs', 'bs'], ['ep', 'ep'], ['wpEp', 'wp_ep'], ['opt', 'opt'], ['baseLr', 'base_lr'], ['lrScale', 'lr_scale'],
  ['wd', 'wd'], ['mixup', 'mixup'], ['repAug', 'rep_aug'], ['dropPath', 'drop_path'], ['ema', 'ema']] as const;

/** The flag name of an option (for messages): baseLr → --base_lr. */
export const flagName = (k: string): string => `--${k.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)}`;

/** Fill every option not given: per-model hyperparameters from the registry record, the rest from FINETUNE_DEFAULTS. */
export function resolveFinetuneOptions(o: FinetuneOptions): ResolvedFinetuneOptions {
  if (!o.model || !isModelName(o.model)) throw new Error(`unknown model '${o.model ?? ''}'; choose one of ${listModels().join(', ')} (--model)`);
  const imgSize = o.imgSize ?? FINETUNE_DEFAULTS.imgSize;
  const rec: FinetuneDefaults = finetuneDefaults(o.model, imgSize);
  const hp: Record<string, unknown> = {};
  const fromRecipe: string[] = [];
  for (const [k, ref] of HP_KEYS) {
    const given = (o as unknown as Record<string, unknown>)[k];
    if (given === undefined) { hp[k] = rec[ref]; fromRecipe.push(ref); } else hp[k] = given;
  }
  const r: ResolvedFinetuneOptions = {
    ...FINETUNE_DEFAULTS,
    ...Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)),
    ...hp,
    imgSize,
    opt: String(hp.opt).toLowerCase() as FinetuneOptimizerName,
    dataPath: o.dataPath,
    model: o.model,
    expDir: path.resolve(o.expDir || path.join('exp', `${o.model}_finetune`)),
    workers: o.workers !== undefined && o.workers >= 0 ? o.workers : defaultWorkerCount(),
    threads: o.threads || torch.defaultNumThreads(),
    lr: 0,
    recipeSource: rec.source,
    fromRecipe,
  } as ResolvedFinetuneOptions;
  r.lr = r.baseLr * r.bs / 256;
  return r;
}

const int = (v: number, min: number): boolean => Number.isInteger(v) && v >= min;

/** The checks that need neither data nor a model; one line naming the flag and the fix. */
export function validateFinetuneOptions(o: ResolvedFinetuneOptions): void {
  // the reference's fine-tuning optimizers (util.py opt_cls): timm AdamW ('adam' = 'adamw') and timm Lamb
  if (!(FINETUNE_OPTIMIZERS as readonly string[]).includes(o.opt)) {
    throw new Error(`unknown --opt '${o.opt}'; choose adam, adamw or lamb (the reference's fine-tuning optimizers)`);
  }
  if (!o.dataPath) throw new Error('--data_path is required: a folder with train/<class>/* and val/<class>/*');
  if (!int(o.imgSize, 32)) throw new Error(`--img_size must be an integer ≥ 32, got ${o.imgSize}`);
  if (!int(o.bs, 1)) throw new Error(`--bs must be a positive integer, got ${o.bs}`);
  if (!int(o.ep, 1)) throw new Error(`--ep must be a positive integer, got ${o.ep}`);
  if (!(o.wpEp >= 0 && o.wpEp < o.ep)) throw new Error(`--wp_ep must be ≥ 0 and below --ep ${o.ep}, got ${o.wpEp}`);
  if (!(o.baseLr > 0)) throw new Error(`--base_lr must be positive, got ${o.baseLr}`);
  if (!(o.lrScale > 0)) throw new Error(`--lr_scale must be positive (layer-wise decay is used when it is below 1), got ${o.lrScale}`);
  if (!(o.wd >= 0)) throw new Error(`--wd must be ≥ 0, got ${o.wd}`);
  if (!(o.mixup >= 0)) throw new Error(`--mixup must be ≥ 0 (0 = no mixing, smoothed targets only), got ${o.mixup}`);
  if (!int(o.repAug, 0)) throw new Error(`--rep_aug must be a whole number ≥ 0 (repeats per image; 0 = none), got ${o.repAug}`);
  if (!(o.dropPath >= 0 && o.dropPath < 1)) throw new Error(`--drop_path must be in [0, 1), got ${o.dropPath}`);
  if (!(o.ema >= 0 && o.ema < 1)) throw new Error(`--ema must be in [0, 1) (the EMA decay), got ${o.ema}`);
  if (!Number.isFinite(o.clip)) throw new Error(`--clip must be a number (≤ 0: no clipping), got ${o.clip}`);
  if (!int(o.numClasses, 0)) throw new Error(`--num_classes must be a whole number (0 = the number of class folders), got ${o.numClasses}`);
  if (!int(o.threads, 0)) throw new Error(`--threads must be a whole number ≥ 0, got ${o.threads}`);
  if (!int(o.workers, 0)) throw new Error(`--dataloader_workers must be a whole number ≥ 0, got ${o.workers}`);
  if (!Number.isInteger(o.seed)) throw new Error(`--seed must be an integer, got ${o.seed}`);
  if (!int(o.maxIters, 0)) throw new Error(`--max_iters must be a whole number ≥ 0, got ${o.maxIters}`);
  if (o.device !== 'cpu' && !/^cuda(:\d+)?$/.test(o.device)) throw new Error(`--device must be cpu or cuda[:n], got '${o.device}'`);
  if (o.device.startsWith('cuda') && !torch.cuda.isAvailable()) {
    throw new Error(`--device ${o.device} but this libtorch has no CUDA (or no GPU is visible); use --device cpu or point LIBTORCH at a CUDA libtorch`);
  }
  if (o.resumeFrom && !existsSync(o.resumeFrom)) throw new Error(`--resume_from ${o.resumeFrom} does not exist; check the path`);
}
