// `spark eval`: the accuracy of a classifier checkpoint on a labelled val folder — top-1 (main.py's
// evaluate), top-5, and per class. The checkpoint is one of ours or the reference's fine-tune files
// (`module`, or `ema` with { ema: true }) or a bare timm-style classifier state dict (then --model).
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { createClassifier, isModelName, listModels, modelRecord } from '../models/index.js';
import { openValFolder, defaultWorkerCount } from '../data/index.js';
import { loadCheckpoint, disposeCheckpoint } from './checkpoint.js';
import { CLASSIFIER, finetuneFlags } from './ft_checkpoint.js';
import { ValSet, type EvalResult } from './evaluate.js';
import { withCleanup } from './loop.js';

export interface EvaluateOptions {
  ckpt: string;
  /** dataset root with val/<class>/* (or the val/ folder itself) */
  dataPath: string;
  /** required when the checkpoint does not name its architecture (a bare state dict) */
  model?: string;
  /** evaluate the checkpoint's EMA weights instead of the model's */
  ema?: boolean;
  /** default: the img_size the checkpoint was fine-tuned at (ours record it), else 224 (the reference's) */
  imgSize?: number;
  /** default 64 */
  batchSize?: number;
  workers?: number;
  device?: string;
  /** 0 (default) = the machine's available parallelism */
  threads?: number;
}

export const EVALUATE_DEFAULTS = { imgSize: 0, batchSize: 64, device: 'cpu', threads: 0, ema: false } as const;

export interface EvaluateResult extends EvalResult {
  model: string;
  ckpt: string;
  ema: boolean;
  numClasses: number;
  imgSize: number;
  /** the checkpoint's epoch, when it records one */
  epoch?: number;
}

export async function evaluate(options: EvaluateOptions): Promise<EvaluateResult> {
  const o = { ...EVALUATE_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<EvaluateOptions>;
  o.workers = options.workers !== undefined && options.workers >= 0 ? options.workers : defaultWorkerCount();
  if (o.imgSize !== 0 && (!Number.isInteger(o.imgSize) || o.imgSize < 32)) throw new Error(`--img_size must be an integer ≥ 32, got ${o.imgSize}`);
  if (!Number.isInteger(o.batchSize) || o.batchSize < 1) throw new Error(`--bs must be a positive integer, got ${o.batchSize}`);
  if (o.device !== 'cpu' && !/^cuda(:\d+)?$/.test(o.device)) throw new Error(`--device must be cpu or cuda[:n], got '${o.device}'`);
  if (o.device.startsWith('cuda') && !torch.cuda.isAvailable()) throw new Error(`--device ${o.device} but this libtorch has no CUDA (or no GPU is visible); use --device cpu`);
  return withCleanup(async (onExit) => {
    const folders = openValFolder(o.dataPath);
    const ck = loadCheckpoint(o.ckpt);
    onExit(() => disposeCheckpoint(ck));
    if (ck.kind === 'spark') throw new Error(`checkpoint ${ck.path} is a SparK pretraining checkpoint (no classifier); fine-tune it first with spark finetune --resume_from ${ck.path}`);
    const model = o.model || ck.arch;
    if (!model) throw new Error(`checkpoint ${ck.path} does not name its architecture; pass --model (${listModels().join(', ')})`);
    if (!isModelName(model)) throw new Error(`unknown model '${model}'; choose one of ${listModels().join(', ')} (--model)`);
    if (o.model && ck.arch && ck.arch !== o.model) throw new Error(`checkpoint ${ck.path} was saved for ${ck.arch}, not ${o.model}; drop --model or pass --model ${ck.arch}`);
    let state: Map<string, Tensor> = ck.module;
    if (o.ema) {
      if (!ck.ema) throw new Error(`checkpoint ${ck.path} has no EMA weights; evaluate it without --ema`);
      state = ck.ema;
    }
    const key = CLASSIFIER[modelRecord(model).family].weight;
    const w = state.get(key);
    if (!w || w.shape.length !== 2) throw new Error(`checkpoint ${ck.path} has no classifier (${key}); it holds encoder weights only — fine-tune it first with spark finetune`);
    const numClasses = w.shape[0]!;
    const imgSize = o.imgSize || Number(finetuneFlags(ck)?.imgSize) || 224;
    if (numClasses < folders.classes.length) {
      throw new Error(`checkpoint ${ck.path} has ${numClasses} classes but ${folders.root}/val has ${folders.classes.length} class folders; evaluate on the data it was fine-tuned for`);
    }
    if (o.threads > 0) torch.setNumThreads(o.threads); else torch.setNumThreads(torch.defaultNumThreads());
    const net = createClassifier(model, { numClasses, skipInit: true });
    onExit(() => net.dispose());
    try {
      torch.tidy(() => net.loadStateDict(state, { strict: true }));
    } catch (e) {
      throw new Error(`checkpoint ${ck.path} does not fit ${model}: ${(e as Error).message.replace(/^loadStateDict: /, '').slice(0, 300)}; pass the --model it was made for`);
    }
    if (o.device !== 'cpu') net.to(o.device);
    const valSet = new ValSet(folders, { imgSize, batchSize: o.batchSize, workers: o.workers, device: o.device, cacheBytes: 0 });
    onExit(() => valSet.close());
    const [r] = await valSet.evaluate([net]);
    return { ...r!, model, ckpt: ck.path, ema: o.ema, numClasses, imgSize, ...(ck.epoch !== undefined ? { epoch: ck.epoch } : {}) };
  });
}
