// Fine-tuning checkpoints in the reference's layout (downstream_imagenet/util.py save_checkpoint):
//   <model>_1kfinetuned_{last,best,best_ema}.pth = {args, arch, epoch, performance_desc, module, ema,
//   optimizer, is_pretrain: False}, so that timm.create_model(M, num_classes=K).load_state_dict(ckpt['module'])
//   works, plus our `sparkts_finetune` record for an exact resume (the reference's loader ignores it).
// And the weights a fine-tune starts from (util.py load_checkpoint, made friendlier): a timm-style state
// dict loaded non-strictly with its missing/unexpected keys printed as the reference prints them; the
// encoder of a *_withdecoder_*spark_style.pth (the reference refuses those files); a fine-tune checkpoint
// (weights, EMA, optimizer, and with our record the exact position of the run).
import type { Tensor } from '../torch/index.js';
import * as torch from '../torch/index.js';
import { savePth } from '../torch/io/pth.js';
import type { PyValue } from '../torch/io/pyvalue.js';
import { isRawTensor } from '../torch/io/pyvalue.js';
import { rawToTensor, tensorToRaw } from '../torch/io/tensor_bridge.js';
import { optimizerStateDictToPy, type Optimizer } from '../torch/optim/index.js';
import type { Module } from '../torch/nn/index.js';
import type { ModelFamily } from '../models/index.js';
import { stateToPy, loadOptimizerState, type LoadedCheckpoint } from './checkpoint.js';

export type FinetunedFile = 'last' | 'best' | 'best_ema';
export const finetunedName = (model: string, which: FinetunedFile): string => `${model}_1kfinetuned_${which}.pth`;

/** The encoder's keys inside a SparK pretraining checkpoint. */
export const SPARK_ENCODER_PREFIX = 'sparse_encoder.sp_cnn.';

/** What we add to a fine-tune checkpoint to resume it exactly. */
export interface FinetuneResume {
  /** global iteration of the next step, and the loader position of the next batch */
  nextIter: number;
  loaderEpoch: number;
  loaderIter: number;
  /** the reference's running maxima and last evaluations (max_acc starts at the initial evaluation) */
  maxAcc: number;
  maxAccEma: number;
  lastAcc: number;
  lastAccEma: number;
  /** the current epoch's running sums (tot_loss, tot_acc) and steps, for a stop inside an epoch */
  epochLossSum: number;
  epochAccSum: number;
  epochSteps: number;
  numClasses: number;
  /** class folder names, in index order */
  classes: string[];
  /** generator states (uint8 tensors; owned by whoever holds the record) */
  rng: Map<string, Tensor>;
  /** the resolved options of the run (JSON) */
  flags: string;
  /** one row per completed epoch: [epoch, train loss, train acc, last acc, last acc EMA] (NaN: not evaluated) */
  history: number[][];
}

export interface FinetuneCheckpointContents {
  args: string;
  arch: string;
  epoch: number;
  performanceDesc: string;
  module: Module;
  ema: Module;
  optimizer: Optimizer;
  resume?: FinetuneResume;
}

const RECORD_KEY = 'sparkts_finetune';

export function saveFinetuneCheckpoint(file: string, c: FinetuneCheckpointContents): void {
  const top = new Map<PyValue, PyValue>();
  top.set('args', c.args);
  top.set('arch', c.arch);
  top.set('epoch', BigInt(c.epoch));
  top.set('performance_desc', c.performanceDesc);
  top.set('module', stateToPy(c.module));
  top.set('ema', stateToPy(c.ema));
  top.set('optimizer', optimizerStateDictToPy(c.optimizer.stateDict()));
  top.set('is_pretrain', false);
  if (c.resume) top.set(RECORD_KEY, resumeToPy(c.resume));
  savePth(file, top);
}

function resumeToPy(r: FinetuneResume): Map<PyValue, PyValue> {
  return new Map<PyValue, PyValue>([
    ['next_iter', BigInt(r.nextIter)], ['loader_epoch', BigInt(r.loaderEpoch)], ['loader_iter', BigInt(r.loaderIter)],
    ['max_acc', r.maxAcc], ['max_acc_ema', r.maxAccEma], ['last_acc', r.lastAcc], ['last_acc_ema', r.lastAccEma],
    ['epoch_loss_sum', r.epochLossSum], ['epoch_acc_sum', r.epochAccSum], ['epoch_steps', BigInt(r.epochSteps)],
    ['num_classes', BigInt(r.numClasses)], ['classes', [...r.classes]], ['flags', r.flags],
    ['rng', new Map<PyValue, PyValue>([...r.rng].map(([k, t]) => [k, tensorToRaw(t)]))],
    ['history', r.history.map((row) => [...row])],
  ]);
}

