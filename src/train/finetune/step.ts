// The reference's fine-tuning recipe (downstream_imagenet: util.py create_model_opt, main.py
// fine_tune_one_epoch) as one recipe object and ONE step function. `spark finetune` trains with it and
// `spark verify` reproduces the golden fixtures with it, so what is verified is what trains.
//
// One iteration (main.py): lr_wd_annealing → BatchMixup → forward (train mode) → accuracy of the
// argmax against y or flip(y) → zero grads → loss → backward → clip_grad_norm_ when clip > 0 →
// optimizer step → EMA update. Data parallel (a StepSync given): the loss and accuracy are agreed by all
// ranks before anything is decided from them, and gradients are averaged right after backward (DDP).
import * as torch from '../../torch/index.js';
import type { Tensor, nn } from '../../torch/index.js';
import { AdamW, LAMB, clipGradNorm, type Optimizer } from '../../torch/optim/index.js';
import { Rng, hashSeed } from '../../data/rng.js';
import { getParamGroupsWithNames, SPARK_NOWD_KEYS } from '../param_groups.js';
import { finetuneLrWdAnnealing } from '../schedule.js';
import { BatchMixup, type MixDecision } from './mixup.js';
import { criterionFor, type Criterion } from './criteria.js';
import { ModelEmaV2 } from './ema.js';
import type { StepSync } from '../data_parallel.js';

export type FinetuneOptimizerName = 'adam' | 'adamw' | 'lamb';
export const FINETUNE_OPTIMIZERS: readonly FinetuneOptimizerName[] = ['adam', 'adamw', 'lamb'];

export interface FinetuneRecipeOptions {
  opt: FinetuneOptimizerName;
  /** the peak lr (the reference's args.lr = base_lr · bs / 256) */
  lr: number;
  wd: number;
  /** layer-wise lr decay factor; 0 or ≥ 1 = none */
  lrScale: number;
  /** clip_grad_norm_ to this when > 0 */
  clip: number;
  /** mixup α; 0 disables mixing (targets are still smoothed) */
  mixup: number;
  numClasses: number;
  /** warmup and total iterations of the schedule (wp_ep · iters per epoch, ep · iters per epoch) */
  warmupIters: number;
  maxIters: number;
  /** seeds the mixing decisions: iteration i draws from Rng(hash(seed, i)), so a resumed run repeats them */
  seed?: number;
  /**
   * this process's rank when data parallel: each rank draws its own mixing decision every iteration, as
   * each of the reference's ranks draws from its own numpy stream (rank 0 draws what one process draws)
   */
  rank?: number;
}

export interface FinetuneRecipe {
  readonly model: nn.Module;
  readonly optimizer: Optimizer;
  /** each group's parameter names, as the reference prints them */
  readonly groupNames: string[][];
  readonly mixup: BatchMixup;
  readonly criterion: Criterion;
  readonly ema: ModelEmaV2 | null;
  readonly options: Readonly<FinetuneRecipeOptions>;
  /** the parameters that require grad (what clip_grad_norm_ sees) */
  readonly trainable: Tensor[];
}

/**
 * util.py create_model_opt for a built classifier: param groups with layer decay (the model's layer-id
 * rule), timm AdamW (adam/adamw) or timm Lamb(max_grad_norm=1e7, always_adapt, no bias correction) at
 * weight_decay 0 (the schedule sets each group's), BatchMixup (cutmix α 1, switch 0.5, smoothing 0.1,
 * disabled at mixup 0), the criterion of the optimizer, and the EMA when `emaModule` is given (a second
 * instance of the architecture; its state is set from the model now).
 */
export function createFinetuneRecipe(model: nn.Module, o: FinetuneRecipeOptions, ema?: { module: nn.Module; decay: number }): FinetuneRecipe {
  if (!FINETUNE_OPTIMIZERS.includes(o.opt)) throw new Error(`unknown optimizer '${o.opt}'; choose one of ${FINETUNE_OPTIMIZERS.join(', ')}`);
  if (!(o.lr > 0)) throw new Error(`fine-tuning lr must be positive, got ${o.lr}`);
  const { groups, names } = getParamGroupsWithNames(model, { nowdKeys: SPARK_NOWD_KEYS, lrScale: o.lrScale });
  const optimizer = o.opt === 'lamb'
    ? new LAMB(groups, { lr: o.lr, weight_decay: 0, max_grad_norm: 1e7, always_adapt: true, bias_correction: false, variant: 'timm' })
    : new AdamW(groups, { lr: o.lr, weight_decay: 0, variant: 'timm' });
  const mixup = new BatchMixup({
    mixupAlpha: o.mixup, cutmixAlpha: 1.0, prob: 1.0, switchProb: 0.5, labelSmoothing: 0.1,
    numClasses: o.numClasses, enabled: o.mixup > 0,
  });
  return {
    model, optimizer, groupNames: names, mixup, criterion: criterionFor(o.opt),
    ema: ema ? new ModelEmaV2(ema.module, ema.decay, model) : null,
    options: Object.freeze({ ...o }),
    trainable: model.parameters().filter((p) => p.requiresGrad),
  };
}

