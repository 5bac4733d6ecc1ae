// Checkpoint files in the reference's layouts (utils/misc.py), readable by Python's torch.load:
//   <model>_withdecoder_1kpretrained_spark_style.pth  {args, input_size, arch, epoch, performance_desc,
//                                                      module (SparK state + imn_m/imn_s/norm_black + config),
//                                                      optimizer, is_pretrain}  (+ our `sparkts` resume record)
//   <model>_1kpretrained_timm_style.pth               the encoder's state dict alone
//   <model>_1kfinetuned_{last,best,best_ema}.pth      {args, arch, epoch, performance_desc, module, ema,
//                                                      optimizer, is_pretrain: False}  (downstream_imagenet/util.py;
//                                                      written by ft_checkpoint.ts, read here)
// Writes are atomic (savePth writes a temp file and renames it).
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { nn } from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadPth, savePth } from '../torch/io/pth.js';
import { PyOrderedDict, type PyValue, isRawTensor, pyTypeName } from '../torch/io/pyvalue.js';
import type { RawTensor } from '../torch/io/dtypes.js';
import { rawToTensor, tensorToRaw } from '../torch/io/tensor_bridge.js';
import type { Optimizer } from '../torch/optim/index.js';
import { optimizerStateDictFromPy, optimizerStateDictToPy } from '../torch/optim/index.js';
import type { Module } from '../torch/nn/index.js';
import type { SparK } from '../spark/index.js';

/** Buffers the reference registers and never reads; its files carry them, ours too (for its loader). */
export const DEPRECATED_SPARK_KEYS = ['imn_m', 'imn_s', 'norm_black'] as const;

export const sparkStyleName = (model: string): string => `${model}_withdecoder_1kpretrained_spark_style.pth`;
export const timmStyleName = (model: string): string => `${model}_1kpretrained_timm_style.pth`;

/** Python value for a JS config value: integers as Python ints, other numbers as floats. */
function pyScalar(v: number | string | boolean, asInt = Number.isInteger(v)): PyValue {
  return typeof v === 'number' && asInt ? BigInt(v) : v;
}

/**
 * PyTorch's state_dict carries `_metadata` (module prefix → {version}); its loaders read the version to
 * upgrade old layouts. BatchNorm is at version 2 (the one with num_batches_tracked); without the entry
 * PyTorch would treat our BN weights as version-1 state. The reference's files carry it too.
 */
function metadataOf(m: Module): PyOrderedDict {
  const md = new PyOrderedDict();
  for (const [name, sub] of m.namedModules()) md.set(name, new Map<PyValue, PyValue>([['version', BigInt(sub instanceof nn.BatchNorm ? 2 : 1)]]));
  return md;
}

export function stateToPy(m: Module): PyOrderedDict {
  const out = new PyOrderedDict();
  for (const [k, t] of m.stateDict()) out.set(k, tensorToRaw(t));
  out.attrs.set('_metadata', metadataOf(m));
  return out;
}

/** The reference's `SparK.state_dict(with_config=True)`: deprecated buffers first (its order), then ours, then config. */
export function sparkModuleState(model: SparK): PyOrderedDict {
  const out = new PyOrderedDict();
  const s = model.inputSize;
  const zeros = (shape: number[]): RawTensor => ({ dtype: 'float32', shape, data: new Uint8Array(shape.reduce((a, b) => a * b, 4)) });
  out.set('imn_m', zeros([1, 3, 1, 1]));
  out.set('imn_s', zeros([1, 3, 1, 1]));
  out.set('norm_black', zeros([1, 3, s, s]));
  const state = stateToPy(model);
  for (const [k, v] of state) out.set(k, v);
  for (const [k, v] of state.attrs) out.attrs.set(k, v);
  const cfg = new Map<PyValue, PyValue>();
  for (const [k, v] of Object.entries(model.config())) cfg.set(k, pyScalar(v, k !== 'mask_ratio'));
  out.set('config', cfg);
  return out;
}

/** What we add to the spark-style file to resume exactly (the reference's loader ignores it). */
export interface ResumeRecord {
  /** global iteration of the next step */
  nextIter: number;
  /** loader position of the next batch */
  loaderEpoch: number;
  loaderIter: number;
  minLoss: number;
  lastLoss: number;
  /** generator states (uint8 tensors) */
  rng: Map<string, Tensor>;
  /** the flags the run was started with (JSON) */
  flags: string;
  /** per-iteration (iteration, loss) pairs so far, for the loss curve */
  losses: [number, number][];
}

export interface SparkStyleContents {
  args: string;
  arch: string;
  inputSize: number;
  epoch: number;
  performanceDesc: string;
  optimizer: Optimizer;
  resume?: ResumeRecord;
}

