// The fine-tuning job (the reference's downstream_imagenet/main.py main_ft) on the shared training-loop
// skeleton: labelled folders → the classifier form of a registered model with the weights given →
// the reference's recipe (layer-decayed param groups, timm Lamb/AdamW, BatchMixup, BCE/soft-target CE,
// EMA, warmup + cosine) one step at a time → the model and its EMA evaluated on the reference's
// `ep_eval` epochs → <model>_1kfinetuned_{last,best,best_ema}.pth, finetune_log.txt, TensorBoard
// (ft_train/*, ft_eval/*, ft_hp/*), an accuracy curve. A stop request saves and returns; a fine-tune
// checkpoint of ours resumes exactly (epoch, position in it, optimizer, EMA, schedule, sampler, RNG).
// Data parallel under `spark launch` (main.py under torch.distributed with DDP): --bs is the global batch,
// each rank trains bs/world of it from its shard of the train sampler, gradients are averaged after
// backward, --sbn (default on, as arg.py) synchronises BatchNorm statistics, each rank evaluates its share
// of the val split and the counts are summed, and rank 0 alone prints and writes (data_parallel.ts).
//
// Where we differ from main.py, on purpose: --resume_from may be empty (random init, for from-scratch
// baselines) or a *_withdecoder_*spark_style.pth (its encoder); the EMA starts from the loaded weights
// (main.py builds it from the random init before loading, so it reflects the pretrained weights only
// after ~1/(1−decay) steps); `_last.pth` is written at every epoch end and at a stop (main.py: at
// evaluation epochs only); a resumed run appends to finetune_log.txt instead of truncating it.
import { execFileSync } from 'node:child_process';
import { closeSync, openSync, writeSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { writeFileAtomic } from '../torch/io/atomic.js';
import { createClassifier, modelRecord } from '../models/index.js';
import { openClassificationFolders, createClassificationLoader, classificationEpoch, repoRoot, type ClassificationFolders, type LabelledBatch } from '../data/index.js';
import { createFinetuneRecipe, finetuneStep, type FinetuneRecipe } from './finetune/index.js';
import { loadCheckpoint, disposeCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import {
  CLASSIFIER, finetunedName, saveFinetuneCheckpoint, readFinetuneResume, loadModelWeights, loadRunState, resumePosition, type FinetuneResume,
} from './ft_checkpoint.js';
import { ValSet, type EvalResult } from './evaluate.js';
import { withCleanup, prepareExpDir, runTrainingLoop, type OnExit } from './loop.js';
import { joinDataParallel, stepSync, agreedStop } from './data_parallel.js';
import { resolveFinetuneOptions, validateFinetuneOptions, type FinetuneOptions, type ResolvedFinetuneOptions } from './finetune_options.js';
import { TensorBoardWriter, ProgressBar, formatDuration, lossCurvePng, silentStream } from './monitor/index.js';

export interface FinetuneEpochRecord { epoch: number; trainLoss: number; trainAcc: number; acc: number; accEma: number }

export interface FinetuneResult {
  /** the run had already reached --ep (nothing trained; main.py's "[FT already done]") */
  alreadyDone: boolean;
  interrupted: boolean;
  /** iterations run in this invocation */
  iters: number;
  /** epochs completed in the whole run */
  epochs: number;
  numClasses: number;
  classes: string[];
  /** the last evaluation of the model and of its EMA, and the best ones (top-1 %, main.py's max_acc includes the initial evaluation) */
  lastAcc: number;
  lastAccEma: number;
  maxAcc: number;
  maxAccEma: number;
  /** main.py's result: max(max_acc, max_acc_ema) */
  bestAcc: number;
  performanceDesc: string;
  /** one entry per completed epoch of the whole run (acc NaN where that epoch was not evaluated) */
  history: FinetuneEpochRecord[];
  files: { last: string; best: string; bestEma: string; log: string; tensorboard: string; accuracyCurve: string };
  /** the resolved options (defaults filled in) */
  options: ResolvedFinetuneOptions;
}

/** main.py: evaluate at every 5th epoch of the first third, then at every epoch. */
export function evalEpochs(ep: number): Set<number> {
  const out = new Set<number>();
  const third = Math.floor(ep / 3);
  for (let e = 0; e < third; e += 5) out.add(e);
  for (let e = third; e < ep; e++) out.add(e);
  return out;
}

/** Python's repr of a float (json.dump writes floats so): shortest digits, exponent below 1e-4 and from 1e16. */
export function pyFloat(x: number): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mant, expS] = x.toExponential().split('e');
  const exp = Number(expS);
  if (exp < -4 || exp >= 16) return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  const s = String(x);
  return /[.e]/.test(s) ? s : `${s}.0`;
}

