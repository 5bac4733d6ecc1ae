// The reference's BatchMixup (downstream_imagenet/mixup.py, a batch-mode timm Mixup that accepts odd
// batches): one mixup-or-cutmix decision per batch, paired with the batch reversed (flip(0)), targets
// smoothed one-hot (0.1) mixed with the same λ.
//
// The random decision (λ, mixup or cutmix, the box) is drawn by `decide`, apart from `apply`, which
// turns a decision into the mixed batch and soft targets: the fixtures record the reference's decision
// and `spark verify` applies it with the same `apply` the training step uses. The reference draws from
// numpy's global RNG; we draw from a seeded generator (same distributions, not the same stream).
import * as torch from '../../torch/index.js';
import type { Tensor } from '../../torch/index.js';
import { Rng } from '../../data/rng.js';

export interface BatchMixupOptions {
  /** mixup α (the reference's --mixup); mixup is active when > 0 */
  mixupAlpha: number;
  /** cutmix α; the reference fine-tunes with 1 */
  cutmixAlpha?: number;
  /** probability of mixing a batch at all (reference: 1) */
  prob?: number;
  /** probability of cutmix instead of mixup when both are active (reference: 0.5) */
  switchProb?: number;
  /** label smoothing of the targets (reference: 0.1) */
  labelSmoothing?: number;
  /** correct λ to the pasted box's area after clipping to the image (reference: true) */
  correctLam?: boolean;
  numClasses: number;
  /** false = no mixing (targets still smoothed); the reference sets mixup_enabled = mixup > 0 */
  enabled?: boolean;
}

/** One batch's mixing decision: what mixup.py's _params_per_batch and rand_bbox draw. */
export interface MixDecision {
  /** λ as drawn from Beta(α, α) (1 = no mixing) */
  lamDrawn: number;
  useCutmix: boolean;
  /** cutmix's box [yl, yh, xl, xh] (rows yl..yh-1, columns xl..xh-1 come from the flipped batch) */
  bbox?: [number, number, number, number];
}

export interface MixedBatch {
  /** the mixed images (B′ = B, or B+1 for an odd batch: its first sample prepended) */
  input: Tensor;
  /** (B′, classes) soft targets */
  target: Tensor;
  /** the integer targets after the prepending, for accuracy (B′) */
  rawTarget: Tensor;
  /** the λ used (cutmix: area-corrected) */
  lam: number;
}

/** A standard normal draw (Box–Muller). */
function normal(rng: Rng): number {
  let u = 0;
  while (u === 0) u = rng.random();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * rng.random());
}

/** Gamma(shape, 1) (Marsaglia–Tsang; shape < 1 by boosting with U^(1/shape)). */
function gamma(shape: number, rng: Rng): number {
  if (shape < 1) {
    let u = 0;
    while (u === 0) u = rng.random();
    return gamma(shape + 1, rng) * u ** (1 / shape);
  }
  const d = shape - 1 / 3, c = 1 / Math.sqrt(9 * d);
  for (;;) {
    let x: number, v: number;
    do { x = normal(rng); v = 1 + c * x; } while (v <= 0);
    v = v * v * v;
    const u = rng.random();
    if (u < 1 - 0.0331 * x ** 4) return d * v;
    if (Math.log(u) < 0.5 * x * x + d * (1 - v + Math.log(v))) return d * v;
  }
}

/** Beta(a, b) = X / (X + Y) with X ~ Gamma(a), Y ~ Gamma(b) (numpy's np.random.beta distribution). */
export function betaSample(a: number, b: number, rng: Rng): number {
  const x = gamma(a, rng), y = gamma(b, rng);
  return x / (x + y);
}

const clip = (v: number, lo: number, hi: number): number => Math.min(Math.max(v, lo), hi);

/**
 * mixup.py's rand_bbox for one image of h×w: a box of side ⌊h·√(1−λ)⌋ × ⌊w·√(1−λ)⌋ centred at a
 * uniform (cy, cx), clipped to the image.
 */
export function randBbox(h: number, w: number, lam: number, rng: Rng): [number, number, number, number] {
  const ratio = Math.sqrt(1 - lam);
  const cutH = Math.trunc(h * ratio), cutW = Math.trunc(w * ratio);
  const cy = rng.int(0, h), cx = rng.int(0, w);
  const hh = Math.floor(cutH / 2), hw = Math.floor(cutW / 2);
  return [clip(cy - hh, 0, h), clip(cy + hh, 0, h), clip(cx - hw, 0, w), clip(cx + hw, 0, w)];
}

/** mixup.py's one_hot + mixup_target: smoothed one-hot of y·λ + of flip(y)·(1−λ), float32 as the reference. */
export function mixupTarget(target: Tensor, numClasses: number, lam: number, smoothing: number): Tensor {
  return torch.tidy(() => {
    const off = smoothing / numClasses;
    const on = 1 - smoothing + off;
    const oneHot = (t: Tensor): Tensor => torch.scatterValue(
      torch.full([t.size(0), numClasses], off, { dtype: 'float32', device: t.device }), 1, t.to({ dtype: 'int64' }).view([-1, 1]), on);
    const y1 = oneHot(target), y2 = oneHot(target.flip([0]));
    return y1.mul(lam).add(y2.mul(1 - lam));
  });
}