export function saveSparkStyle(path: string, model: SparK, c: SparkStyleContents): void {
  const top = new Map<PyValue, PyValue>();
  top.set('args', c.args);
  top.set('input_size', BigInt(c.inputSize));
  top.set('arch', c.arch);
  top.set('epoch', BigInt(c.epoch));
  top.set('performance_desc', c.performanceDesc);
  top.set('module', sparkModuleState(model));
  top.set('optimizer', optimizerStateDictToPy(c.optimizer.stateDict()));
  top.set('is_pretrain', true);
  if (c.resume) {
    const r = c.resume;
    const rec = new Map<PyValue, PyValue>([
      ['next_iter', BigInt(r.nextIter)], ['loader_epoch', BigInt(r.loaderEpoch)], ['loader_iter', BigInt(r.loaderIter)],
      ['min_loss', r.minLoss], ['last_loss', r.lastLoss], ['flags', r.flags],
      ['rng', new Map<PyValue, PyValue>([...r.rng].map(([k, t]) => [k, tensorToRaw(t)]))],
      ['losses', r.losses.map(([i, l]) => [BigInt(i), l])],
    ]);
    top.set('sparkts', rec);
  }
  savePth(path, top);
}

export function saveTimmStyle(path: string, encoder: Module): void {
  savePth(path, stateToPy(encoder));
}

export interface LoadedCheckpoint {
  path: string;
  /**
   * 'spark' (a full pretraining checkpoint, is_pretrain True or absent), 'finetune' (the downstream
   * job's file: is_pretrain False, with `ema`), or 'timm' (a bare state dict: weights only)
   */
  kind: 'spark' | 'timm' | 'finetune';
  module: Map<string, Tensor>;
  /** a fine-tune checkpoint's EMA weights (owned by the caller too) */
  ema?: Map<string, Tensor>;
  /** the file's top-level dict as read (job-specific records such as the fine-tune resume record) */
  top?: Map<PyValue, PyValue>;
  config?: Map<PyValue, PyValue>;
  optimizer?: PyValue;
  epoch?: number;
  arch?: string;
  inputSize?: number;
  performanceDesc?: string;
  resume?: ResumeRecord;
}

const num = (v: PyValue | undefined): number | undefined => (typeof v === 'bigint' ? Number(v) : typeof v === 'number' ? v : undefined);

/** What a checkpoint file says about itself, without its weights. */
export interface CheckpointInfo {
  path: string;
  /** as LoadedCheckpoint.kind */
  kind: 'spark' | 'timm' | 'finetune';
  epoch?: number;
  arch?: string;
  inputSize?: number;
  /** the SparK config's mask_ratio (spark-style files) */
  maskRatio?: number;
  performanceDesc?: string;
}

/** Open a .pth; `tensorData: false` reads its pickle only. One error naming the file and the fix. */
function openCheckpoint(path: string, tensorData: boolean): Map<PyValue, PyValue> {
  if (!existsSync(path)) throw new Error(`checkpoint ${path} does not exist; check the path`);
  let v: PyValue;
  try { v = loadPth(path, { tensorData }); } catch (e) {
    throw new Error(`checkpoint ${path} could not be read (${(e as Error).message.split('\n')[0]}); it may be truncated or not a torch.save file`);
  }
  if (!(v instanceof Map)) throw new Error(`checkpoint ${path} holds a ${pyTypeName(v)}, not a state dict or a SparK checkpoint dict`);
  return v;
}

/** The header fields of an opened checkpoint: spark-style when it has a `module` dict. */
function infoOf(path: string, v: Map<PyValue, PyValue>): CheckpointInfo & { state: Map<PyValue, PyValue>; config?: Map<PyValue, PyValue> } {
  const moduleV = v.get('module');
  const isSpark = moduleV instanceof Map;
  const state = (isSpark ? moduleV : v) as Map<PyValue, PyValue>;
  const cfg = state.get('config');
  const config = cfg instanceof Map ? cfg : undefined;
  const out: CheckpointInfo & { state: Map<PyValue, PyValue>; config?: Map<PyValue, PyValue> } = {
    path, kind: !isSpark ? 'timm' : v.get('is_pretrain') === false ? 'finetune' : 'spark', state, config,
  };
  if (isSpark) {
    out.epoch = num(v.get('epoch'));
    out.inputSize = num(v.get('input_size'));
    const arch = v.get('arch'); if (typeof arch === 'string') out.arch = arch;
    const pd = v.get('performance_desc'); if (typeof pd === 'string') out.performanceDesc = pd;
    out.maskRatio = num(config?.get('mask_ratio'));
  }
  return out;
}

/** A checkpoint's kind, epoch, arch and sizes, read from its pickle alone (cheap: no weights are read). */
export function peekCheckpoint(path: string): CheckpointInfo {
  const { state, config, ...info } = infoOf(path, openCheckpoint(path, false));
  if (![...state.values()].some(isRawTensor)) throw new Error(`checkpoint ${path} contains no tensors; it is not a model checkpoint`);
  void config;
  return info;
}

