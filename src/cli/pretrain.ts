// `spark pretrain`: the reference's main.py flags (same names and defaults, kebab-case aliases).
import path from 'node:path';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';
import { pretrain, type PretrainOptions } from '../train/pretrain.js';
import { demoDataPath, defaultWorkerCount } from '../data/index.js';
import { defaultNumThreads } from '../torch/index.js';
import { withStopSignals } from './signals.js';

export const PRETRAIN_FLAGS: FlagSpecs = {
  data_path: { type: 'string', default: '', help: 'image folder (ImageNet layout <root>/train/<class>/* or any folder of images); default: the bundled demo photos' },
  exp_dir: { type: 'string', default: '', help: 'where checkpoints, logs and pictures go (default: exp/<model>)' },
  model: { type: 'string', default: 'resnet50', help: 'encoder: resnet18/34/50/101/152/200, convnext_tiny/small/base/large, or resnet8 (small images, e.g. 32 px)' },
  input_size: { type: 'int', default: 224, help: "image side; a multiple of the model's downsample ratio (32; 8 for resnet8)" },
  mask: { type: 'float', default: 0.6, help: 'mask ratio, in (0, 1)' },
  bs: { type: 'int', default: 4096, help: 'batch size' },
  base_lr: { type: 'float', default: 2e-4, help: 'lr = base_lr × bs / 256' },
  wd: { type: 'float', default: 0.04, help: 'weight decay at the start (cosine to --wde)' },
  wde: { type: 'float', default: 0.2, help: 'weight decay at the end' },
  ep: { type: 'int', default: 1600, help: 'epochs' },
  wp_ep: { type: 'float', default: 40, help: 'warmup epochs' },
  clip: { type: 'float', default: 5, help: 'gradient clipping (global norm); LAMB clips inside its step' },
  opt: { type: 'string', default: 'lamb', help: 'lamb, adamw or sgd' },
  ada: { type: 'float', default: 0, help: 'Adam beta2; 0 = 0.95 for ResNets, 0.999 for ConvNeXts' },
  dp: { type: 'float', default: 0, help: 'drop path rate; 0 = the reference\'s per-model default (resnet50 0.05, convnext_small 0.2, …)' },
  decoder_width: { type: 'int', default: 768, help: 'width of the light decoder (halves per block)' },
  init_weight: { type: 'string', default: '', help: 'load model weights only from a checkpoint (ours or the reference\'s)' },
  resume_from: { type: 'string', default: '', help: 'resume a run from its *_spark_style.pth (weights, optimizer, epoch, data position, RNG)' },
  seed: { type: 'int', default: 0, help: 'random seed (data order, augmentation, masks, init)' },
  threads: { type: 'int', default: 0, help: 'libtorch intra-op threads (default: all cores)' },
  workers: { type: 'int', default: -1, aliases: ['dataloader_workers'], help: 'image decoding worker threads (default: min(cores, 8); 0 = main thread)' },
  device: { type: 'string', default: 'cpu', help: 'cpu or cuda[:n]' },
  vis_every: { type: 'int', default: 10, help: 'write a reconstruction grid every N epochs (and after the first and last)' },
  vis_images: { type: 'int', default: 8, help: 'images in the reconstruction grid' },
  safetensors: { type: 'bool', default: false, help: 'also write the encoder weights as .safetensors' },
  max_iters: { type: 'int', default: 0, help: 'stop after this many iterations (0 = all epochs)' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark pretrain [--data_path DIR] [--model resnet50] [--exp_dir DIR] [flags]';

export function pretrainOptionsFromArgs(argv: string[]): PretrainOptions | null {
  const { flags: f, positional } = parseArgs(argv, PRETRAIN_FLAGS);
  if (f.help) { console.log(helpText(USAGE, PRETRAIN_FLAGS)); return null; }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'; give the image folder as --data_path ${positional[0]}`);
  const model = f.model as string;
  const workers = f.workers as number;
  return {
    model, inputSize: f.input_size as number, mask: f.mask as number, bs: f.bs as number, baseLr: f.base_lr as number,
    wd: f.wd as number, wde: f.wde as number, ep: f.ep as number, wpEp: f.wp_ep as number, clip: f.clip as number,
    opt: (f.opt as string).toLowerCase() as PretrainOptions['opt'], ada: f.ada as number, dp: f.dp as number,
    decoderWidth: f.decoder_width as number,
    dataPath: (f.data_path as string) || demoDataPath(),
    expDir: path.resolve((f.exp_dir as string) || path.join('exp', model)),
    initWeight: f.init_weight as string, resumeFrom: f.resume_from as string, seed: f.seed as number,
    threads: (f.threads as number) || defaultNumThreads(), device: f.device as string,
    workers: workers >= 0 ? workers : defaultWorkerCount(),
    visEvery: f.vis_every as number, visImages: f.vis_images as number, safetensors: f.safetensors as boolean,
    maxIters: f.max_iters as number, cmd: ['spark', 'pretrain', ...argv].join(' '),
  };
}

export async function pretrainCommand(argv: string[]): Promise<number> {
  const o = pretrainOptionsFromArgs(argv);
  if (!o) return 0;
  // SIGINT/SIGTERM: finish the current step, save, exit 0. A second signal exits at once.
  await withStopSignals('pretrain', (stopRequested) => pretrain({ ...o, stopRequested }));
  return 0;
}
