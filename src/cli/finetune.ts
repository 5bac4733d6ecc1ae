// `spark finetune`: downstream_imagenet/main.py's flags (same names, kebab-case aliases). The per-model
// hyperparameters have no default here: left out, they come from the model's registry record
// (resolveFinetuneOptions in src/train/finetune_options.ts holds every default).
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';
import { finetune } from '../train/finetune.js';
import { FINETUNE_DEFAULTS, type FinetuneOptions } from '../train/finetune_options.js';
import { withStopSignals } from './signals.js';

const RECIPE = 'default: the model\'s recipe (arg.py HP_DEFAULT_VALUES; see README)';

export const FINETUNE_FLAGS: FlagSpecs = {
  data_path: { type: 'string', help: 'dataset root with train/<class>/* and val/<class>/* (ImageNet layout)' },
  model: { type: 'string', help: 'resnet18/34/50/101/152/200, convnext_tiny/small/base/large, or resnet8 (small images)' },
  resume_from: { type: 'string', help: 'weights: a *_1kpretrained_timm_style.pth, a *_withdecoder_*spark_style.pth (its encoder), or a *_1kfinetuned_*.pth to resume; none = random init' },
  exp_dir: { type: 'string', help: 'where checkpoints and logs go (default exp/<model>_finetune)' },
  img_size: { type: 'int', default: FINETUNE_DEFAULTS.imgSize, help: 'image side' },
  bs: { type: 'int', help: `global batch size (each of the spark launch ranks trains bs/world); ${RECIPE}` },
  ep: { type: 'int', help: `epochs; ${RECIPE}` },
  wp_ep: { type: 'float', help: `warmup epochs; ${RECIPE}` },
  opt: { type: 'string', help: `adam (= adamw, timm AdamW) or lamb (timm Lamb); ${RECIPE}` },
  base_lr: { type: 'float', help: `lr = base_lr × bs / 256; ${RECIPE}` },
  lr_scale: { type: 'float', help: `layer-wise lr decay (used when below 1); ${RECIPE}` },
  clip: { type: 'float', default: FINETUNE_DEFAULTS.clip, help: 'gradient clipping max norm; ≤ 0 = none' },
  wd: { type: 'float', help: `weight decay; ${RECIPE}` },
  mixup: { type: 'float', help: `mixup α (cutmix α 1, switch prob 0.5, label smoothing 0.1); 0 = no mixing; ${RECIPE}` },
  rep_aug: { type: 'int', help: `repeated augmentation count; 0 = none; ${RECIPE}` },
  drop_path: { type: 'float', help: `stochastic depth rate; ${RECIPE}` },
  ema: { type: 'float', help: `EMA decay; ${RECIPE}` },
  sbn: { type: 'bool', default: FINETUNE_DEFAULTS.sbn, help: 'SyncBN: BatchNorm statistics over all ranks when distributed (the reference\'s default); ignored in one process' },
  dataloader_workers: { type: 'int', default: -1, aliases: ['workers'], help: 'image decoding worker threads (default: min(cores, 8); 0 = main thread)' },
  num_classes: { type: 'int', default: FINETUNE_DEFAULTS.numClasses, help: 'classifier outputs (0 = the number of class folders)' },
  device: { type: 'string', default: FINETUNE_DEFAULTS.device, help: 'cpu or cuda[:n]' },
  threads: { type: 'int', default: FINETUNE_DEFAULTS.threads, help: 'libtorch intra-op threads (0 = all cores)' },
  seed: { type: 'int', default: FINETUNE_DEFAULTS.seed, help: 'random seed (init, data order, augmentation, mixing, drop path)' },
  max_iters: { type: 'int', default: FINETUNE_DEFAULTS.maxIters, help: 'stop after this many iterations (0 = all epochs)' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark finetune --data_path DIR --model resnet50 [--resume_from WEIGHTS.pth] [--exp_dir DIR] [flags]';

export function finetuneOptionsFromArgs(argv: string[]): FinetuneOptions | null {
  const { flags: f, positional } = parseArgs(argv, FINETUNE_FLAGS);
  if (f.help) { console.log(helpText(USAGE, FINETUNE_FLAGS)); return null; }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'; give the dataset root as --data_path ${positional[0]}`);
  if (!f.data_path) throw new UsageError('--data_path is required: the dataset root with train/<class>/* and val/<class>/*');
  if (!f.model) throw new UsageError('--model is required (e.g. --model resnet50)');
  const workers = f.dataloader_workers as number;
  const num = (k: string): number | undefined => f[k] as number | undefined;
  return {
    dataPath: f.data_path as string, model: f.model as string, resumeFrom: (f.resume_from as string | undefined) ?? '',
    expDir: f.exp_dir as string | undefined, imgSize: num('img_size'),
    bs: num('bs'), ep: num('ep'), wpEp: num('wp_ep'), opt: f.opt as string | undefined, baseLr: num('base_lr'), lrScale: num('lr_scale'),
    clip: num('clip'), wd: num('wd'), mixup: num('mixup'), repAug: num('rep_aug'), dropPath: num('drop_path'), ema: num('ema'),
    sbn: f.sbn as boolean, workers: workers >= 0 ? workers : undefined, numClasses: num('num_classes'),
    device: f.device as string, threads: num('threads'), seed: num('seed'), maxIters: num('max_iters'),
    cmd: ['spark', 'finetune', ...argv].join(' '),
  };
}

export async function finetuneCommand(argv: string[]): Promise<number> {
  const o = finetuneOptionsFromArgs(argv);
  if (!o) return 0;
  // SIGINT/SIGTERM: finish the current step, save, exit 0. A second signal exits at once.
  await withStopSignals('finetune', (stopRequested) => finetune({ ...o, stopRequested }));
  return 0;
}
