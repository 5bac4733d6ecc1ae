// The pretraining job's options: one place for their defaults (the CLI's flags, the library API and the
// tests all resolve through `resolvePretrainOptions`). The values are the reference's main.py/utils/arg_util.py
// defaults; the rest (device, threads, workers, pictures, …) are sparkts's own.
import path from 'node:path';
import * as torch from '../torch/index.js';
import { demoDataPath, defaultWorkerCount } from '../data/index.js';

/** Progress events for a caller that wants them (the library API, a UI) instead of the progress bar. */
export type PretrainProgress =
  | { kind: 'step'; epoch: number; iter: number; itersPerEpoch: number; globalIter: number; totalIters: number; loss: number; lr: number; wd: number; imgPerSec: number }
  | { kind: 'epoch'; epoch: number; minLoss: number; lastLoss: number; dataWaitPct: number; imgPerSec: number };

/** Everything a run takes; every field is optional and defaults to PRETRAIN_DEFAULTS (camelCase of the CLI flags). */
export interface PretrainOptions {
  model?: string;
  inputSize?: number;
  mask?: number;
  bs?: number;
  baseLr?: number;
  wd?: number;
  /** weight decay at the end (0 = --wd) */
  wde?: number;
  ep?: number;
  wpEp?: number;
  clip?: number;
  opt?: 'lamb' | 'adamw' | 'sgd';
  /** Adam beta2; 0 = the reference's default per model (ResNet 0.95, ConvNeXt 0.999) */
  ada?: number;
  /** drop path rate; 0 = the reference's per-model default */
  dp?: number;
  decoderWidth?: number;
  /** image folder; '' = the bundled demo photos */
  dataPath?: string;
  /** '' = exp/<model> (relative to the working directory) */
  expDir?: string;
  initWeight?: string;
  resumeFrom?: string;
  seed?: number;
  /** libtorch intra-op threads; 0 = the machine's available parallelism */
  threads?: number;
  device?: string;
  /** image decoding worker threads; -1 = min(cores, 8), 0 = the main thread */
  workers?: number;
  /** write the reconstruction grid every this many epochs (and after the first and the last) */
  visEvery?: number;
  /** how many images the reconstruction grid shows */
  visImages?: number;
  safetensors?: boolean;
  /** SyncBN when distributed (the reference's --sbn, default true); ignored in one process */
  sbn?: boolean;
  /** stop after this many iterations in total (0 = run all epochs); for smoke tests */
  maxIters?: number;
  /** the command line, recorded in the checkpoint's `args` and the log */
  cmd?: string;
  /** where messages and the progress bar go (default stdout) */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** false: no messages and no progress bar (use onProgress) */
  verbose?: boolean;
  onProgress?: (p: PretrainProgress) => void;
  /** true when the run should stop after the current step (signals); set by the CLI */
  stopRequested?: () => boolean;
}

/** The reference's defaults (main.py / utils/arg_util.py), then sparkts's own; 0/'' mean "derive it" as documented above. */
export const PRETRAIN_DEFAULTS = {
  model: 'resnet50', inputSize: 224, mask: 0.6, bs: 4096, baseLr: 2e-4, wd: 0.04, wde: 0.2, ep: 1600, wpEp: 40, clip: 5,
  opt: 'lamb', ada: 0, dp: 0, decoderWidth: 768, dataPath: '', expDir: '', initWeight: '', resumeFrom: '', seed: 0,
  threads: 0, device: 'cpu', workers: -1, visEvery: 10, visImages: 8, safetensors: false, sbn: true, maxIters: 0, cmd: '', verbose: true,
} as const;

export type ResolvedPretrainOptions = Required<Omit<PretrainOptions, 'stdout' | 'onProgress' | 'stopRequested'>> &
  Pick<PretrainOptions, 'stdout' | 'onProgress' | 'stopRequested'>;

/** Fill every option not given from PRETRAIN_DEFAULTS and derive the folders, threads and workers. */
export function resolvePretrainOptions(o: PretrainOptions = {}): ResolvedPretrainOptions {
  const given = Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as PretrainOptions;
  const r = { ...PRETRAIN_DEFAULTS, ...given } as ResolvedPretrainOptions;
  r.opt = String(r.opt).toLowerCase() as ResolvedPretrainOptions['opt'];
  r.dataPath = r.dataPath || demoDataPath();
  r.expDir = path.resolve(r.expDir || path.join('exp', r.model));
  r.threads = r.threads || torch.defaultNumThreads();
  r.workers = r.workers >= 0 ? r.workers : defaultWorkerCount();
  return r;
}