const num = (v: PyValue | undefined, what: string): number => {
  if (typeof v === 'bigint') return Number(v);
  if (typeof v === 'number') return v;
  throw new Error(`the fine-tune resume record has no valid '${what}'`);
};

/** Our resume record from a fine-tune checkpoint, if it has one (tensors owned by the caller). */
export function readFinetuneResume(c: LoadedCheckpoint): FinetuneResume | undefined {
  const r = c.top?.get(RECORD_KEY);
  if (!(r instanceof Map)) return undefined;
  try {
    const rng = new Map<string, Tensor>();
    const rv = r.get('rng');
    if (rv instanceof Map) for (const [k, t] of rv) if (typeof k === 'string' && isRawTensor(t)) rng.set(k, rawToTensor(t));
    const classes = r.get('classes');
    const history = r.get('history');
    return {
      nextIter: num(r.get('next_iter'), 'next_iter'), loaderEpoch: num(r.get('loader_epoch'), 'loader_epoch'), loaderIter: num(r.get('loader_iter'), 'loader_iter'),
      maxAcc: num(r.get('max_acc'), 'max_acc'), maxAccEma: num(r.get('max_acc_ema'), 'max_acc_ema'),
      lastAcc: num(r.get('last_acc'), 'last_acc'), lastAccEma: num(r.get('last_acc_ema'), 'last_acc_ema'),
      epochLossSum: num(r.get('epoch_loss_sum'), 'epoch_loss_sum'), epochAccSum: num(r.get('epoch_acc_sum'), 'epoch_acc_sum'),
      epochSteps: num(r.get('epoch_steps'), 'epoch_steps'), numClasses: num(r.get('num_classes'), 'num_classes'),
      classes: Array.isArray(classes) ? classes.map(String) : [],
      flags: String(r.get('flags') ?? '{}'), rng,
      history: Array.isArray(history) ? history.map((row) => (row as PyValue[]).map((x) => num(x, 'history'))) : [],
    };
  } catch (e) {
    throw new Error(`checkpoint ${c.path}: ${(e as Error).message}; the file is damaged — resume from another checkpoint`);
  }
}

/** The resolved options a fine-tune checkpoint of ours was made with (its resume record's flags), if any. */
export function finetuneFlags(c: LoadedCheckpoint): Record<string, unknown> | undefined {
  const r = c.top?.get(RECORD_KEY);
  if (!(r instanceof Map)) return undefined;
  try { return JSON.parse(String(r.get('flags'))) as Record<string, unknown>; } catch { return undefined; }
}

/**
 * The classifier per model family (timm ResNet: `fc`; official ConvNeXt: the final `norm` + `head`):
 * the parameters a pretrained encoder's file lacks, as expected, and the weight whose rows are the classes.
 */
export const CLASSIFIER: Record<ModelFamily, { prefixes: readonly string[]; weight: string }> = {
  resnet: { prefixes: ['fc.'], weight: 'fc.weight' },
  convnext: { prefixes: ['norm.', 'head.'], weight: 'head.weight' },
};

/** Whether a state-dict key belongs to the classifier. */
export function isClassifierKey(key: string, classifierPrefixes: readonly string[]): boolean {
  return classifierPrefixes.some((p) => key.startsWith(p));
}

export interface WeightsReport {
  missingKeys: string[];
  unexpectedKeys: string[];
  /** the reference's ep_start: checkpoint epoch + 1 (0 for weights-only files) */
  epStart: number;
  performanceDesc: string;
  /** the file was the encoder of a SparK pretraining checkpoint */
  fromSparkEncoder: boolean;
}

function fitError(c: LoadedCheckpoint, model: string, detail: string): Error {
  return new Error(`checkpoint ${c.path} does not fit ${model}${c.arch && c.arch !== model ? ` (it was saved for ${c.arch})` : ''}: ${detail}; pass the --model it was made for`);
}

/**
 * Load the weights a fine-tune starts from into `net`: a state dict non-strictly (or strictly, to resume
 * our own run), the encoder of a SparK pretraining checkpoint, or a fine-tune checkpoint's `module`.
 * Another architecture is one line naming the first mismatched key and both shapes, or the first
 * missing key outside the classifier; a file of which nothing fits is refused too.
 */
