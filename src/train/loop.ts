// The one training-loop skeleton that the pretrain and fine-tune jobs fill in (DESIGN.md "train"):
//   setup        the job builds model, optimizer, loader and monitors inside `withCleanup`, registering
//                a release for each, so that whatever ends the run frees them deterministically;
//   step         `runTrainingLoop` awaits a batch, runs the job's step function inside one `tidy`, and
//                times it (images/s, the share of the epoch spent waiting for data);
//   epoch end    after the last step of each epoch the job's `onEpochEnd` hook runs (logs, evaluation,
//                pictures), then `save` writes the checkpoint;
//   stop         a stop request (SIGINT/SIGTERM, noticed at the end of the step it came in), the last
//                iteration of the run, or a step limit also end in `save`; a non-finite loss ends in the
//                job's error, the last good checkpoint untouched;
//   cleanup      `withCleanup` runs every registered release in reverse order, on success and failure.
import { mkdirSync, writeFileSync, unlinkSync, accessSync, constants } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import type { ProgressBar, ProgressFields } from './monitor/index.js';

/** Registers a release to run when the job ends (in reverse order of registration). */
export type OnExit = (release: () => unknown) => void;

/**
 * Run a job with one cleanup path: whatever ends it (the last step, a signal, bad data, a foreign
 * checkpoint, a NaN loss), every registered release runs — tensors freed, decode workers stopped,
 * log files closed — deterministically, not at the next GC, so that a caller can run jobs in one
 * process and a failed run prints nothing after its error.
 */
export async function withCleanup<T>(body: (onExit: OnExit) => Promise<T>): Promise<T> {
  const release: (() => unknown)[] = [];
  try {
    return await body((fn) => { release.push(fn); });
  } finally {
    for (const fn of release.reverse()) await fn();
  }
}

/** Create the exp dir and prove it is writable before any work is done (one line naming the fix otherwise). */
export function prepareExpDir(dir: string): void {
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

/** What every step function returns; jobs add their own numbers. */
export interface StepResult { loss: number }

export interface EpochEndInfo {
  /** the epoch just completed (0-based) */
  epoch: number;
  /** the global iteration of the next step */
  nextIter: number;
  /** share of this epoch's wall time (in this invocation) spent waiting for the loader, in percent */
  dataWaitPct: number;
  /** seconds per iteration so far in this invocation (for the remaining-time estimate) */
  secPerIter: number;
  /** images/s of the epoch's last step */
  imgPerSec: number;
}

export interface SaveInfo {
  /** the reference's `epoch` field: the last completed epoch (−1 when stopped inside the first) */
  epochDone: number;
  nextIter: number;
  reason: 'epoch' | 'stop' | 'limit';
}

export interface TrainingLoopSpec<B, R extends StepResult> {
  /** global iteration of the first step, and the one to stop before */
  startIter: number;
  endIter: number;
  itersPerEpoch: number;
  /** epochs of the whole run (the progress bar's total) */
  epochs: number;
  /** images per step, for images/s */
  batchSize: number;
  /** 'cpu' or 'cuda[:n]': a CUDA step is synchronised before it is timed */
  device: string;
  /** the next batch, in order; the time spent awaiting it counts as data wait */
  nextBatch: () => Promise<B>;
  /**
   * One training iteration at global iteration `it` (the job's step function). It runs inside one
   * `tidy`, so it must be synchronous and return numbers only. A non-finite `loss` stops the run.
   */
  step: (batch: B, it: number) => R;
  /** after each step with a finite loss (per-step logs); `imgPerSec` measured by the loop */
  afterStep?: (it: number, r: R, perf: { imgPerSec: number }) => void;
  /** the progress bar's fields for a step, beyond epoch, ep_total and img/s */
  progressFields: (r: R) => ProgressFields;
  /** after the last step of each epoch, before its checkpoint is saved */
  onEpochEnd?: (info: EpochEndInfo) => void | Promise<void>;
  /** write the checkpoint(s): at each epoch end, at a stop request, at the step limit */
  save: (info: SaveInfo) => void | Promise<void>;
  /** the error for a non-finite loss (naming the iteration and the last good checkpoint) */
  nonFiniteLoss: (loss: number, it: number, epoch: number) => Error;
  /** true when the run should stop after the current step */
  stopRequested?: () => boolean;
  bar: ProgressBar;
}

export interface TrainingLoopResult {
  /** the global iteration of the next step (== endIter unless interrupted) */
  nextIter: number;
  interrupted: boolean;
}

/** The step loop: batches → step → timing → progress → epoch-end hook → checkpoint; see the header. */
export async function runTrainingLoop<B, R extends StepResult>(s: TrainingLoopSpec<B, R>): Promise<TrainingLoopResult> {
  const ipe = s.itersPerEpoch;
  const cuda = s.device.startsWith('cuda');
  let it = s.startIter, interrupted = false;
  const t0 = Date.now();
  let stepStart = Date.now();
  // time spent waiting for the loader in this epoch: ~0 means the step is never starved of data
  let dataWaitMs = 0, epochStartMs = Date.now();
  while (it < s.endIter) {
    const waitStart = Date.now();
    const batch = await s.nextBatch();
    dataWaitMs += Date.now() - waitStart;
    const epoch = Math.floor(it / ipe);
    const r = torch.tidy(() => s.step(batch, it));
    if (!Number.isFinite(r.loss)) {
      s.bar.close();
      throw s.nonFiniteLoss(r.loss, it, epoch);
    }
    if (cuda) torch.cuda.synchronize();
    const now = Date.now();
    const imgPerSec = s.batchSize / Math.max(1e-3, (now - stepStart) / 1000);
    stepStart = now;
    s.afterStep?.(it, r, { imgPerSec });
    it++;
    s.bar.update(it - epoch * ipe - 1, { epoch, ep_total: s.epochs, ...s.progressFields(r), imgPerSec });

    const epochEnds = it % ipe === 0;
    // One event-loop turn per step, so that a signal that came during the step is handled now: the
    // next batch is usually decoded already, its promise settles as a microtask, and without this
    // turn Ctrl-C went unnoticed for several steps (and epoch-end saves).
    if (s.stopRequested) await new Promise<void>((r) => setImmediate(r));
    const stop = s.stopRequested?.() ?? false;
    if (epochEnds) {
      const wall = Math.max(1, Date.now() - epochStartMs);
      await s.onEpochEnd?.({
        epoch, nextIter: it, dataWaitPct: 100 * dataWaitMs / wall,
        secPerIter: (Date.now() - t0) / 1000 / (it - s.startIter), imgPerSec,
      });
      dataWaitMs = 0; epochStartMs = Date.now();
    }
    if (epochEnds || stop || it === s.endIter) {
      // the reference's `epoch` = the last completed epoch
      await s.save({ epochDone: epochEnds ? epoch : epoch - 1, nextIter: it, reason: epochEnds ? 'epoch' : stop ? 'stop' : 'limit' });
      if (stop && it < s.endIter) { interrupted = true; break; }
    }
  }
  return { nextIter: it, interrupted };
}