/** One line as Python's json.dump writes a dict (", " and ": " separators; floats as repr). */
export function pyJson(obj: Record<string, string | number>): string {
  return `{${Object.entries(obj).map(([k, v]) => `${JSON.stringify(k)}: ${typeof v === 'number' ? pyFloat(v) : JSON.stringify(v)}`).join(', ')}}`;
}

/** time.strftime("%m-%d %H:%M") in local time, as main.py prints the finish time. */
function mdhm(ms: number): string {
  const d = new Date(ms);
  const p = (n: number): string => String(n).padStart(2, '0');
  return `${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}

/** Python's f'{x:.1e}': two exponent digits at least (2.0e-03). */
const pyE1 = (x: number): string => x.toExponential(1).replace(/e([+-])(\d)$/, 'e$10$2');

/** Python's str() of a float count (main.py's tot_pred is a float: 50000.0). */
const pyCount = (n: number): string => `${n}.0`;

function gitInfo(): { id: string; msg: string } {
  try {
    const cwd = repoRoot();
    const id = execFileSync('git', ['rev-parse', 'HEAD'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    const msg = execFileSync('git', ['log', '-1', '--format=%s'], { cwd, stdio: ['ignore', 'pipe', 'ignore'] }).toString().trim();
    return { id, msg };
  } catch { return { id: '', msg: '' }; }
}

/** finetune_log.txt as arg.py's log_epoch writes it: a header dict, a blank line, then one dict per call. */
class FinetuneLog {
  private fd: number | null;
  constructor(readonly file: string, header: Record<string, string> | null) {
    this.fd = openSync(file, header ? 'w' : 'a');
    if (header) this.write(`${pyJson(header)}\n\n`);
  }
  private write(s: string): void { if (this.fd !== null) writeSync(this.fd, s); }
  epoch(e: { cur_ep: string; train_L: number; train_acc: number; best_val_acc: number; rema: string; fini: string }): void {
    this.write(`${pyJson(e)}\n`);
  }
  close(): void { if (this.fd !== null) { closeSync(this.fd); this.fd = null; } }
}

/** Fine-tune a registered model on labelled folders; see the header. */
export async function finetune(options: FinetuneOptions): Promise<FinetuneResult> {
  const o = resolveFinetuneOptions(options);
  return withCleanup((onExit) => runFinetune(o, onExit));
}

/** Rows of the classifier's weight in a state dict (the number of classes it was made for), if present. */
function classifierRows(state: Map<string, Tensor>, prefixes: readonly string[]): number | undefined {
  for (const p of prefixes) {
    const w = state.get(`${p}weight`);
    if (w && w.shape.length === 2) return w.shape[0];
  }
  return undefined;
}

/** Decide the number of classes, checking it against the data and a run being resumed; one line per conflict. */
function decideNumClasses(o: ResolvedFinetuneOptions, folders: ClassificationFolders, ck: LoadedCheckpoint | undefined,
  resume: FinetuneResume | undefined, prefixes: readonly string[]): number {
  const nFolders = folders.classes.length;
  let k = o.numClasses || nFolders;
  if (ck?.kind === 'finetune') {
    const kCk = resume?.numClasses ?? classifierRows(ck.module, prefixes);
    if (kCk !== undefined) {
      if (o.numClasses && o.numClasses !== kCk) {
        throw new Error(`--num_classes ${o.numClasses} disagrees with the run in ${ck.path} (${kCk} classes); drop --num_classes to resume it, or start a new run in another --exp_dir`);
      }
      k = kCk;
    }
    if (resume?.classes.length && resume.classes.join('\n') !== folders.classes.join('\n')) {
      throw new Error(`the class folders of ${folders.root} (${nFolders}: ${folders.classes.slice(0, 4).join(', ')}${nFolders > 4 ? ', …' : ''}) are not those of the run in ${ck.path} ` +
        `(${resume.classes.length}: ${resume.classes.slice(0, 4).join(', ')}${resume.classes.length > 4 ? ', …' : ''}); resume with the same --data_path`);
    }
  }
  if (k < nFolders) {
    throw new Error(`${o.numClasses ? `--num_classes ${o.numClasses}` : `the checkpoint's ${k} classes`} cannot hold the ${nFolders} class folders of ${folders.root}/train; ` +
      `${o.numClasses ? `pass --num_classes ${nFolders} or more` : 'fine-tune with the data it was made for'}`);
  }
  return k;
}

async function runFinetune(o: ResolvedFinetuneOptions, onExit: OnExit): Promise<FinetuneResult> {
  validateFinetuneOptions(o);
  // data parallelism (torchrun variables; none = one process): rank 0 prints and writes, the others train
  const { dist, device, localBs } = joinDataParallel(o, onExit);
  o = { ...o, device };
  const out = o.verbose === false || !dist.isMaster ? silentStream : o.stdout ?? process.stdout;
  const say = (s: string): void => { out.write(`${s}\n`); };
  const record = modelRecord(o.model);
  const prefixes = CLASSIFIER[record.family].prefixes;

  // everything that can be refused is checked before a file is written
  const folders = openClassificationFolders(o.dataPath);
  let ck: LoadedCheckpoint | undefined;
  if (o.resumeFrom) {
    ck = loadCheckpoint(o.resumeFrom);
    const c = ck;
    onExit(() => disposeCheckpoint(c));
    if (ck.arch && ck.arch !== o.model && ck.kind !== 'timm') {
      throw new Error(`checkpoint ${ck.path} was saved for ${ck.arch}, not ${o.model}; pass --model ${ck.arch}`);
    }
  }
  const resume = ck ? readFinetuneResume(ck) : undefined;
  if (resume) onExit(() => { for (const t of resume.rng.values()) t.dispose(); });
  if (resume) {
    // the recorded position counts iterations of this batch size and sampler: another one would resume elsewhere
    const was = JSON.parse(resume.flags) as Partial<ResolvedFinetuneOptions>;
    for (const k of ['bs', 'repAug'] as const) {
      if (was[k] !== undefined && was[k] !== o[k]) {
        throw new Error(`${k === 'bs' ? '--bs' : '--rep_aug'} ${o[k]} differs from the run in ${ck!.path} (${was[k]}); resume it with ${k === 'bs' ? '--bs' : '--rep_aug'} ${was[k]}, or start a new run in another --exp_dir`);
      }
    }
  }
  const numClasses = decideNumClasses(o, folders, ck, resume, prefixes);
  // the train sampler's epoch for this rank decides the iterations per epoch, which the schedule and a resumed position need
  const { samplesPerEpoch, itersPerEpoch: ipe } = classificationEpoch({ folders, split: 'train', batchSize: localBs, repAug: o.repAug, rank: dist.rank, world: dist.worldSize });
  if (ipe < 1) {
    throw new Error(`--bs ${o.bs} leaves no full batch of the ${folders.train.files.length} training images (${samplesPerEpoch} per epoch${o.repAug ? ` with --rep_aug ${o.repAug}` : ''}); pass a smaller --bs`);
  }
  const resumeAt = resume ? resumePosition(resume, ck!.path, ipe) : undefined;
  if (dist.isMaster) prepareExpDir(o.expDir);
  if (o.threads > 0) torch.setNumThreads(o.threads);
  torch.manualSeed(o.seed);

  // model (timm's create_model(M, num_classes=K, drop_path_rate=dp)) and the weights given
  const exact = resume !== undefined;      // our own fine-tune checkpoint: every weight is overwritten
  const model = createClassifier(o.model, { numClasses, dropPathRate: o.dropPath, skipInit: exact });
  onExit(() => model.dispose());
  const emaModule = createClassifier(o.model, { numClasses, dropPathRate: o.dropPath, skipInit: true });
  onExit(() => emaModule.dispose());
  if (o.device !== 'cpu') { model.to(o.device); emaModule.to(o.device); }
  let epStart = 0, performanceDesc = '[no performance_desc]';
  if (ck) {
    say(`[try to resume from file \`${ck.path}\`]`);
    const r = loadModelWeights(model, ck, { model: o.model, classifierPrefixes: prefixes, strict: exact });
    ({ epStart, performanceDesc } = r);
    if (r.fromSparkEncoder) say(`[load_checkpoint] took the encoder (${'sparse_encoder.sp_cnn.'}*) of the SparK pretraining checkpoint`);
    say(`[load_checkpoint] missing_keys=${pyList(r.missingKeys)}`);
    say(`[load_checkpoint] unexpected_keys=${pyList(r.unexpectedKeys)}`);
    say(`[load_checkpoint] ep_start=${epStart}, performance_desc=${performanceDesc}`);
  }
  // DDP's start (rank 0's weights everywhere) and SyncBN, before the EMA copies the model: the reference
  // builds its EMA before converting to SyncBatchNorm, and so the EMA's BatchNorms stay plain ones here too
  dist.prepareModel(model, { syncBatchNorm: o.sbn });
  const position = resumeAt ?? { epoch: epStart, iter: 0 };

  // data: this rank's shard of the reference's train sampler, bs/world images per step
  const loader = createClassificationLoader({
    folders, split: 'train', imgSize: o.imgSize, batchSize: localBs, seed: o.seed, repAug: o.repAug, workers: o.workers,
    rank: dist.rank, world: dist.worldSize, startEpoch: position.epoch, startIter: position.iter,
  });
  onExit(() => loader.close());
  const totalIters = o.ep * ipe;
  // the cosine schedule divides by (total - 1): one iteration in all has no schedule to follow
  if (totalIters < 2) {
    throw new Error(`--ep ${o.ep} × ${ipe} iteration${ipe === 1 ? '' : 's'} per epoch is ${totalIters} iteration in all; the lr schedule needs at least 2: pass a larger --ep or a smaller --bs`);
  }
  const recipe: FinetuneRecipe = createFinetuneRecipe(model, {
    opt: o.opt, lr: o.lr, wd: o.wd, lrScale: o.lrScale, clip: o.clip, mixup: o.mixup, numClasses,
    warmupIters: o.wpEp * ipe, maxIters: totalIters, seed: o.seed, rank: dist.rank,
  }, { module: emaModule, decay: o.ema });
  onExit(() => recipe.optimizer.disposeState());
  const sync = stepSync(dist, () => recipe.trainable);
  if (ck) {
    loadRunState(recipe.ema?.module ?? null, recipe.optimizer, ck, { model: o.model, strict: exact });
    disposeCheckpoint(ck);      // copied into the model, EMA and optimizer: free it now, not at the end of the run
  }

  let startIter = position.epoch * ipe + position.iter;
  let maxAcc = NaN, maxAccEma = NaN, lastAcc = NaN, lastAccEma = NaN;
  let lossSum = 0, accSum = 0, epochSteps = 0;
  const history: FinetuneEpochRecord[] = [];
  if (resume) {
    ({ maxAcc, maxAccEma, lastAcc, lastAccEma } = resume);
    lossSum = resume.epochLossSum; accSum = resume.epochAccSum; epochSteps = resume.epochSteps;
    for (const [epoch, trainLoss, trainAcc, acc, accEma] of resume.history) history.push({ epoch, trainLoss, trainAcc, acc, accEma });
    const def = resume.rng.get('default');
    if (def) torch.defaultGenerator().setState(def);
  }
  // drop path draws differently on every rank (the reference's ranks are unseeded); rank 0 keeps the one-process stream
  dist.decorrelateRandomness([torch.defaultGenerator()], o.seed, startIter);
  const files = {
    last: path.join(o.expDir, finetunedName(o.model, 'last')), best: path.join(o.expDir, finetunedName(o.model, 'best')),
    bestEma: path.join(o.expDir, finetunedName(o.model, 'best_ema')), log: path.join(o.expDir, 'finetune_log.txt'),
    tensorboard: path.join(o.expDir, 'tensorboard_log'), accuracyCurve: path.join(o.expDir, 'accuracy_curve.png'),
  };
  const result = (alreadyDone: boolean, interrupted: boolean, iters: number): FinetuneResult => ({
    alreadyDone, interrupted, iters, epochs: history.length ? history[history.length - 1]!.epoch + 1 : epStart, numClasses, classes: [...folders.classes],
    lastAcc, lastAccEma, maxAcc, maxAccEma, bestAcc: Math.max(maxAcc, maxAccEma), performanceDesc, history, files, options: o,
  });
  if (startIter >= totalIters) {
    say(`  [*] [FT already done]    Max/Last Acc: ${performanceDesc}`);
    return result(true, false, 0);
  }
  const endIter = o.maxIters > 0 ? Math.min(totalIters, startIter + o.maxIters) : totalIters;

  // the first batch before anything is written: an unreadable image fails here, naming the file
  let firstBatch: LabelledBatch | undefined = await loader.next();
  // each rank evaluates its share of the val split; the counts are summed over the ranks
  const valSet = new ValSet(folders, { imgSize: o.imgSize, batchSize: 2 * localBs, workers: o.workers, device: o.device, ranks: dist });
  onExit(() => valSet.close());

  // monitoring
  const tb = dist.masterOnly(() => new TensorBoardWriter(files.tensorboard));
  onExit(() => tb.close());
  const git = gitInfo();
  const log = dist.masterOnly(() => new FinetuneLog(files.log, startIter > 0 && resume ? null : {
    name: path.basename(o.expDir), cmd: o.cmd, git_commit_id: git.id, git_commit_msg: git.msg, model: o.model,
  }));
  onExit(() => log.close());
  let curEp = '', trainLoss = 0, trainAcc = 0, remain = '', finish = '';
  const logEpoch = (): void => log.epoch({ cur_ep: curEp, train_L: trainLoss, train_acc: trainAcc, best_val_acc: Number.isNaN(maxAcc) ? 0 : Math.max(maxAcc, maxAccEma), rema: remain, fini: finish });
  logEpoch();
  const hp = o.fromRecipe.length ? `; from the ${o.model} recipe (${o.recipeSource}): ${o.fromRecipe.join(' ')}` : '';
  say(`[finetune] ${o.model}: ${(model.numParameters() / 1e6).toFixed(2)}M params, ${numClasses} classes; ${folders.train.files.length} train / ${folders.val.files.length} val images, ` +
    `${ipe} iters/epoch × ${o.ep} epochs; bs ${o.bs}${dist.distributed ? ` (${dist.worldSize} ranks × ${localBs})` : ''}, ${o.opt}, lr ${o.lr.toExponential(3)} (base ${o.baseLr} × ${o.bs}/256), lr_scale ${o.lrScale}, wd ${o.wd}, ` +
    `mixup ${o.mixup}, rep_aug ${o.repAug}, drop_path ${o.dropPath}, ema ${o.ema}${hp}; ${torch.getNumThreads()} threads, ${loader.workers} decode workers; exp dir ${o.expDir}` +
    (startIter ? `; resuming at iteration ${startIter}` : ''));

  const perfDesc = (acc: EvalResult, accE: EvalResult): string =>
    `Max (Last) Acc: ${Math.max(maxAcc, lastAcc).toFixed(2)} (${lastAcc.toFixed(2)} o ${pyCount(acc.count)})    EMA: ${Math.max(maxAccEma, lastAccEma).toFixed(2)} (${lastAccEma.toFixed(2)} o ${pyCount(accE.count)})`;
  const evaluate = async (): Promise<[EvalResult, EvalResult]> => {
    const [a, e] = await valSet.evaluate([model, recipe.ema!.module]);
    return [a!, e!];
  };
  if (!resume) {
    // main.py: the initial evaluation starts max_acc
    const [a, e] = await evaluate();
    lastAcc = maxAcc = a.top1; lastAccEma = maxAccEma = e.top1;
    say(`[fine-tune] initial acc=${lastAcc.toFixed(2)}, ema=${lastAccEma.toFixed(2)}`);
  }
  const epEval = evalEpochs(o.ep);
  say(`[FT start] ep_eval=[${[...epEval].sort((a, b) => a - b).join(', ')}] `);
  say(`[FT start] from ep${Math.floor(startIter / ipe)}`);

  const rngStates = (): Map<string, Tensor> => new Map([['default', torch.defaultGenerator().getState()]]);
  const save = (file: string, epochDone: number, nextIter: number): void => {
    if (!dist.isMaster) return;     // rank 0 writes; every rank holds the same weights (BN statistics: rank 0's without --sbn)
    const rng = rngStates();
    try {
      saveFinetuneCheckpoint(file, {
        args: `FineTuneArgs(${JSON.stringify({ ...o, stdout: undefined, onProgress: undefined, stopRequested: undefined })})`,
        arch: o.model, epoch: epochDone, performanceDesc, module: model, ema: recipe.ema!.module, optimizer: recipe.optimizer,
        resume: {
          nextIter, loaderEpoch: Math.floor(nextIter / ipe), loaderIter: nextIter % ipe, maxAcc, maxAccEma, lastAcc, lastAccEma,
          epochLossSum: lossSum, epochAccSum: accSum, epochSteps, numClasses, classes: [...folders.classes], rng,
          // the iterations per epoch place a resume on another number of ranks (resumePosition)
          flags: JSON.stringify({ ...o, itersPerEpoch: ipe, worldSize: dist.worldSize, stdout: undefined, onProgress: undefined, stopRequested: undefined }),
          history: history.map((h) => [h.epoch, h.trainLoss, h.trainAcc, h.acc, h.accEma]),
        },
      });
    } finally { for (const t of rng.values()) t.dispose(); }
  };

  const logFreq = Math.max(1, Math.round(ipe * 0.7));
  const printAt = new Set([3, Math.floor(ipe / 2), ipe - 1]);
  const t0 = Date.now();
  let epochStartMs = Date.now();
  recipe.model.train();
  const bar = new ProgressBar({ total: ipe, stream: out as never });
  onExit(() => bar.close());
  const { nextIter: it, interrupted } = await runTrainingLoop({
    startIter, endIter, itersPerEpoch: ipe, epochs: o.ep, batchSize: o.bs, device: o.device, bar,
    // a collective every step: every rank stops after the same step when any rank was asked to
    stopRequested: agreedStop(dist, o.stopRequested),
    nextBatch: async () => { const b = firstBatch ?? await loader.next(); firstBatch = undefined; return b; },
    step: (b, i) => {
      const input = torch.tensor(b.images, { shape: b.shape, device: o.device });
      const target = torch.tensor(b.targets, { shape: [b.targets.length], dtype: 'int64', device: o.device });
      let r;
      try { r = dist.guard(() => finetuneStep(recipe, { input, target }, i, { sync })); } catch (e) {
        if (/loss is/.test((e as Error).message)) return { loss: NaN, acc: NaN, lr: [NaN, NaN] as [number, number], wd: [NaN, NaN] as [number, number], gradNorm: null };
        throw e;
      }
      return { loss: r.loss, acc: r.acc, lr: r.lr, wd: r.wd, gradNorm: r.gradNorm };
    },
    nonFiniteLoss: (loss, i, epoch) => new Error(`fine-tuning loss is ${loss} at iteration ${i} (epoch ${epoch}); stopping. The last good checkpoint (${files.last}) is intact; lower --base_lr or set --clip`),
    afterStep: (i, r, { imgPerSec }) => {
      lossSum += r.loss; accSum += r.acc; epochSteps++;
      const inEpoch = i % ipe, epoch = Math.floor(i / ipe);
      if (i % logFreq === 0) {
        tb.addScalar('ft_train/it_loss', r.loss, i);
        tb.addScalar('ft_train/it_acc', r.acc, i);
        tb.addScalar('ft_hp/min_lr', r.lr[0], i); tb.addScalar('ft_hp/max_lr', r.lr[1], i);
        tb.addScalar('ft_hp/min_wd', r.wd[0], i); tb.addScalar('ft_hp/max_wd', r.wd[1], i);
        if (r.gradNorm !== null) tb.addScalar('ft_hp/orig_norm', r.gradNorm, i);
      }
      if (printAt.has(inEpoch)) {
        const remainSecs = (ipe - 1 - inEpoch) * ((Date.now() - epochStartMs) / 1000) / (inEpoch + 1);
        bar.log(`[ep${epoch} it${String(inEpoch).padStart(3)}/${ipe}]    L: ${r.loss.toFixed(4)}    Acc: ${r.acc.toFixed(2)}    lr: ${pyE1(r.lr[0])}~${pyE1(r.lr[1])}    Remain: ${formatDuration(remainSecs)}`);
      }
      o.onProgress?.({ kind: 'step', epoch, iter: inEpoch, itersPerEpoch: ipe, globalIter: i, totalIters, loss: r.loss, acc: r.acc, lr: r.lr[1], imgPerSec });
    },
    progressFields: (r) => ({ loss: r.loss, acc: r.acc, lr: r.lr[1] }),
    onEpochEnd: async ({ epoch, nextIter }) => {
      // main.py returns tot_loss / iters_train (every step of the epoch, also those before a resume)
      trainLoss = lossSum / ipe; trainAcc = accSum / ipe;
      let evalCost = '-';
      let acc = NaN, accEma = NaN;
      if (epEval.has(epoch)) {
        const t = Date.now();
        const [a, e] = await evaluate();
        lastAcc = acc = a.top1; lastAccEma = accEma = e.top1;
        evalCost = String(Math.round((Date.now() - t) / 10) / 100);
        performanceDesc = perfDesc(a, e);
        if (lastAcc > maxAcc) { maxAcc = lastAcc; save(files.best, epoch, nextIter); }
        if (lastAccEma > maxAccEma) { maxAccEma = lastAccEma; save(files.bestEma, epoch, nextIter); }
        o.onProgress?.({ kind: 'eval', epoch, acc: lastAcc, accEma: lastAccEma, maxAcc, maxAccEma });
      }
      history.push({ epoch, trainLoss, trainAcc, acc, accEma });
      o.onProgress?.({ kind: 'epoch', epoch, trainLoss, trainAcc });
      lossSum = 0; accSum = 0; epochSteps = 0;
      const epCost = Number((Math.round((Date.now() - epochStartMs) / 10) / 100 + 1).toFixed(2));   // main.py: +1 s for the logging
      const remainSecs = (o.ep - 1 - epoch) * epCost;
      remain = formatDuration(remainSecs); finish = mdhm(Date.now() + remainSecs * 1000); curEp = `${epoch + 1}/${o.ep}`;
      bar.log(`[ep${epoch}/${o.ep}]    ${performanceDesc}    Ep cost: ${epCost}s,   Ev cost: ${evalCost},    Remain: ${remain},    Finish @ ${finish}`);
      logEpoch();
      tb.addScalar('ft_train/ep_loss', trainLoss, epoch);
      tb.addScalar('ft_eval/max_acc', maxAcc, epoch);
      tb.addScalar('ft_eval/last_acc', lastAcc, epoch);
      tb.addScalar('ft_eval/max_acc_ema', maxAccEma, epoch);
      tb.addScalar('ft_eval/last_acc_ema', lastAccEma, epoch);
      tb.addScalar('ft_z_burnout/rest_hours', Math.round(remainSecs / 36) / 100, epoch);
      epochStartMs = Date.now();
    },
    save: ({ epochDone, nextIter }) => { save(files.last, epochDone, nextIter); tb.flush(); },
  });
  bar.close();
  if (interrupted) {
    say(`[finetune] stopped at iteration ${it}; checkpoint saved to ${files.last}; resume with --resume_from ${files.last}`);
  } else if (it === totalIters) {
    const resultAcc = Math.max(maxAcc, maxAccEma);
    tb.addScalar('ft_result/result_acc', resultAcc, epStart);
    tb.addScalar('ft_result/result_acc', resultAcc, o.ep);
    say(`  [*] [FT finished]    ${performanceDesc}    Total Cost: ${((Date.now() - t0) / 3600e3).toFixed(1)}h`);
    say(`  [*] [FT finished]    max(max_acc, max_acc_e)=${pyFloat(resultAcc)}    EMA better=${maxAccEma > maxAcc ? 'True' : 'False'}`);
    remain = '-'; finish = mdhm(Date.now());
    logEpoch();
  }
  tb.flush();
  if (history.length && dist.isMaster) writeAccuracyCurve(files.accuracyCurve, o.model, history);
  return result(false, interrupted, it - startIter);
}

/** Python's str() of a list of strings: ['a', 'b']. */
function pyList(xs: string[]): string {
  return `[${xs.map((x) => `'${x}'`).join(', ')}]`;
}

function writeAccuracyCurve(file: string, model: string, history: FinetuneEpochRecord[]): void {
  const pts = history.filter((h) => Number.isFinite(h.acc)).map((h) => ({ x: h.epoch, y: h.acc }));
  if (!pts.length) return;
  const png = lossCurvePng(pts, { title: `${model} fine-tuning: val top-1`, xlabel: 'epoch', ylabel: 'top-1 accuracy (%)' });
  writeFileAtomic(file, (fd) => { writeFileSync(fd, png); });
}