/** Read a spark-style or timm-style checkpoint (ours or the reference's). Tensors are owned by the caller. */
export function loadCheckpoint(path: string): LoadedCheckpoint {
  const v = openCheckpoint(path, true);
  const info = infoOf(path, v);
  const module = new Map<string, Tensor>();
  for (const [k, t] of info.state) {
    if (typeof k !== 'string' || !isRawTensor(t)) continue;
    if ((DEPRECATED_SPARK_KEYS as readonly string[]).includes(k)) continue;
    module.set(k, rawToTensor(t));
  }
  if (!module.size) throw new Error(`checkpoint ${path} contains no tensors; it is not a model checkpoint`);
  const out: LoadedCheckpoint = { path, kind: info.kind, module, config: info.config };
  if (info.kind !== 'timm') out.top = v;
  const emaV = v.get('ema');
  if (info.kind === 'finetune' && emaV instanceof Map) {
    out.ema = new Map();
    for (const [k, t] of emaV) if (typeof k === 'string' && isRawTensor(t)) out.ema.set(k, rawToTensor(t));
  }
  if (info.kind !== 'timm') {
    out.optimizer = v.get('optimizer');
    out.epoch = info.epoch;
    out.inputSize = info.inputSize;
    if (info.arch !== undefined) out.arch = info.arch;
    if (info.performanceDesc !== undefined) out.performanceDesc = info.performanceDesc;
    const r = v.get('sparkts');
    if (r instanceof Map) {
      const rng = new Map<string, Tensor>();
      const rv = r.get('rng');
      if (rv instanceof Map) for (const [k, t] of rv) if (typeof k === 'string' && isRawTensor(t)) rng.set(k, rawToTensor(t));
      const losses = r.get('losses');
      out.resume = {
        nextIter: num(r.get('next_iter')) ?? 0, loaderEpoch: num(r.get('loader_epoch')) ?? 0, loaderIter: num(r.get('loader_iter')) ?? 0,
        minLoss: num(r.get('min_loss')) ?? Infinity, lastLoss: num(r.get('last_loss')) ?? NaN,
        flags: String(r.get('flags') ?? '{}'), rng,
        losses: Array.isArray(losses) ? losses.map((p) => [num((p as PyValue[])[0]) ?? 0, num((p as PyValue[])[1]) ?? NaN] as [number, number]) : [],
      };
    }
  }
  return out;
}

export function disposeCheckpoint(c: LoadedCheckpoint): void {
  for (const t of c.module.values()) t.dispose();
  if (c.ema) for (const t of c.ema.values()) t.dispose();
  c.top = undefined;            // the file's raw tensors: garbage once nothing refers to them
  if (c.resume) for (const t of c.resume.rng.values()) t.dispose();
}

/**
 * Load a checkpoint's weights into a SparK model: spark-style into the whole model (its config
 * compared as the reference does), timm-style into the encoder. A key or shape mismatch (another
 * architecture) is one clear error.
 */
export function loadIntoSpark(model: SparK, c: LoadedCheckpoint, o: { strict?: boolean } = {}): { missingKeys: string[]; unexpectedKeys: string[] } {
  const strict = o.strict ?? true;
  const target: Module = c.kind === 'spark' ? model : model.sparse_encoder.sp_cnn;
  const what = c.kind === 'spark' ? 'the SparK model' : 'the encoder';
  if (c.config && c.kind === 'spark') {
    for (const [k, v] of Object.entries(model.config())) {
      const ck = c.config.get(k);
      const cv = typeof ck === 'bigint' ? Number(ck) : ck;
      if (cv !== v) {
        const msg = `checkpoint ${c.path} was made with ${k}=${String(cv)} but this model has ${k}=${v}; use matching flags (--model/--input_size/--mask)`;
        if (strict) throw new Error(msg);
        process.stderr.write(`[warn] ${msg}\n`);
      }
    }
  }
  try {
    const r = torch.tidy(() => target.loadStateDict(c.module, { strict }));
    // non-strict loading tolerates missing and extra keys, but a file of which nothing fits is another
    // model's (or not a model's): silently training from scratch would hide the mistake
    if (r.unexpectedKeys.length === c.module.size) {
      throw new Error(`none of its ${c.module.size} tensors (${r.unexpectedKeys.slice(0, 3).join(', ')}${c.module.size > 3 ? ', …' : ''}) is a weight of ${what}`);
    }
    return r;
  } catch (e) {
    const m = (e as Error).message;
    throw new Error(`checkpoint ${c.path} does not fit ${what}${c.arch ? ` (it was saved for ${c.arch})` : ''}: ${m.replace(/^loadStateDict: /, '').slice(0, 300)}`);
  }
}

/** Restore an optimizer from a checkpoint's `optimizer` entry (PyTorch layout). */
export function loadOptimizerState(opt: Optimizer, c: LoadedCheckpoint): void {
  if (c.optimizer === undefined) return;
  torch.tidy(() => opt.loadStateDict(optimizerStateDictFromPy(c.optimizer!)));
}
