// One SparK pretraining iteration (the reference's main.py pre_train_one_ep body): set every group's
// lr/wd from the schedule → masked forward → zero grads → backward → clip (LAMB clips inside its own
// step) → optimizer step. The pretraining job and the benchmarks call this one function.
import * as torch from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { LAMB, clipGradNorm, type Optimizer } from '../torch/optim/index.js';
import type { SparK } from '../spark/index.js';
import { lrWdAnnealing } from './schedule.js';
import type { StepSync } from './data_parallel.js';

export type { StepSync } from './data_parallel.js';

export interface PretrainSchedule {
  /** peak lr (base_lr · bs / 256) */
  peakLr: number;
  /** weight decay at the start and at the end (cosine between) */
  wd: number;
  wdEnd: number;
  warmupIters: number;
  totalIters: number;
  /** gradient clipping for optimizers other than LAMB (≤ 0: none) */
  clip: number;
}

export interface PretrainStepResult {
  loss: number;
  /** the global gradient norm before clipping (LAMB's, or clip_grad_norm_'s); NaN when not computed */
  gradNorm: number;
  /** the largest group lr and wd of this iteration (the reference's max_lr, max_wd) */
  lr: number;
  wd: number;
}


/**
 * Train `model` one iteration on the normalised batch `x` (B·3·S·S), at global iteration `it`, with
 * masks drawn from `maskGen`. A non-finite loss is returned without stepping the optimizer. Runs in
 * its own tidy: nothing it creates outlives it but the parameter and optimizer updates.
 */
export function pretrainStep(model: SparK, optimizer: Optimizer, x: Tensor, maskGen: Generator | null, it: number, s: PretrainSchedule, sync?: StepSync): PretrainStepResult {
  return torch.tidy(() => {
    const [, maxLr, , maxWd] = lrWdAnnealing(optimizer, s.peakLr, s.wd, s.wdEnd, it, s.warmupIters, s.totalIters);
    const l = model.forward(x, { generator: maskGen });
    optimizer.zeroGrad();
    l.backward();
    sync?.averageGradients();
    // the loss agreed by all ranks (their mean): a NaN on one rank stops every rank
    const loss = sync ? sync.meanOverRanks([l.item()])[0]! : l.item();
    if (!Number.isFinite(loss)) return { loss, gradNorm: NaN, lr: maxLr, wd: maxWd };
    let gradNorm: number;
    if (optimizer instanceof LAMB) { optimizer.step(); gradNorm = optimizer.globalGradNorm; } else {
      gradNorm = s.clip > 0 ? clipGradNorm(model.parameters(), s.clip) : NaN;
      optimizer.step();
    }
    return { loss, gradNorm, lr: maxLr, wd: maxWd };
  });
}
