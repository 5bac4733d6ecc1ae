// A training job's data-parallel plumbing, shared by `spark pretrain` and `spark finetune` (src/dist
// holds the collectives; this is how a job wires them in, written once):
//   - joinDataParallel: join the torchrun job (or run alone), this rank's device, its share of --bs;
//   - stepSync: the hooks a step function calls (DDP's gradient averaging after backward, scalars that
//     every rank agrees on before it decides anything from them);
//   - agreedStop: a stop request on any rank stops every rank after the same step.
// In one process every hook is an identity, so a single-process run is unchanged.
import type { Tensor } from '../torch/index.js';
import { initDistributed, type DistContext } from '../dist/index.js';
import type { OnExit } from './loop.js';

/** Data parallelism's part of a training step (pretrainStep, finetuneStep). */
export interface StepSync {
  /** average every gradient over the ranks, right after backward (before clipping and the optimizer) */
  averageGradients(): void;
  /** each value's mean over the ranks (the loss, the accuracy), so that every rank takes the same decisions */
  meanOverRanks(values: number[]): number[];
}

export interface DataParallel {
  dist: DistContext;
  /** the device this rank trains on ('cuda' → cuda:LOCAL_RANK when distributed) */
  device: string;
  /** this rank's batch: the global --bs over the ranks (one line when it does not divide) */
  localBs: number;
}

/** Join the job the torchrun variables describe (none: one process); the group is left when the job ends. */
export function joinDataParallel(o: { device: string; bs: number }, onExit: OnExit): DataParallel {
  const dist = initDistributed({ device: o.device });
  onExit(() => dist.close());
  return { dist, device: dist.deviceFor(o.device), localBs: dist.localBatchSize(o.bs) };
}

/** The step hooks over `params()` (the parameters that get gradients; read at each step). */
export function stepSync(dist: DistContext, params: () => Tensor[]): StepSync {
  return {
    averageGradients: () => dist.averageGradients(params()),
    meanOverRanks: (values) => dist.meanOverRanks(values),
  };
}

/** The training loop's stop check: true on every rank after the step in which any rank was asked to stop. */
export function agreedStop(dist: DistContext, local?: () => boolean): () => boolean {
  return () => dist.anyRank(local?.() ?? false);
}
