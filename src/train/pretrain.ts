// The SparK pretraining job (the reference's main.py): data → masked reconstruction → LAMB with the
// per-iteration lr/wd schedule; checkpoints at every epoch end; exact resume; monitoring.
import { mkdirSync, writeFileSync, unlinkSync, accessSync, constants, existsSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { saveSafetensors } from '../torch/io/tensor_bridge.js';
import { writeFileAtomic } from '../torch/io/atomic.js';
import { LAMB, AdamW, SGD, clipGradNorm, type Optimizer } from '../torch/optim/index.js';
import { createPretrainEncoder, isModelName, listModels } from '../models/index.js';
import { SparK } from '../spark/index.js';
import { createLoader, type Batch, type Loader } from '../data/index.js';
import { getParamGroups } from './param_groups.js';
import { lrWdAnnealing, lrWdAt } from './schedule.js';
import {
  saveSparkStyle, saveTimmStyle, sparkStyleName, timmStyleName, loadCheckpoint, loadIntoSpark,
  loadOptimizerState, disposeCheckpoint, type ResumeRecord,
} from './checkpoint.js';
import { reconstructionGrid } from './visualize.js';
import { TensorBoardWriter, ProgressBar, JsonlLogger, lossCurvePng, formatDuration } from './monitor/index.js';

export interface PretrainOptions {
  model: string;
  inputSize: number;
  mask: number;
  bs: number;
  baseLr: number;
  wd: number;
  wde: number;
  ep: number;
  wpEp: number;
  clip: number;
  opt: 'lamb' | 'adamw' | 'sgd';
  /** Adam beta2; 0 = the reference's default per model (ResNet 0.95, ConvNeXt 0.999) */
  ada: number;
  dp: number;
  decoderWidth: number;
  dataPath: string;
  expDir: string;
  initWeight: string;
  resumeFrom: string;
  seed: number;
  threads: number;
  device: string;
  workers: number;
  /** write the reconstruction grid every this many epochs (and at the last) */
  visEvery: number;
  /** how many images the reconstruction grid shows */
  visImages: number;
  safetensors: boolean;
  /** stop after this many iterations in total (0 = run all epochs); for smoke tests */
  maxIters: number;
  /** the command line, recorded in the checkpoint's `args` and the log */
  cmd: string;
  /** where progress goes (default stdout) */
  stdout?: NodeJS.WritableStream & { isTTY?: boolean };
  /** resolves true when the run should stop after the current step (signals); set by the CLI */
  stopRequested?: () => boolean;
}

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
}

const isConvNeXt = (m: string): boolean => m.includes('convnext') || m.includes('cnx');