export function loadModelWeights(net: Module, c: LoadedCheckpoint, o: { model: string; classifierPrefixes: readonly string[]; strict: boolean }): WeightsReport {
  let state = c.module;
  const fromSparkEncoder = c.kind === 'spark';
  if (fromSparkEncoder) {
    // the reference refuses *_withdecoder_* files; their encoder is exactly a timm-style state dict
    state = new Map();
    for (const [k, t] of c.module) if (k.startsWith(SPARK_ENCODER_PREFIX)) state.set(k.slice(SPARK_ENCODER_PREFIX.length), t);
    if (!state.size) throw new Error(`checkpoint ${c.path} is a SparK checkpoint without encoder weights (${SPARK_ENCODER_PREFIX}*); pass a *_1kpretrained_timm_style.pth`);
  }
  let report: { missingKeys: string[]; unexpectedKeys: string[] };
  try {
    report = torch.tidy(() => net.loadStateDict(state, { strict: o.strict }));
  } catch (e) {
    throw fitError(c, o.model, (e as Error).message.replace(/^loadStateDict: /, '').slice(0, 300));
  }
  if (report.unexpectedKeys.length === state.size && state.size > 0) {
    throw fitError(c, o.model, `none of its ${state.size} tensors (${report.unexpectedKeys.slice(0, 3).join(', ')}${state.size > 3 ? ', …' : ''}) is a weight of ${o.model}`);
  }
  // PyTorch's non-strict load accepts any subset; only the classifier may be absent or extra (a
  // pretrained encoder has none, a file fine-tuned elsewhere has its own), anything else means the
  // file was made for another architecture (resnet34's weights hold all of resnet18's names)
  const missingBody = report.missingKeys.filter((k) => !isClassifierKey(k, o.classifierPrefixes));
  if (missingBody.length) {
    throw fitError(c, o.model, `it has no ${missingBody[0]}${missingBody.length > 1 ? ` (nor ${missingBody.length - 1} more of the model's non-classifier weights)` : ''}`);
  }
  const extraBody = report.unexpectedKeys.filter((k) => !isClassifierKey(k, o.classifierPrefixes));
  if (extraBody.length) {
    throw fitError(c, o.model, `${o.model} has no ${extraBody[0]}${extraBody.length > 1 ? ` (nor ${extraBody.length - 1} more of the file's tensors)` : ''}`);
  }
  const isRun = c.kind === 'finetune';
  return {
    ...report, fromSparkEncoder,
    epStart: isRun ? (c.epoch ?? -1) + 1 : 0,
    performanceDesc: isRun ? (c.performanceDesc ?? '[no performance_desc]') : '[no performance_desc]',
  };
}

/** A fine-tune checkpoint's EMA and optimizer state (util.py load_checkpoint: 'ema', 'optimizer'). */
export function loadRunState(ema: Module | null, optimizer: Optimizer, c: LoadedCheckpoint, o: { model: string; strict: boolean }): void {
  if (c.kind !== 'finetune') return;
  if (c.ema && ema) {
    try { torch.tidy(() => ema.loadStateDict(c.ema!, { strict: o.strict })); } catch (e) {
      throw fitError(c, o.model, `its EMA: ${(e as Error).message.replace(/^loadStateDict: /, '').slice(0, 300)}`);
    }
  }
  try { loadOptimizerState(optimizer, c); } catch (e) {
    throw new Error(`checkpoint ${c.path}: its optimizer state does not fit this run (${(e as Error).message.split('\n')[0]}); resume with the flags it was made with (--opt, --lr_scale)`);
  }
}

/**
 * Where a resumed run continues: the recorded loader position. A run resumed on another number of ranks
 * with the same global --bs sees the same images per iteration, but its shards may round to another
 * number of iterations per epoch: an epoch-end checkpoint then starts that epoch under the new count,
 * and one saved inside an epoch is refused (its position means other images now).
 */
export function resumePosition(resume: FinetuneResume, file: string, ipe: number): { epoch: number; iter: number } {
  const was = JSON.parse(resume.flags) as { itersPerEpoch?: number; worldSize?: number };
  const { loaderEpoch: epoch, loaderIter: iter } = resume;
  // older checkpoints lack itersPerEpoch: derive it from the global iteration when an epoch was completed
  const ipeWas = was.itersPerEpoch ?? (epoch > 0 ? (resume.nextIter - iter) / epoch : undefined);
  if (iter === 0 || (ipeWas ?? ipe) === ipe && iter < ipe) return { epoch, iter };
  throw new Error(`${file} was saved at iteration ${iter} of epoch ${epoch} on ${was.worldSize ?? 'another number of'} rank(s), whose epochs have ${ipeWas ?? `more than ${iter}`} iterations; ` +
    `here they have ${ipe}: resume it on the same number of ranks, or from a checkpoint saved at an epoch end`);
}