export class BatchMixup {
  readonly mixupAlpha: number;
  readonly cutmixAlpha: number;
  readonly prob: number;
  readonly switchProb: number;
  readonly labelSmoothing: number;
  readonly correctLam: boolean;
  readonly numClasses: number;
  enabled: boolean;

  constructor(o: BatchMixupOptions) {
    this.mixupAlpha = o.mixupAlpha;
    this.cutmixAlpha = o.cutmixAlpha ?? 0;
    this.prob = o.prob ?? 1;
    this.switchProb = o.switchProb ?? 0.5;
    this.labelSmoothing = o.labelSmoothing ?? 0.1;
    this.correctLam = o.correctLam ?? true;
    this.numClasses = o.numClasses;
    this.enabled = o.enabled ?? true;
    if (!(this.mixupAlpha >= 0) || !(this.cutmixAlpha >= 0)) throw new Error(`BatchMixup: alphas must be ≥ 0, got mixup ${this.mixupAlpha}, cutmix ${this.cutmixAlpha}`);
    if (!Number.isInteger(this.numClasses) || this.numClasses < 1) throw new Error(`BatchMixup: numClasses must be a positive integer, got ${this.numClasses}`);
    if (this.enabled && this.mixupAlpha === 0 && this.cutmixAlpha === 0) {
      throw new Error('BatchMixup: one of mixupAlpha > 0 or cutmixAlpha > 0 must hold while mixing is enabled');
    }
  }

  /** The random part for a batch of h×w images: _params_per_batch, then the cutmix box when cutting. */
  decide(h: number, w: number, rng: Rng): MixDecision {
    let lam = 1, useCutmix = false;
    if (this.enabled && rng.random() < this.prob) {
      if (this.mixupAlpha > 0 && this.cutmixAlpha > 0) {
        useCutmix = rng.random() < this.switchProb;
        lam = useCutmix ? betaSample(this.cutmixAlpha, this.cutmixAlpha, rng) : betaSample(this.mixupAlpha, this.mixupAlpha, rng);
      } else if (this.mixupAlpha > 0) {
        lam = betaSample(this.mixupAlpha, this.mixupAlpha, rng);
      } else {
        useCutmix = true;
        lam = betaSample(this.cutmixAlpha, this.cutmixAlpha, rng);
      }
    }
    if (lam === 1 || !useCutmix) return { lamDrawn: lam, useCutmix };
    return { lamDrawn: lam, useCutmix, bbox: randBbox(h, w, lam, rng) };
  }

  /**
   * Apply a decision to (x, target) as mixup.py's __call__: an odd batch first gets its first sample
   * prepended (also when mixing is off); mixup: x·λ + flip(x)·(1−λ); cutmix: the box of flip(x) pasted
   * and λ corrected to the box's area; targets mixed with that λ. The inputs are not modified.
   */
  apply(x: Tensor, target: Tensor, d: MixDecision): MixedBatch {
    if (x.ndim !== 4) throw new Error(`BatchMixup: expected an (N, C, H, W) batch, got shape [${x.shape}]`);
    if (target.ndim !== 1 || target.size(0) !== x.size(0)) throw new Error(`BatchMixup: targets [${target.shape}] do not match the batch [${x.shape}]`);
    const [out, lam] = torch.tidy(() => {
      let xs = x, ts = target;
      if (x.size(0) % 2 === 1) {
        xs = torch.cat([x.narrow(0, 0, 1), x], 0);
        ts = torch.cat([target.narrow(0, 0, 1), target], 0);
      }
      let mixed: Tensor, lam = d.lamDrawn;
      if (lam === 1) {
        mixed = xs === x ? x.clone() : xs;
      } else if (d.useCutmix) {
        if (!d.bbox) throw new Error('BatchMixup: a cutmix decision needs its box');
        const [yl, yh, xl, xh] = d.bbox;
        const [h, w] = [xs.size(2), xs.size(3)];
        if (!(0 <= yl && yl <= yh && yh <= h && 0 <= xl && xl <= xh && xh <= w)) throw new Error(`BatchMixup: box [${d.bbox}] is outside the ${h}×${w} image`);
        if (this.correctLam) lam = 1 - ((yh - yl) * (xh - xl)) / (h * w);
        mixed = xs.clone();
        const flipped = xs.flip([0]);
        torch.noGrad(() => mixed.narrow(2, yl, yh - yl).narrow(3, xl, xh - xl).copy_(flipped.narrow(2, yl, yh - yl).narrow(3, xl, xh - xl)));
      } else {
        // x_flipped = x.flip(0).mul_(1 − λ); x.mul_(λ).add_(x_flipped)
        mixed = xs.mul(lam).add(xs.flip([0]).mul(1 - lam));
      }
      const soft = mixupTarget(ts, this.numClasses, lam, this.labelSmoothing);
      return [{ input: mixed, target: soft, rawTarget: ts === target ? target.clone() : ts }, lam] as const;
    });
    return { ...out, lam };
  }
}