/** Check the options that can be checked before touching data or building a model. */
export function validatePretrainOptions(o: PretrainOptions): void {
  if (!isModelName(o.model)) throw new Error(`unknown model '${o.model}'; choose one of ${listModels().join(', ')}`);
  if (!(o.mask > 0 && o.mask < 1)) throw new Error(`--mask must be in (0, 1), got ${o.mask}`);
  if (!Number.isInteger(o.bs) || o.bs <= 0) throw new Error(`--bs must be a positive integer, got ${o.bs}`);
  if (!Number.isInteger(o.inputSize) || o.inputSize <= 0 || o.inputSize % 32) {
    throw new Error(`--input_size ${o.inputSize} is not a multiple of the downsample ratio 32; use e.g. ${Math.max(1, Math.round(o.inputSize / 32)) * 32}`);
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

/** Create the exp dir and prove it is writable before any work is done. */
function prepareExpDir(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    accessSync(dir, constants.W_OK);
    const probe = path.join(dir, `.write-test-${process.pid}`);
    writeFileSync(probe, 'ok');
    unlinkSync(probe);          // the probe must not stay behind in the user's exp dir
  } catch (e) {
    throw new Error(`--exp_dir ${dir} is not writable (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); choose another folder`);
  }
}

/** The job's optimizer over the reference's param groups (exported for bench/spark_step.bench.ts). */
export function buildOptimizer(o: Pick<PretrainOptions, 'opt' | 'clip'>, model: SparK, lr: number, beta2: number): Optimizer {
  const groups = getParamGroups(model);
  switch (o.opt) {
    case 'lamb': return new LAMB(groups, { lr, weight_decay: 0, betas: [0.9, beta2], max_grad_norm: o.clip > 0 ? o.clip : 5 });
    case 'adamw': return new AdamW(groups, { lr, weight_decay: 0, betas: [0.9, beta2] });
    case 'sgd': return new SGD(groups, { lr, weight_decay: 0, momentum: 0.9, nesterov: true });
  }
}

export interface PretrainStepSchedule {
  peakLr: number; wd: number; wdEnd: number; it: number; warmupIters: number; totalIters: number;
  /** gradient clipping for optimizers other than LAMB (which clips itself); ≤ 0 = none */
  clip: number;
}
export interface PretrainStepResult { loss: number; gradNorm: number; lrNow: number; wdNow: number }

/**
 * One pretraining iteration on the batch x, as the reference's loop does it: the lr/wd schedule, a
 * random mask (from maskGen), forward, backward, the optimizer step. Run it inside torch.tidy. When the
 * loss is not finite the step is skipped (the caller stops). Exported for bench/spark_step.bench.ts.
 */
export function pretrainStep(model: SparK, optimizer: Optimizer, x: Tensor, maskGen: torch.Generator, s: PretrainStepSchedule): PretrainStepResult {
  const [minLr, maxLr, minWd, maxWd] = lrWdAnnealing(optimizer, s.peakLr, s.wd, s.wdEnd, s.it, s.warmupIters, s.totalIters);
  void minLr; void minWd;
  const l = model.forward(x, { generator: maskGen });
  optimizer.zeroGrad();
  l.backward();
  const value = l.item();
  if (!Number.isFinite(value)) return { loss: value, gradNorm: NaN, lrNow: maxLr, wdNow: maxWd };
  let gn: number;
  if (optimizer instanceof LAMB) { optimizer.step(); gn = optimizer.globalGradNorm; } else {
    gn = s.clip > 0 ? clipGradNorm(model.parameters(), s.clip) : NaN;
    optimizer.step();
  }
  return { loss: value, gradNorm: gn, lrNow: maxLr, wdNow: maxWd };
}

export async function pretrain(o: PretrainOptions): Promise<PretrainResult> {
  // Whatever ends the run (the last step, a signal, bad data, a foreign checkpoint, a NaN loss), the
  // model's and optimizer's tensors are freed, the decode workers stopped and the log files closed:
  // deterministically, not at the next GC, so a caller can run jobs in one process and a failed run
  // prints nothing after its error.
  const release: (() => unknown)[] = [];
  try {
    return await runPretrain(o, (fn) => { release.push(fn); });
  } finally {
    for (const fn of release.reverse()) await fn();
  }
}

async function runPretrain(o: PretrainOptions, onExit: (fn: () => unknown) => void): Promise<PretrainResult> {
  validatePretrainOptions(o);
  prepareExpDir(o.expDir);
  if (o.threads > 0) torch.setNumThreads(o.threads);
  const out = o.stdout ?? process.stdout;
  const say = (s: string): void => { out.write(`${s}\n`); };

  const lr = o.baseLr * o.bs / 256;                      // the reference's linear scaling
  const beta2 = o.ada || (isConvNeXt(o.model) ? 0.999 : 0.95);
  const wde = o.wde || o.wd;
  torch.manualSeed(o.seed);
  const maskGen = new torch.Generator(o.seed + 1);

  // model
  const encoder = createPretrainEncoder(o.model, { dropPathRate: o.dp });
  const model = new SparK(encoder, {
    inputSize: o.inputSize, maskRatio: o.mask, densifyNorm: isConvNeXt(o.model) ? 'ln' : 'bn', decoderWidth: o.decoderWidth,
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
    root: o.dataPath, inputSize: o.inputSize, batchSize: o.bs, seed: o.seed, workers: o.workers,
    startEpoch: loaderEpoch, startIter: loaderIter, onWarning: (m) => process.stderr.write(`[data] ${m}\n`),
  });
  onExit(() => loader.close());
  const ipe = loader.itersPerEpoch;
  if (!o.resumeFrom || startIter === 0) startIter = loaderEpoch * ipe + loaderIter;
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
  const tb = new TensorBoardWriter(path.join(o.expDir, 'tensorboard_log'));
  onExit(() => tb.close());
  const log = new JsonlLogger(path.join(o.expDir, 'pretrain_log.txt'));
  onExit(() => log.close());
  log.log({ name: path.basename(o.expDir), cmd: o.cmd, model: o.model, input_size: o.inputSize, bs: o.bs, lr, base_lr: o.baseLr,
    wd: o.wd, wde, ep: o.ep, wp_ep: o.wpEp, opt: o.opt, ada: beta2, mask: o.mask, dp: o.dp, images: loader.files.length,
    iters_per_ep: ipe, resume_from: o.resumeFrom || null, device: o.device, threads: torch.getNumThreads() });
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
      flags: JSON.stringify({ ...o, stdout: undefined, stopRequested: undefined }), losses,
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
  };

  model.train();
  const bar = new ProgressBar({ total: ipe, stream: out as never });
  let it = startIter, interrupted = false;
  const t0 = Date.now();
  let stepStart = Date.now();
  // time spent waiting for the loader in this epoch: ~0 means the step is never starved of data
  let dataWaitMs = 0, epochStartMs = Date.now();
  try {
    while (it < endIter) {
      const waitStart = Date.now();
      const batch = firstBatch ?? await loader.next();
      dataWaitMs += Date.now() - waitStart;
      firstBatch = undefined;
      const epoch = Math.floor(it / ipe);
      const { loss, gradNorm, lrNow, wdNow } = torch.tidy(() => pretrainStep(model, optimizer,
        torch.tensor(batch.data, { shape: batch.shape, device: o.device }), maskGen,
        { peakLr: lr, wd: o.wd, wdEnd: wde, it, warmupIters: o.wpEp * ipe, totalIters, clip: o.clip }));
      if (!Number.isFinite(loss)) {
        bar.close();
        throw new Error(`loss is ${loss} at iteration ${it} (epoch ${epoch}); stopping. The last good checkpoint (${sparkPath}) is intact; lower --base_lr or check the data`);
      }
      if (o.device.startsWith('cuda')) torch.cuda.synchronize();
      const now = Date.now();
      const imgPerSec = o.bs / Math.max(1e-3, (now - stepStart) / 1000);
      stepStart = now;
      lastLoss = loss; minLoss = Math.min(minLoss, loss);
      losses.push([it, loss]);
      tb.addScalar('train/loss', loss, it);
      tb.addScalar('train_hp/lr', lrNow, it);
      tb.addScalar('train_hp/wd', wdNow, it);
      if (Number.isFinite(gradNorm)) tb.addScalar('train_hp/grad_norm', gradNorm, it);
      tb.addScalar('perf/img_per_sec', imgPerSec, it);
      it++;
      bar.update(it - epoch * ipe - 1, { epoch, ep_total: o.ep, loss, lr: lrNow, imgPerSec });

      const epochEnds = it % ipe === 0;
      // One event-loop turn per step, so that a signal that came during the step is handled now: the
      // next batch is usually decoded already, its promise settles as a microtask, and without this
      // turn Ctrl-C went unnoticed for several steps (and epoch-end saves).
      if (o.stopRequested) await new Promise<void>((r) => setImmediate(r));
      const stop = o.stopRequested?.() ?? false;
      if (epochEnds || stop || it === endIter) {
        const done = epochEnds ? epoch : epoch - 1;    // the reference's `epoch` = last completed epoch
        saveAll(done, it);
        if (epochEnds) {
          const elapsed = (Date.now() - t0) / 1000;
          const remain = (elapsed / (it - startIter)) * (totalIters - it);
          log.log({ cur_ep: `${epoch + 1}/${o.ep}`, last_L: lastLoss, min_L: minLoss, rema: formatDuration(remain),
            fini: new Date(Date.now() + remain * 1000).toISOString(), lr: lrNow, wd: wdNow, img_per_s: imgPerSec, iter: it,
            data_wait_pct: Math.round(1000 * dataWaitMs / Math.max(1, Date.now() - epochStartMs)) / 10,
            skipped_images: loader.stats.skipped });
          tb.addScalar('perf/data_wait_pct', 100 * dataWaitMs / Math.max(1, Date.now() - epochStartMs), epoch);
          dataWaitMs = 0; epochStartMs = Date.now();
          tb.addScalar('train/min_loss', minLoss, epoch);
          bar.log(`  [*] [ep${epoch}/${o.ep}]  Min/Last Recon Loss: ${minLoss.toFixed(4)} ${lastLoss.toFixed(4)},  Remain: ${formatDuration(remain)}`);
          if ((epoch + 1) % Math.max(1, o.visEvery) === 0 || it === totalIters || epoch === 0) writeVis(epoch);
        }
        tb.flush();
        if (stop && it < endIter) { interrupted = true; bar.log(`[pretrain] stopped at iteration ${it}; checkpoint saved to ${sparkPath}; resume with --resume_from ${sparkPath}`); break; }
      }
    }
  } finally {
    bar.close();
    await loader.close();
    visInput.dispose(); visMask.dispose();
    tb.close();
    log.close();
  }
  if (losses.length) {
    const png = lossCurvePng(losses.map(([x, y]) => ({ x, y })), { title: `SparK ${o.model} pretraining loss`, xlabel: 'iteration', ylabel: 'reconstruction loss' });
    writeFileAtomic(path.join(o.expDir, 'loss_curve.png'), (fd) => { writeFileSync(fd, png); });
  }
  if (loader.stats.skipped) say(`[data] ${loader.stats.skipped} unreadable image(s) were skipped: ${loader.stats.skippedFiles.slice(0, 5).join(', ')}${loader.stats.skipped > 5 ? ', …' : ''}`);
  say(`[pretrain] ${interrupted ? 'interrupted' : 'finished'}: ${it - startIter} iterations, loss ${losses[0]?.[1]?.toFixed(4)} → ${lastLoss.toFixed(4)} (min ${minLoss.toFixed(4)}); checkpoints in ${o.expDir}`);
  return { iters: it - startIter, losses, minLoss, lastLoss, interrupted, sparkStylePath: sparkPath, timmStylePath: timmPath };
}
