// The SparK pretraining job (the reference's main.py): data → masked reconstruction → LAMB with the
// per-iteration lr/wd schedule; checkpoints at every epoch end; exact resume; monitoring.
import { mkdirSync, writeFileSync, existsSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { saveSafetensors } from '../torch/io/tensor_bridge.js';
import { writeFileAtomic } from '../torch/io/atomic.js';
import { LAMB, AdamW, SGD, type Optimizer } from '../torch/optim/index.js';
import { createPretrainEncoder, isModelName, listModels, modelRecord } from '../models/index.js';
import { SparK } from '../spark/index.js';
import { createLoader, type Batch, type Loader } from '../data/index.js';
import { getParamGroups } from './param_groups.js';
import { lrWdAt } from './schedule.js';
import { withCleanup, prepareExpDir, runTrainingLoop, type OnExit } from './loop.js';
import { pretrainStep, type PretrainStepResult } from './pretrain_step.js';
import {
  saveSparkStyle, saveTimmStyle, sparkStyleName, timmStyleName, loadCheckpoint, loadIntoSpark,
  loadOptimizerState, disposeCheckpoint, type ResumeRecord,
} from './checkpoint.js';
import { reconstructionGrid } from './visualize.js';
import { joinDataParallel, stepSync, agreedStop } from './data_parallel.js';
import { TensorBoardWriter, ProgressBar, JsonlLogger, lossCurvePng, formatDuration, silentStream } from './monitor/index.js';
import { resolvePretrainOptions, type PretrainOptions, type ResolvedPretrainOptions } from './pretrain_options.js';

export { PRETRAIN_DEFAULTS, resolvePretrainOptions, type PretrainOptions, type ResolvedPretrainOptions, type PretrainProgress } from './pretrain_options.js';

export interface PretrainResult {
  /** iterations run in this invocation */
  iters: number;
  /** every (global iteration, loss) of the run, resumed part included */
  losses: [number, number][];
  minLoss: number;
  lastLoss: number;
  interrupted: boolean;
  sparkStylePath: string;
  timmStylePath: string;
  /** every file the run wrote (paths absolute when expDir is) */
  files: {
    sparkStyle: string; timmStyle: string; safetensors?: string; log: string; tensorboard: string;
    lossCurve?: string; reconstructions: string[];
  };
  /** the resolved options (defaults filled in) */
  options: ResolvedPretrainOptions;
}

/** Check the options that can be checked before touching data or building a model. */
export function validatePretrainOptions(o: ResolvedPretrainOptions): void {
  if (!isModelName(o.model)) throw new Error(`unknown model '${o.model}'; choose one of ${listModels().join(', ')}`);
  if (!(o.mask > 0 && o.mask < 1)) throw new Error(`--mask must be in (0, 1), got ${o.mask}`);
  if (!Number.isInteger(o.bs) || o.bs <= 0) throw new Error(`--bs must be a positive integer, got ${o.bs}`);
  // the mask patch is the encoder's downsample ratio: 32 for the timm ResNets and ConvNeXts, 8 for resnet8
  const ratio = modelRecord(o.model).downsampleRatio;
  if (!Number.isInteger(o.inputSize) || o.inputSize <= 0 || o.inputSize % ratio) {
    throw new Error(`--input_size ${o.inputSize} is not a multiple of ${o.model}'s downsample ratio ${ratio}; use e.g. ${Math.max(1, Math.round(o.inputSize / ratio)) * ratio}`);
  }
  if (!Number.isInteger(o.ep) || o.ep <= 0) throw new Error(`--ep must be a positive integer, got ${o.ep}`);
  if (!(o.wpEp >= 0)) throw new Error(`--wp_ep must be ≥ 0, got ${o.wpEp}`);
  if (!['lamb', 'adamw', 'sgd'].includes(o.opt)) throw new Error(`--opt must be lamb, adamw or sgd, got '${o.opt}'`);
  if (!(o.baseLr > 0)) throw new Error(`--base_lr must be positive, got ${o.baseLr}`);
  if (o.device !== 'cpu' && !o.device.startsWith('cuda')) throw new Error(`--device must be cpu or cuda[:n], got '${o.device}'`);
  if (o.device.startsWith('cuda') && !torch.cuda.isAvailable()) {
    throw new Error(`--device ${o.device} but this libtorch has no CUDA (or no GPU is visible); use --device cpu or point LIBTORCH at a CUDA libtorch`);
  }
  for (const [flag, p] of [['--init_weight', o.initWeight], ['--resume_from', o.resumeFrom]] as const) {
    if (p && !existsSync(p)) throw new Error(`${flag} ${p} does not exist; check the path`);
  }
}

/** The job's optimizer over the reference's param groups (also used by bench/spark_step.bench.ts). */
export function buildOptimizer(o: Pick<ResolvedPretrainOptions, 'opt' | 'clip'>, model: SparK, lr: number, beta2: number): Optimizer {
  const groups = getParamGroups(model);
  switch (o.opt) {
    case 'lamb': return new LAMB(groups, { lr, weight_decay: 0, betas: [0.9, beta2], max_grad_norm: o.clip > 0 ? o.clip : 5 });
    case 'adamw': return new AdamW(groups, { lr, weight_decay: 0, betas: [0.9, beta2] });
    case 'sgd': return new SGD(groups, { lr, weight_decay: 0, momentum: 0.9, nesterov: true });
  }
}

/** Run a pretraining job; options not given take PRETRAIN_DEFAULTS (the CLI's flag defaults). */
export async function pretrain(options: PretrainOptions = {}): Promise<PretrainResult> {
  const o = resolvePretrainOptions(options);
  return withCleanup((onExit) => runPretrain(o, onExit));
}

async function runPretrain(o: ResolvedPretrainOptions, onExit: OnExit): Promise<PretrainResult> {
  validatePretrainOptions(o);
  // data parallelism (torchrun variables; none = one process): rank 0 writes, the others train
  const { dist, device, localBs } = joinDataParallel(o, onExit);
  o = { ...o, device };
  if (dist.isMaster) prepareExpDir(o.expDir);
  if (o.threads > 0) torch.setNumThreads(o.threads);
  const out = o.verbose && dist.isMaster ? o.stdout ?? process.stdout : silentStream;
  const say = (s: string): void => { out.write(`${s}\n`); };

  const lr = o.baseLr * o.bs / 256;                      // the reference's linear scaling
  const facts = modelRecord(o.model).pretrain;          // per-model facts: the registry record, not the name
  const beta2 = o.ada || facts.adamBeta2;
  const wde = o.wde || o.wd;
  torch.manualSeed(o.seed);
  const maskGen = new torch.Generator(o.seed + 1);

  // model
  const encoder = createPretrainEncoder(o.model, { dropPathRate: o.dp });
  const model = new SparK(encoder, {
    inputSize: o.inputSize, maskRatio: o.mask, densifyNorm: facts.densifyNorm, decoderWidth: o.decoderWidth,
  });
  onExit(() => { for (const t of [...model.parameters(), ...model.buffers()]) t.dispose(); });
  if (o.device !== 'cpu') model.to(o.device);
  if (o.initWeight) {
    const ck = loadCheckpoint(o.initWeight);
    try {
      const r = loadIntoSpark(model, ck, { strict: false });
      say(`[init_weight] ${o.initWeight}: missing ${r.missingKeys.length} keys, unexpected ${r.unexpectedKeys.length} keys`);
    } finally { disposeCheckpoint(ck); }
  }
  dist.prepareModel(model, { syncBatchNorm: o.sbn });
  const optimizer = buildOptimizer(o, model, lr, beta2);
  onExit(() => optimizer.disposeState());

  // resume
  let startIter = 0, loaderEpoch = 0, loaderIter = 0, minLoss = Infinity, lastLoss = NaN;
  const losses: [number, number][] = [];
  const sparkPath = path.join(o.expDir, sparkStyleName(o.model));
  const timmPath = path.join(o.expDir, timmStyleName(o.model));
  if (o.resumeFrom) {
    const ck = loadCheckpoint(o.resumeFrom);
    try {
      if (ck.kind === 'finetune') throw new Error(`--resume_from ${o.resumeFrom} is a fine-tuning checkpoint; resume pretraining from a *_withdecoder_*_spark_style.pth, or continue fine-tuning with spark finetune --resume_from`);
      if (ck.kind !== 'spark') throw new Error(`--resume_from ${o.resumeFrom} holds encoder weights only; resume needs a *_withdecoder_*_spark_style.pth (use --init_weight for weights)`);
      loadIntoSpark(model, ck, { strict: true });
      loadOptimizerState(optimizer, ck);
      if (ck.resume) {
        ({ nextIter: startIter, loaderEpoch, loaderIter, minLoss, lastLoss } = ck.resume);
        losses.push(...ck.resume.losses);
        const def = ck.resume.rng.get('default'), mg = ck.resume.rng.get('mask');
        if (def) torch.defaultGenerator().setState(def);
        if (mg) maskGen.setState(mg);
      } else {
        // a reference checkpoint: continue at the next epoch as its loader does
        loaderEpoch = (ck.epoch ?? -1) + 1;
      }
    } finally { disposeCheckpoint(ck); }
  }

  const loader: Loader = createLoader({
    root: o.dataPath, inputSize: o.inputSize, batchSize: localBs, rank: dist.rank, worldSize: dist.worldSize, seed: o.seed, workers: o.workers,
    startEpoch: loaderEpoch, startIter: loaderIter, onWarning: (m) => { if (o.verbose) process.stderr.write(`[data] ${m}\n`); },
  });
  onExit(() => loader.close());
  const ipe = loader.itersPerEpoch;
  if (!o.resumeFrom || startIter === 0) startIter = loaderEpoch * ipe + loaderIter;
  dist.decorrelateRandomness([torch.defaultGenerator(), maskGen], o.seed, startIter);
  const totalIters = o.ep * ipe;
  // The schedule divides by (iterations − 1) and by the iterations after the warmup: a run too short
  // for it must fail now, naming the flags, not with a schedule error at its last step.
  try { lrWdAt(lr, o.wd, wde, totalIters - 1, o.wpEp * ipe, totalIters); } catch (e) {
    throw new Error(`--ep ${o.ep} × ${ipe} iteration(s) per epoch (${loader.files.length} images, --bs ${o.bs}) with --wp_ep ${o.wpEp}: ` +
      `${(e as Error).message.replace(/^lrWdAnnealing: /, '')}`);
  }
  const endIter = o.maxIters > 0 ? Math.min(totalIters, startIter + o.maxIters) : totalIters;
  // Wait for the first batch before writing anything: a folder whose images are all unreadable fails
  // here, with the loader's message naming the folder, and leaves no log or event file behind.
  let firstBatch: Batch | undefined = await loader.next();

  // monitoring
  const tb = dist.masterOnly(() => new TensorBoardWriter(path.join(o.expDir, 'tensorboard_log')));
  onExit(() => tb.close());
  const log = dist.masterOnly(() => new JsonlLogger(path.join(o.expDir, 'pretrain_log.txt')));
  onExit(() => log.close());
  log.log({ name: path.basename(o.expDir), cmd: o.cmd, model: o.model, input_size: o.inputSize, bs: o.bs, lr, base_lr: o.baseLr,
    wd: o.wd, wde, ep: o.ep, wp_ep: o.wpEp, opt: o.opt, ada: beta2, mask: o.mask, dp: o.dp, images: loader.files.length,
    iters_per_ep: ipe, resume_from: o.resumeFrom || null, device: o.device, threads: torch.getNumThreads(), world_size: dist.worldSize });
  say(`[pretrain] ${o.model} SparK: ${(model.numParameters() / 1e6).toFixed(2)}M params; ${loader.files.length} images, ` +
    `${ipe} iters/epoch × ${o.ep} epochs; lr ${lr.toExponential(3)} (base ${o.baseLr} × ${o.bs}/256), ${o.opt}; ` +
    `${torch.getNumThreads()} threads, ${loader.workers} decode workers; exp dir ${o.expDir}` + (startIter ? `; resuming at iteration ${startIter}` : ''));

  // a fixed set of images and masks for the reconstruction pictures
  const visFiles = loader.files.slice(0, Math.min(o.visImages, loader.files.length));
  const loadVis = async (files: string[]): Promise<Batch> => {
    // silent: the training loader already warns once about each unreadable file
    const l = createLoader({ files, inputSize: o.inputSize, batchSize: files.length, augment: false, workers: 0, seed: o.seed, onWarning: () => {} });
    try { return await l.next(); } finally { await l.close(); }
  };
  // when every one of those files is unreadable, show the first batch's images (known to decode)
  const visBatch = await loadVis(visFiles).catch(() => loadVis(firstBatch!.files.slice(0, visFiles.length)));
  const visInput = torch.tensor(visBatch.data, { shape: visBatch.shape, device: o.device }).keep();
  onExit(() => visInput.dispose());
  const visMask = model.mask(visBatch.shape[0], { generator: new torch.Generator(o.seed + 2), device: o.device }).keep();
  onExit(() => visMask.dispose());

  const saveAll = (epochDone: number, nextIter: number): void => {
    const rng = new Map<string, Tensor>([['default', torch.defaultGenerator().getState()], ['mask', maskGen.getState()]]);
    const resume: ResumeRecord = {
      nextIter, loaderEpoch: Math.floor(nextIter / ipe), loaderIter: nextIter % ipe, minLoss, lastLoss, rng,
      flags: JSON.stringify({ ...o, stdout: undefined, onProgress: undefined, stopRequested: undefined }), losses,
    };
    try {
      saveSparkStyle(sparkPath, model, {
        args: `Args(${o.cmd})`, arch: o.model, inputSize: o.inputSize, epoch: epochDone,
        performanceDesc: `${minLoss.toFixed(4)} ${lastLoss.toFixed(4)}`, optimizer, resume,
      });
      saveTimmStyle(timmPath, model.sparse_encoder.sp_cnn);
      if (o.safetensors) {
        saveSafetensors(timmPath.replace(/\.pth$/, '.safetensors'), model.sparse_encoder.sp_cnn.stateDict(), { format: 'pt', arch: o.model });
      }
    } finally {
      for (const t of rng.values()) t.dispose();
    }
  };

  const writeVis = (epoch: number): void => {
    const g = reconstructionGrid(model, visInput, visMask);
    const file = path.join(o.expDir, 'reconstructions', `ep${String(epoch).padStart(4, '0')}.png`);
    mkdirSync(path.dirname(file), { recursive: true });
    writeFileAtomic(file, (fd) => { writeFileSync(fd, g.png); });
    tb.addImagePng('reconstruction/input|masked|rec_or_inp|rec', g.png, g.height, g.width, epoch);
    if (!visFilesWritten.includes(file)) visFilesWritten.push(file);
  };
  const visFilesWritten: string[] = [];

  let lastHp: PretrainStepResult = { loss: NaN, gradNorm: NaN, lr: NaN, wd: NaN };
  model.train();
  const bar = new ProgressBar({ total: ipe, stream: out as never });
  onExit(() => bar.close());
  const sync = stepSync(dist, () => model.parameters());
  const schedule = { peakLr: lr, wd: o.wd, wdEnd: wde, warmupIters: o.wpEp * ipe, totalIters, clip: o.clip };
  const { nextIter: it, interrupted } = await runTrainingLoop({
    startIter, endIter, itersPerEpoch: ipe, epochs: o.ep, batchSize: o.bs, device: o.device, bar,
    // a collective every step: every rank stops after the same step when any rank was asked to
    stopRequested: agreedStop(dist, o.stopRequested),
    nextBatch: async () => { const b = firstBatch ?? await loader.next(); firstBatch = undefined; return b; },
    step: (batch, i) => dist.guard(() => pretrainStep(model, optimizer, torch.tensor(batch.data, { shape: batch.shape, device: o.device }), maskGen, i, schedule, sync)),
    nonFiniteLoss: (loss, i, epoch) => new Error(`loss is ${loss} at iteration ${i} (epoch ${epoch}); stopping. The last good checkpoint (${sparkPath}) is intact; lower --base_lr or check the data`),
    afterStep: (i, r, { imgPerSec }) => {
      lastLoss = r.loss; minLoss = Math.min(minLoss, r.loss);
      losses.push([i, r.loss]);
      tb.addScalar('train/loss', r.loss, i);
      tb.addScalar('train_hp/lr', r.lr, i);
      tb.addScalar('train_hp/wd', r.wd, i);
      if (Number.isFinite(r.gradNorm)) tb.addScalar('train_hp/grad_norm', r.gradNorm, i);
      tb.addScalar('perf/img_per_sec', imgPerSec, i);
      lastHp = r;
      const epoch = Math.floor(i / ipe);
      o.onProgress?.({ kind: 'step', epoch, iter: i - epoch * ipe, itersPerEpoch: ipe, globalIter: i, totalIters, loss: r.loss, lr: r.lr, wd: r.wd, imgPerSec });
    },
    progressFields: (r) => ({ loss: r.loss, lr: r.lr }),
    onEpochEnd: ({ epoch, nextIter, dataWaitPct, secPerIter, imgPerSec }) => {
      const remain = secPerIter * (totalIters - nextIter);
      log.log({ cur_ep: `${epoch + 1}/${o.ep}`, last_L: lastLoss, min_L: minLoss, rema: formatDuration(remain),
        fini: new Date(Date.now() + remain * 1000).toISOString(), lr: lastHp.lr, wd: lastHp.wd, grad_norm: lastHp.gradNorm, img_per_s: imgPerSec, iter: nextIter,
        data_wait_pct: Math.round(10 * dataWaitPct) / 10, skipped_images: loader.stats.skipped });
      tb.addScalar('perf/data_wait_pct', dataWaitPct, epoch);
      tb.addScalar('train/min_loss', minLoss, epoch);
      o.onProgress?.({ kind: 'epoch', epoch, minLoss, lastLoss, dataWaitPct, imgPerSec });
      bar.log(`  [*] [ep${epoch}/${o.ep}]  Min/Last Recon Loss: ${minLoss.toFixed(4)} ${lastLoss.toFixed(4)},  Remain: ${formatDuration(remain)}`);
      if (dist.isMaster && ((epoch + 1) % Math.max(1, o.visEvery) === 0 || nextIter === totalIters || epoch === 0)) writeVis(epoch);
    },
    save: ({ epochDone, nextIter }) => { if (dist.isMaster) saveAll(epochDone, nextIter); tb.flush(); },
  });
  if (interrupted) bar.log(`[pretrain] stopped at iteration ${it}; checkpoint saved to ${sparkPath}; resume with --resume_from ${sparkPath}`);
  bar.close();
  const lossCurve = losses.length && dist.isMaster ? path.join(o.expDir, 'loss_curve.png') : undefined;
  if (lossCurve) {
    const png = lossCurvePng(losses.map(([x, y]) => ({ x, y })), { title: `SparK ${o.model} pretraining loss`, xlabel: 'iteration', ylabel: 'reconstruction loss' });
    writeFileAtomic(lossCurve, (fd) => { writeFileSync(fd, png); });
  }
  if (loader.stats.skipped) say(`[data] ${loader.stats.skipped} unreadable image(s) were skipped: ${loader.stats.skippedFiles.slice(0, 5).join(', ')}${loader.stats.skipped > 5 ? ', …' : ''}`);
  say(`[pretrain] ${interrupted ? 'interrupted' : 'finished'}: ${it - startIter} iterations, loss ${losses[0]?.[1]?.toFixed(4)} → ${lastLoss.toFixed(4)} (min ${minLoss.toFixed(4)}); checkpoints in ${o.expDir}`);
  const files = {
    sparkStyle: sparkPath, timmStyle: timmPath, log: path.join(o.expDir, 'pretrain_log.txt'), tensorboard: path.join(o.expDir, 'tensorboard_log'),
    reconstructions: visFilesWritten, ...(lossCurve ? { lossCurve } : {}), ...(o.safetensors ? { safetensors: timmPath.replace(/\.pth$/, '.safetensors') } : {}),
  };
  return { iters: it - startIter, losses, minLoss, lastLoss, interrupted, sparkStylePath: sparkPath, timmStylePath: timmPath, files, options: o };
}
