// Random patch masks, as the reference's SparK.mask: per sample, the len_keep patches with the
// smallest uniform draws are visible. Same generator + seed as PyTorch gives the same masks.
import * as torch from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';

/**
 * Number of visible patches: the reference's Python round(f·f·(1 − ratio)), whose halves go to the
 * even neighbour (input 224 with --mask 0.5: round(24.5) = 24, where Math.round would keep 25).
 */
export function visibleCount(fmapSize: number, maskRatio: number): number {
  const x = fmapSize * fmapSize * (1 - maskRatio);
  const f = Math.floor(x);
  if (x - f !== 0.5) return Math.round(x);
  return f % 2 === 0 ? f : f + 1;
}

/** bool (B,1,f,f): true = visible. Exactly visibleCount(f, ratio) trues per sample. */
export function randomMask(batch: number, fmapSize: number, maskRatio: number,
  o: { generator?: Generator | null; device?: string } = {}): Tensor {
  const L = fmapSize * fmapSize;
  const keep = visibleCount(fmapSize, maskRatio);
  return torch.tidy(() => {
    const idx = torch.rand([batch, L], { generator: o.generator ?? null }).argsort(1).narrow(1, 0, keep);
    const active = torch.zeros([batch, L], { dtype: 'bool' }).scatterValue(1, idx, true);
    const out = active.view([batch, 1, fmapSize, fmapSize]);
    return o.device && o.device !== 'cpu' ? out.to({ device: o.device }) : out;
  });
}

/**
 * The (B,1,f,f) patch mask at a map's resolution (B,1,h,w): repeated (nearest) when h, w are multiples
 * of f, as the reference; at a coarser resolution that divides f (global pooling's 1×1, say) a
 * position is visible when any patch it covers is. Other sizes do not line up with the patches.
 */
export function expandMask(active: Tensor, h: number, w: number): Tensor {
  const f = active.size(2), g = active.size(3);
  if (h === f && w === g) return active;
  if (h % f === 0 && w % g === 0) return active.repeatInterleave(h / f, 2).repeatInterleave(w / g, 3);
  if (f % h === 0 && g % w === 0) {
    return torch.tidy(() => active.view([active.size(0), 1, h, f / h, w, g / w]).amax([3, 5]));
  }
  throw new Error(`a ${h}×${w} feature map does not line up with the ${f}×${g} mask grid: sparse execution needs map sizes that are multiples or divisors of it`);
}

/** Validate a caller-supplied mask: (B,1,f,f) with f = input/downsample. Returns it as bool. */
export function checkMask(active: Tensor, batch: number, fmapSize: number): Tensor {
  const s = active.shape;
  if (s.length !== 4 || s[0] !== batch || s[1] !== 1 || s[2] !== fmapSize || s[3] !== fmapSize) {
    throw new Error(`mask must have shape [${batch},1,${fmapSize},${fmapSize}] (batch, 1, input/downsample ratio squared), got [${s}]`);
  }
  return active.dtype === 'bool' ? active : active.ne(0);
}