export interface FinetuneBatch { input: Tensor; target: Tensor }

/** Hooks for verification: called inside the step with tensors that are freed after it. */
export interface FinetuneStepObserver {
  mixed?(input: Tensor, softTarget: Tensor): void;
  /** after backward (and the gradient averaging when data parallel), before clipping */
  gradients?(model: nn.Module): void;
}

export interface FinetuneStepResult {
  loss: number;
  /** the reference's training accuracy under mixing: argmax equals y or flip(y), in % */
  acc: number;
  /** [min, max] over groups of this iteration's lr and wd (lr_wd_annealing's return) */
  lr: [number, number];
  wd: [number, number];
  /** the total gradient norm before clipping (clip > 0), else null */
  gradNorm: number | null;
  decision: MixDecision;
  /** the λ applied (cutmix: area-corrected) */
  lam: number;
}

/** The mixing decision of iteration `it` under the recipe's seed (and rank). */
export function drawDecision(r: FinetuneRecipe, it: number, h: number, w: number): MixDecision {
  const seed = r.options.seed ?? 0, rank = r.options.rank ?? 0;
  return r.mixup.decide(h, w, new Rng(rank ? hashSeed(seed, it, rank) : hashSeed(seed, it)));
}

/**
 * One fine-tuning iteration `it` (0-based over the whole run). `decision` replaces the drawn mixing
 * decision (the fixtures' recorded one); `sync` makes it one rank's part of a data-parallel step (the
 * returned loss and accuracy are then the means over the ranks). Every temporary is freed before it returns.
 */
export function finetuneStep(r: FinetuneRecipe, batch: FinetuneBatch, it: number,
  o: { decision?: MixDecision; observe?: FinetuneStepObserver; sync?: StepSync } = {}): FinetuneStepResult {
  const opts = r.options;
  const [minLr, maxLr, minWd, maxWd] = finetuneLrWdAnnealing(r.optimizer, opts.lr, opts.wd, it, opts.warmupIters, opts.maxIters);
  const decision = o.decision ?? drawDecision(r, it, batch.input.size(2), batch.input.size(3));
  r.model.train();
  const res = torch.tidy(() => {
    const mixed = torch.noGrad(() => r.mixup.apply(batch.input, batch.target, decision));
    o.observe?.mixed?.(mixed.input, mixed.target);
    const out = r.model.forward(mixed.input) as Tensor;
    const localAcc = torch.noGrad(() => {
      const pred = out.argmax(1);
      return pred.eq(mixed.rawTarget).logicalOr(pred.eq(mixed.rawTarget.flip([0]))).to({ dtype: 'float32' }).mean().item() * 100;
    });
    r.optimizer.zeroGrad();
    const loss = r.criterion(out, mixed.target);
    // every rank's batch has the same size, so the means over ranks are the global batch's loss and accuracy
    const [lossValue, acc] = o.sync ? o.sync.meanOverRanks([loss.item(), localAcc]) as [number, number] : [loss.item(), localAcc];
    // stop before a non-finite loss reaches the weights, the optimizer state and the EMA (on every rank: the loss is agreed)
    if (!Number.isFinite(lossValue)) throw new Error(`fine-tuning loss is ${lossValue} at iteration ${it}; lower --base_lr or set --clip`);
    loss.backward();
    o.sync?.averageGradients();
    o.observe?.gradients?.(r.model);
    const gradNorm = opts.clip > 0 ? clipGradNorm(r.trainable, opts.clip) : null;
    r.optimizer.step();
    r.ema?.update(r.model);
    return { loss: lossValue, acc, gradNorm, lam: mixed.lam };
  });
  return { ...res, lr: [minLr, maxLr], wd: [minWd, maxWd], decision };
}

export interface EvalCounts { count: number; top1: number; top5: number }

/**
 * Top-1 / top-5 correct counts of `model` (the model or the EMA's module) on one labelled batch, in
 * eval mode without gradients (main.py evaluate counts argmax hits; top-5 is ours for `spark eval`).
 * The model's train/eval mode is restored.
 */
export function evaluateBatch(model: nn.Module, input: Tensor, target: Tensor): EvalCounts {
  const wasTraining = model.training;
  model.eval();
  try {
    return torch.tidy(() => torch.noGrad(() => {
      const out = model.forward(input) as Tensor;
      const k = Math.min(5, out.size(1));
      const [, idx] = torch.topk(out, k, 1);
      const hits = idx.eq(target.view([-1, 1]));
      const top1 = out.argmax(1).eq(target).sum().item();
      const top5 = hits.sum().item();   // the k indices are distinct: at most one hit per row
      return { count: target.size(0), top1, top5 };
    }));
  } finally {
    if (wasTraining) model.train();
  }
}
