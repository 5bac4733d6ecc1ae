// `spark pretrain`: the reference's main.py flags (same names and defaults, kebab-case aliases), a thin
// layer over the library's pretrain(): its defaults live in src/train/pretrain_options.ts only.
import { parseArgs, helpText, camelCase, UsageError, type FlagSpecs } from './args.js';
import { pretrain, PRETRAIN_DEFAULTS as D, resolvePretrainOptions, type PretrainOptions } from '../train/pretrain.js';
import { withStopSignals } from './signals.js';

export const PRETRAIN_FLAGS: FlagSpecs = {
  data_path: { type: 'string', default: D.dataPath, help: 'image folder (ImageNet layout <root>/train/<class>/* or any folder of images); default: the bundled demo photos' },
  exp_dir: { type: 'string', default: D.expDir, help: 'where checkpoints, logs and pictures go (default: exp/<model>)' },
  model: { type: 'string', default: D.model, help: 'encoder: resnet18/34/50/101/152/200, seresnet50, resnet50_gn, convnext_tiny/small/base/large, or resnet8 (small images, e.g. 32 px)' },
  input_size: { type: 'int', default: D.inputSize, help: "image side; a multiple of the model's downsample ratio (32; 8 for resnet8)" },
  mask: { type: 'float', default: D.mask, help: 'mask ratio, in (0, 1)' },
  bs: { type: 'int', default: D.bs, help: 'batch size' },
  base_lr: { type: 'float', default: D.baseLr, help: 'lr = base_lr × bs / 256' },
  wd: { type: 'float', default: D.wd, help: 'weight decay at the start (cosine to --wde)' },
  wde: { type: 'float', default: D.wde, help: 'weight decay at the end' },
  ep: { type: 'int', default: D.ep, help: 'epochs' },
  wp_ep: { type: 'float', default: D.wpEp, help: 'warmup epochs' },
  clip: { type: 'float', default: D.clip, help: 'gradient clipping (global norm); LAMB clips inside its step' },
  opt: { type: 'string', default: D.opt, help: 'lamb, adamw or sgd' },
  ada: { type: 'float', default: D.ada, help: 'Adam beta2; 0 = 0.95 for ResNets, 0.999 for ConvNeXts' },
  dp: { type: 'float', default: D.dp, help: 'drop path rate; 0 = the reference\'s per-model default (resnet50 0.05, convnext_small 0.2, …)' },
  decoder_width: { type: 'int', default: D.decoderWidth, help: 'width of the light decoder (halves per block)' },
  init_weight: { type: 'string', default: D.initWeight, help: 'load model weights only from a checkpoint (ours or the reference\'s)' },
  resume_from: { type: 'string', default: D.resumeFrom, help: 'resume a run from its *_spark_style.pth (weights, optimizer, epoch, data position, RNG)' },
  seed: { type: 'int', default: D.seed, help: 'random seed (data order, augmentation, masks, init)' },
  threads: { type: 'int', default: D.threads, help: 'libtorch intra-op threads (default: all cores)' },
  workers: { type: 'int', default: D.workers, aliases: ['dataloader_workers'], help: 'image decoding worker threads (default: min(cores, 8); 0 = main thread)' },
  device: { type: 'string', default: D.device, help: 'cpu or cuda[:n]' },
  vis_every: { type: 'int', default: D.visEvery, help: 'write a reconstruction grid every N epochs (and after the first and last)' },
  vis_images: { type: 'int', default: D.visImages, help: 'images in the reconstruction grid' },
  safetensors: { type: 'bool', default: D.safetensors, help: 'also write the encoder weights as .safetensors' },
  sbn: { type: 'bool', default: D.sbn, help: 'SyncBN: BatchNorm statistics over all ranks when distributed (the reference\'s default); ignored in one process' },
  max_iters: { type: 'int', default: D.maxIters, help: 'stop after this many iterations (0 = all epochs)' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark pretrain [--data_path DIR] [--model resnet50] [--exp_dir DIR] [flags]';

/** Flags → PretrainOptions; pretrain() applies the defaults (PRETRAIN_DEFAULTS, the same as the flags'). */
export function pretrainOptionsFromArgs(argv: string[]): PretrainOptions | null {
  const { flags: f, positional } = parseArgs(argv, PRETRAIN_FLAGS);
  if (f.help) { console.log(helpText(USAGE, PRETRAIN_FLAGS)); return null; }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'; give the image folder as --data_path ${positional[0]}`);
  const o: Record<string, unknown> = { cmd: ['spark', 'pretrain', ...argv].join(' ') };
  for (const flag of Object.keys(PRETRAIN_FLAGS)) if (flag !== 'help') o[camelCase(flag)] = f[flag];
  return resolvePretrainOptions(o as PretrainOptions);
}

export async function pretrainCommand(argv: string[]): Promise<number> {
  const o = pretrainOptionsFromArgs(argv);
  if (!o) return 0;
  // SIGINT/SIGTERM: finish the current step, save, exit 0. A second signal exits at once.
  await withStopSignals('pretrain', (stopRequested) => pretrain({ ...o, stopRequested }));
  return 0;
}
