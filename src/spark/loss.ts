// SparK's reconstruction target and loss (reference spark.py): patchify into p×p patches
// (channel-last inside a patch), normalise each input patch by its mean and
// sqrt(unbiased var + 1e-6), per-patch MSE, averaged over masked patches only.
import type { Tensor } from '../torch/index.js';

/** (B,C,h·p,w·p) -> (B, h·w, p·p·C), the reference's einsum 'bchpwq->bhwpqc'. */
export function patchify(x: Tensor, p: number): Tensor {
  const [B, C, H, W] = x.shape;
  const h = H / p, w = W / p;
  return x.reshape([B, C, h, p, w, p]).permute([0, 2, 4, 3, 5, 1]).reshape([B, h * w, C * p * p]);
}

/** Inverse of patchify: (B, h·w, p·p·C) -> (B,C,h·p,w·p). */
export function unpatchify(x: Tensor, p: number, h: number, w: number): Tensor {
  const B = x.size(0), C = x.size(2) / (p * p);
  return x.reshape([B, h, w, p, p, C]).permute([0, 5, 1, 3, 2, 4]).reshape([B, C, h * p, w * p]);
}

export interface PatchStats { target: Tensor; mean: Tensor; std: Tensor }

/** Per-patch normalised target and the statistics to undo it. */
export function normalizedTarget(inpPatches: Tensor): PatchStats {
  const mean = inpPatches.mean(-1, true);
  const std = inpPatches.var(-1, true, true).add(1e-6).pow(0.5);
  return { target: inpPatches.sub(mean).div(std), mean, std };
}

/** Mean over masked patches of the per-patch MSE. active: bool (B,1,f,f), true = visible. */
export function maskedPatchLoss(recPatches: Tensor, target: Tensor, active: Tensor): Tensor {
  const l2 = recPatches.sub(target).pow(2).mean(2);                        // (B, L)
  const nonActive = active.logicalNot().to({ dtype: 'int32' }).view([active.size(0), -1]);
  return l2.mul(nonActive).sum().div(nonActive.sum().add(1e-8));
}
