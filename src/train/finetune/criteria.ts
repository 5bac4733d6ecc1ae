// The reference's fine-tuning losses on soft targets (util.py create_model_opt): timm 0.5.4's
// BinaryCrossEntropy(smoothing=0, target_threshold=None) with LAMB (smoothing already happened in
// BatchMixup, so the targets pass through as they are) and SoftTargetCrossEntropy with Adam.
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';

export type CriterionName = 'bce' | 'soft_ce';
export type Criterion = ((logits: Tensor, softTarget: Tensor) => Tensor) & { readonly criterionName: CriterionName };

function checkShapes(what: string, x: Tensor, target: Tensor): void {
  if (x.ndim !== 2 || target.ndim !== 2 || x.size(0) !== target.size(0) || x.size(1) !== target.size(1)) {
    throw new Error(`${what}: logits [${x.shape}] and soft targets [${target.shape}] must both be (N, classes)`);
  }
}

/** timm BinaryCrossEntropy on dense targets: F.binary_cross_entropy_with_logits(x, target), mean over all. */
export const binaryCrossEntropy: Criterion = Object.assign((x: Tensor, target: Tensor): Tensor => {
  checkShapes('BinaryCrossEntropy', x, target);
  return torch.binaryCrossEntropyWithLogits(x, target);
}, { criterionName: 'bce' as const });

/** timm SoftTargetCrossEntropy: mean over the batch of sum(−target · log_softmax(x)). */
export const softTargetCrossEntropy: Criterion = Object.assign((x: Tensor, target: Tensor): Tensor => {
  checkShapes('SoftTargetCrossEntropy', x, target);
  return torch.tidy(() => target.neg().mul(torch.logSoftmax(x, -1)).sum([-1]).mean());
}, { criterionName: 'soft_ce' as const });

/** util.py: BinaryCrossEntropy when the optimizer is LAMB ('lamb' in args.opt), SoftTargetCrossEntropy otherwise. */
export function criterionFor(opt: string): Criterion {
  return opt.includes('lamb') ? binaryCrossEntropy : softTargetCrossEntropy;
}
