// The nn layers sparkts needs, with PyTorch's parameter names, shapes and default initialisation.
// Layers take an optional ForwardContext: when it carries a mask (SparK's sparse encoder), convs and
// pools mask their outputs and norms use visible positions only (the reference's semantics); the
// layers the reference lacks (GroupNorm, InstanceNorm2d, adaptive pooling, Upsample) use the masked
// forms of masked.ts. Every layer here declares `sparseAware` (see Module).
import { Tensor } from '../tensor.js';
import * as ops from '../generated/ops.js';
import { zeros, ones, empty } from '../creation.js';
import { noGrad } from '../autograd.js';
import { tidy } from '../memory.js';
import { Module, noSparseForm, type ForwardContext } from './module.js';
import * as init from './init.js';
import { syncBatchNorm, type ProcessGroup } from '../distributed.js';
import * as masked from './masked.js';
import { interpolate, type InterpolateOptions } from './functional.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** Multiply a feature map by the context's visible-position mask at its resolution (no-op when dense). */
export function maskOutput(y: Tensor, ctx?: ForwardContext): Tensor {
  if (!ctx?.mask) return y;
  return y.mul(ctx.mask(y.size(-2), y.size(-1)));
}

/**
 * maskOutput in place (the reference's `x *= mask`), for a layer's freshly computed output that no
 * backward needs (conv and pooling save their inputs, not their outputs): no second feature map is
 * allocated, which on CPU costs page faults on fresh memory — 5x the multiply itself.
 */
export function maskOutput_(y: Tensor, ctx?: ForwardContext): Tensor {
  return ctx?.mask ? y.mul_(ctx.mask(y.size(-2), y.size(-1))) : y;
}

/**
 * Run `f` on `t`, then dispose `t` unless `f` returned it (an in-place op, an identity): for chains
 * of layers whose intermediates nothing else holds. Python frees such intermediates at once by
 * reference counting (autograd keeps its own references to what backward needs); held until the end
 * of a step they cannot be reused, and fresh memory costs page faults — more than many kernels.
 */
export function consume(t: Tensor, f: (t: Tensor) => Tensor): Tensor {
  const r = f(t);
  if (r !== t) t.dispose();
  return r;
}

/**
 * The reference's sparse normalisation: the visible positions of an (N,C,H,W) map as (K,C) rows,
 * normalised by `norm`, scattered back into a map that is 0 at masked positions. The gathered and the
 * normalised rows are freed at once, as Python frees them (the norm's autograd keeps its own reference
 * to the rows it needs): memory held to the end of the step is not reused, and fresh memory costs page faults.
 */
export function sparseNormalize(x: Tensor, mask: Tensor, norm: (rows: Tensor) => Tensor): Tensor {
  const rows = ops.maskedRows(x, mask);
  const normed = norm(rows);
  const out = ops.rowsToMasked(normed, mask);
  if (normed !== rows) normed.dispose();
  rows.dispose();
  return out;
}

function resetLinearLike(weight: Tensor, bias: Tensor | null): void {
  if (init.defaultInitSkipped()) return;
  init.kaimingUniform_(weight, { a: Math.sqrt(5) });
  if (bias) {
    const fanIn = init.calculateFanInAndFanOut(weight)[0];
    const bound = fanIn > 0 ? 1 / Math.sqrt(fanIn) : 0;
    init.uniform_(bias, -bound, bound);
  }
}

export class Identity extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  forward(x: Tensor): Tensor { return x; }
}

export interface Conv2dOptions { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number; bias?: boolean }

/** Stride/padding/dilation as pairs and the groups check, shared by Conv2d and ConvTranspose2d. */
function convGeometry(layer: string, inChannels: number, outChannels: number, o: Conv2dOptions):
  { stride: [number, number]; padding: [number, number]; dilation: [number, number]; groups: number } {
  const groups = o.groups ?? 1;
  if (inChannels % groups || outChannels % groups) {
    throw new Error(`${layer}: in (${inChannels}) and out (${outChannels}) channels must be divisible by groups (${groups})`);
  }
  return { stride: pair(o.stride ?? 1), padding: pair(o.padding ?? 0), dilation: pair(o.dilation ?? 1), groups };
}

/** Any kernel, stride, dilation and grouping (depthwise included): sparse = the output masked. */
export class Conv2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  constructor(readonly inChannels: number, readonly outChannels: number, readonly kernelSize: Pair, o: Conv2dOptions = {}) {
    super();
    ({ stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups } = convGeometry('Conv2d', inChannels, outChannels, o));
    const [kh, kw] = pair(kernelSize);
    this.weight = this.registerParameter('weight', empty([outChannels, inChannels / this.groups, kh, kw]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    resetLinearLike(this.weight, this.bias);
  }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = ops.conv2d(x, this.weight, this.bias, this.stride, this.padding, this.dilation, this.groups);
    return maskOutput_(y, ctx);
  }
}

export class ConvTranspose2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  readonly stride: [number, number];
  readonly padding: [number, number];
  readonly outputPadding: [number, number];
  readonly dilation: [number, number];
  readonly groups: number;
  constructor(readonly inChannels: number, readonly outChannels: number, kernelSize: Pair,
    o: Conv2dOptions & { outputPadding?: Pair } = {}) {
    super();
    ({ stride: this.stride, padding: this.padding, dilation: this.dilation, groups: this.groups } = convGeometry('ConvTranspose2d', inChannels, outChannels, o));
    this.outputPadding = pair(o.outputPadding ?? 0);
    const [kh, kw] = pair(kernelSize);
    // PyTorch's transposed-conv weight layout: (in, out/groups, kh, kw)
    this.weight = this.registerParameter('weight', empty([inChannels, outChannels / this.groups, kh, kw]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outChannels]));
    resetLinearLike(this.weight, this.bias);
  }
  /**
   * On CPU in float32 the oneDNN formulation (conv_transpose2d_onednn, native/src/custom_ops.cc): the same
   * products as ATen's conv_transpose2d, whose CPU kernel in libtorch 1.13 is an im2col/GEMM/col2im
   * path several times slower; gradients go to this layer's own weight and bias all the same.
   */
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const convT = x.device === 'cpu' && x.dtype === 'float32' ? ops.convTranspose2dOnednn : ops.convTranspose2d;
    const y = convT(x, this.weight, this.bias, this.stride, this.padding, this.outputPadding, this.groups, this.dilation);
    return maskOutput_(y, ctx);
  }
}

/**
 * Sparse: a (N,C) input (pooled features) has no positions and runs as it is; a channels-last
 * (N,H,W,C) map has its output masked (the bias would fill masked positions); other ranks refuse.
 */
export class Linear extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor;
  readonly bias: Tensor | null;
  constructor(readonly inFeatures: number, readonly outFeatures: number, o: { bias?: boolean } = {}) {
    super();
    this.weight = this.registerParameter('weight', empty([outFeatures, inFeatures]));
    this.bias = this.registerParameter('bias', o.bias === false ? null : empty([outFeatures]));
    resetLinearLike(this.weight, this.bias);
  }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (ctx?.mask && x.ndim !== 2) {
      if (x.ndim !== 4) throw noSparseForm(this, ctx, `a ${x.ndim}-D input has no known spatial layout (sparse Linear takes (N,C) or channels-last (N,H,W,C))`);
      return ops.linear(x, this.weight, this.bias).mul_(ctx.mask(x.size(1), x.size(2)).permute([0, 2, 3, 1]));
    }
    return ops.linear(x, this.weight, this.bias);
  }
}

export interface BatchNormOptions { eps?: number; momentum?: number | null; affine?: boolean; trackRunningStats?: boolean }

/** BatchNorm over dim 1. Sparse (context mask): statistics over visible positions, masked ones exactly 0. */
export class BatchNorm extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number | null;
  readonly trackRunningStats: boolean;
  /**
   * Set: training-mode statistics are over every rank of this group (PyTorch's SyncBatchNorm, which
   * is BatchNorm plus a process group; the sparse case syncs over every rank's visible positions).
   */
  processGroup: ProcessGroup | null = null;
  constructor(readonly numFeatures: number, o: BatchNormOptions = {}) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum === undefined ? 0.1 : o.momentum;
    this.trackRunningStats = o.trackRunningStats ?? true;
    const affine = o.affine ?? true;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures]));
      this.registerBuffer('running_var', ones([numFeatures]));
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
    }
  }
  get runningMean(): Tensor | null { return this.getBuffer('running_mean'); }
  get runningVar(): Tensor | null { return this.getBuffer('running_var'); }

  /** PyTorch's _BatchNorm.forward on an (N, C, ...) input. */
  protected normalize(x: Tensor): Tensor {
    let factor = this.momentum ?? 0;
    const nbt = this.getBuffer('num_batches_tracked');
    if (this.training && this.trackRunningStats && nbt) {
      noGrad(() => nbt.add_(1));
      if (this.momentum === null) factor = 1 / nbt.item();
    }
    const useBatchStats = this.training || !this.trackRunningStats;
    const track = !this.training || this.trackRunningStats;
    if (useBatchStats && this.processGroup && this.processGroup.size > 1) {
      return syncBatchNorm(x, this.weight, this.bias, track ? this.runningMean : null, track ? this.runningVar : null, factor, this.eps, this.processGroup);
    }
    return ops.batchNorm(x, this.weight, this.bias, track ? this.runningMean : null, track ? this.runningVar : null,
      useBatchStats, factor, this.eps);
  }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (ctx?.mask && x.ndim === 4) {
      return sparseNormalize(x, ctx.mask(x.size(2), x.size(3)), (rows) => this.normalize(rows));
    }
    return this.normalize(x);
  }
}
/** BatchNorm over (N, C) or (N, C, L). */
export class BatchNorm1d extends BatchNorm {
  override forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (x.ndim !== 2 && x.ndim !== 3) throw new Error(`BatchNorm1d: expected a 2-D (N,C) or 3-D (N,C,L) input, got [${x.shape}]`);
    return super.forward(x, ctx);
  }
}
/** BatchNorm over (N, C, H, W). */
export class BatchNorm2d extends BatchNorm {
  override forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (x.ndim !== 4) throw new Error(`BatchNorm2d: expected a 4-D (N,C,H,W) input, got [${x.shape}]`);
    return super.forward(x, ctx);
  }
}

/** LayerNorm over the trailing dims. Sparse on a channels-last (N,H,W,C) map: visible positions only. */
export class LayerNorm extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly normalizedShape: number[];
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(normalizedShape: number | number[], readonly eps = 1e-5, elementwiseAffine = true) {
    super();
    this.normalizedShape = typeof normalizedShape === 'number' ? [normalizedShape] : normalizedShape;
    this.weight = this.registerParameter('weight', elementwiseAffine ? ones(this.normalizedShape) : null);
    this.bias = this.registerParameter('bias', elementwiseAffine ? zeros(this.normalizedShape) : null);
  }
  protected normalize(x: Tensor): Tensor {
    return ops.layerNorm(x, this.normalizedShape, this.weight, this.bias, this.eps);
  }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (ctx?.mask && x.ndim === 4) {
      // channels-last (N,H,W,C): view it as NCHW for the row gather, which works in NHWC order
      const nchw = x.permute([0, 3, 1, 2]);
      const out = sparseNormalize(nchw, ctx.mask(x.size(1), x.size(2)), (rows) => this.normalize(rows));
      nchw.dispose();
      return consume(out, (t) => t.permute([0, 2, 3, 1]));
    }
    return this.normalize(x);
  }
}

/**
 * Sparse (context mask): each sample's group statistics over its visible positions only, masked
 * positions exactly 0 (masked.ts maskedGroupNorm); an all-masked sample comes out all 0.
 */
export class GroupNorm extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  constructor(readonly numGroups: number, readonly numChannels: number, readonly eps = 1e-5, affine = true) {
    super();
    if (numChannels % numGroups) throw new Error(`GroupNorm: ${numChannels} channels are not divisible into ${numGroups} groups`);
    this.weight = this.registerParameter('weight', affine ? ones([numChannels]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numChannels]) : null);
  }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (ctx?.mask) {
      if (x.ndim !== 4) throw new Error(`GroupNorm: sparse execution takes a 4-D (N,C,H,W) map, got [${x.shape}]`);
      return masked.maskedGroupNorm(x, ctx.mask(x.size(2), x.size(3)), this.numGroups, this.weight, this.bias, this.eps);
    }
    return ops.groupNorm(x, this.numGroups, this.weight, this.bias, this.eps);
  }
}

export interface InstanceNormOptions { eps?: number; momentum?: number; affine?: boolean; trackRunningStats?: boolean }

/**
 * PyTorch's InstanceNorm2d (defaults eps 1e-5, momentum 0.1, affine false, no running statistics):
 * each sample's channels normalised over their positions. With trackRunningStats, training updates
 * running_mean/var with the batch mean of the per-instance statistics (unbiased variance) and eval
 * normalises with them, as F.instance_norm; num_batches_tracked exists but, as in PyTorch, is never
 * incremented. Sparse: statistics over each sample's visible positions (the unbiased factor uses its
 * visible count), masked positions exactly 0.
 */
export class InstanceNorm2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly weight: Tensor | null;
  readonly bias: Tensor | null;
  readonly eps: number;
  readonly momentum: number;
  readonly trackRunningStats: boolean;
  constructor(readonly numFeatures: number, o: InstanceNormOptions = {}) {
    super();
    this.eps = o.eps ?? 1e-5;
    this.momentum = o.momentum ?? 0.1;
    this.trackRunningStats = o.trackRunningStats ?? false;
    const affine = o.affine ?? false;
    this.weight = this.registerParameter('weight', affine ? ones([numFeatures]) : null);
    this.bias = this.registerParameter('bias', affine ? zeros([numFeatures]) : null);
    if (this.trackRunningStats) {
      this.registerBuffer('running_mean', zeros([numFeatures]));
      this.registerBuffer('running_var', ones([numFeatures]));
      this.registerBuffer('num_batches_tracked', zeros([], { dtype: 'int64' }));
    }
  }
  get runningMean(): Tensor | null { return this.getBuffer('running_mean'); }
  get runningVar(): Tensor | null { return this.getBuffer('running_var'); }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (x.ndim !== 4) throw new Error(`InstanceNorm2d: expected a 4-D (N,C,H,W) input, got [${x.shape}]`);
    const [n, c, h, w] = x.shape;
    const useInputStats = this.training || !this.trackRunningStats;
    if (!useInputStats) {   // eval with running statistics: a per-channel affine map
      const y = ops.batchNorm(x, this.weight, this.bias, this.runningMean, this.runningVar, false, 0, this.eps);
      return ctx?.mask ? y.mul_(ctx.mask(h, w)) : y;
    }
    if (ctx?.mask) {
      const mask = ctx.mask(h, w);
      return tidy(() => {
        const { mean, variance, count, centered } = masked.maskedMoments(x, mask, c);
        if (this.trackRunningStats) {
          noGrad(() => {
            // per-instance unbiased variance over the sample's visible count, averaged over the batch
            const unbiased = variance.mul(count.div(count.sub(1).clamp(1)));
            this.runningMean!.mul_(1 - this.momentum).add_(mean.view([n, c]).mean([0]).mul(this.momentum));
            this.runningVar!.mul_(1 - this.momentum).add_(unbiased.view([n, c]).mean([0]).mul(this.momentum));
          });
        }
        let y = centered.mul(variance.view([n, c, 1]).add(this.eps).rsqrt()).view([n, c, h, w]);
        if (this.weight) y = y.mul(this.weight.view([1, c, 1, 1]));
        if (this.bias) y = y.add(this.bias.view([1, c, 1, 1]));
        return y.mul(mask);
      });
    }
    // F.instance_norm: batch norm of the (1, N·C, H, W) view with the parameters repeated per sample
    return tidy(() => {
      const rep = (t: Tensor | null): Tensor | null => (t ? t.repeat([n]) : null);
      const rm = rep(this.runningMean), rv = rep(this.runningVar);
      const y = ops.batchNorm(x.contiguous().view([1, n * c, h, w]), rep(this.weight), rep(this.bias), rm, rv, true, this.momentum, this.eps);
      if (rm && rv) {
        noGrad(() => {
          this.runningMean!.copy_(rm.view([n, c]).mean([0]));
          this.runningVar!.copy_(rv.view([n, c]).mean([0]));
        });
      }
      return y.view([n, c, h, w]);
    });
  }
}

/** inplace (PyTorch's ReLU(inplace=True)): overwrite and return the input, as timm's ResNet blocks do. */
export class ReLU extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly inplace = false) { super(); }
  forward(x: Tensor): Tensor { return this.inplace ? x.relu_() : x.relu(); }
}
/** inplace (PyTorch's ReLU6(inplace=True)): overwrite and return the input, as SparK's decoder does. */
export class ReLU6 extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly inplace = false) { super(); }
  forward(x: Tensor): Tensor { return this.inplace ? x.relu6_() : x.relu6(); }
}
export class SiLU extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  forward(x: Tensor): Tensor { return x.silu(); }
}
/** Sparse on a (N,C,H,W) map: the output masked (sigmoid(0) = 0.5 would fill masked positions). */
export class Sigmoid extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const y = x.sigmoid();
    if (!(ctx?.mask && x.ndim === 4)) return y;
    const out = y.mul(ctx.mask(x.size(2), x.size(3)));   // not in place: sigmoid's backward reads y
    y.dispose();
    return out;
  }
}
export class GELU extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly approximate: 'none' | 'tanh' = 'none') { super(); }
  forward(x: Tensor): Tensor { return x.gelu(this.approximate); }
}

export class MaxPool2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly stride: [number, number];
  constructor(readonly kernelSize: Pair, o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {}) {
    super();
    this.stride = pair(o.stride ?? kernelSize);
    this.padding = pair(o.padding ?? 0); this.dilation = pair(o.dilation ?? 1); this.ceilMode = o.ceilMode ?? false;
  }
  readonly padding: [number, number]; readonly dilation: [number, number]; readonly ceilMode: boolean;
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    return maskOutput_(ops.maxPool2d(x, this.kernelSize, this.stride, this.padding, this.dilation, this.ceilMode), ctx);
  }
}

export class AvgPool2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly stride: [number, number];
  readonly padding: [number, number];
  constructor(readonly kernelSize: Pair, o: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean } = {}) {
    super();
    this.stride = pair(o.stride ?? kernelSize); this.padding = pair(o.padding ?? 0);
    this.ceilMode = o.ceilMode ?? false; this.countIncludePad = o.countIncludePad ?? true;
  }
  readonly ceilMode: boolean; readonly countIncludePad: boolean;
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    return maskOutput_(ops.avgPool2d(x, this.kernelSize, this.stride, this.padding, this.ceilMode, this.countIncludePad), ctx);
  }
}

/** Sparse: each bin averages its visible positions (a bin with none, or an all-masked sample, gives 0). */
export class AdaptiveAvgPool2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly outputSize: Pair) { super(); }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    return ctx?.mask ? masked.maskedAdaptiveAvgPool2d(x, ctx.mask(x.size(2), x.size(3)), this.outputSize)
      : ops.adaptiveAvgPool2d(x, this.outputSize);
  }
}

/** Sparse: the max of each bin's visible positions (a bin with none, or an all-masked sample, gives 0). */
export class AdaptiveMaxPool2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly outputSize: Pair) { super(); }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    return ctx?.mask ? masked.maskedAdaptiveMaxPool2d(x, ctx.mask(x.size(2), x.size(3)), this.outputSize)
      : masked.adaptiveMaxPool2d(x, this.outputSize);
  }
}

/**
 * nn.Upsample over F.interpolate (nearest, bilinear, bicubic; by size or scale factor). Sparse
 * (nearest, bilinear): interpolation over visible positions (masked.ts maskedResize), output masked.
 * Bicubic has no sparse form (its 4-tap kernel with negative weights reads across the visible
 * region's edge, where the dense kernel would clamp) and refuses a mask context.
 */
export class Upsample extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly options: Omit<InterpolateOptions, 'ctx'>) { super(); }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (ctx?.mask && this.options.mode === 'bicubic') {
      throw noSparseForm(this, ctx, "mode 'bicubic' reads across the edge of the visible region; use 'nearest' or 'bilinear' inside a sparse encoder");
    }
    return interpolate(x, { ...this.options, ctx });
  }
}

export class Dropout extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly p = 0.5) { super(); }
  /** The input itself in eval or at p = 0 (PyTorch returns the same tensor object there too). */
  forward(x: Tensor): Tensor { return this.p > 0 && this.training ? ops.dropout(x, this.p, true) : x; }
}

/**
 * PyTorch's Dropout2d (feature dropout): whole channels of each sample zeroed with probability p,
 * the rest scaled by 1/(1−p), drawn as ATen's feature_dropout draws them ((N,C,1,1) Bernoulli).
 * Sparse as it is: the draws do not depend on positions and zeros stay 0.
 */
export class Dropout2d extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly p = 0.5) {
    super();
    if (!(p >= 0 && p <= 1)) throw new Error(`Dropout2d: p must be in [0, 1], got ${p}`);
  }
  forward(x: Tensor): Tensor {
    if (x.ndim !== 4) throw new Error(`Dropout2d: expected a 4-D (N,C,H,W) input, got [${x.shape}]`);
    if (this.p === 0 || !this.training) return x;
    if (this.p === 1) return x.mul(0);
    const keep = 1 - this.p;
    const noise = noGrad(() => empty([x.size(0), x.size(1), 1, 1], { dtype: x.dtype, device: x.device }).bernoulli_(keep).div_(keep));
    const y = x.mul(noise);
    noise.dispose();
    return y;
  }
}

/** Per-sample stochastic depth, scaled by the keep probability (timm's drop_path). */
export function dropPath(x: Tensor, dropProb: number, training: boolean, scaleByKeep = true): Tensor {
  if (dropProb === 0 || !training) return x;
  const keepProb = 1 - dropProb;
  const shape = [x.size(0), ...Array(x.ndim - 1).fill(1)];
  const r = noGrad(() => {
    const t = empty(shape, { dtype: x.dtype, device: x.device }).bernoulli_(keepProb);
    return keepProb > 0 && scaleByKeep ? t.div_(keepProb) : t;
  });
  const y = x.mul(r);
  r.dispose(); // not left for tidy/GC: autograd holds its own reference to the mask
  return y;
}

export class DropPath extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly dropProb = 0, readonly scaleByKeep = true) { super(); }
  forward(x: Tensor): Tensor { return dropPath(x, this.dropProb, this.training, this.scaleByKeep); }
}

/** Children named 0, 1, 2, … run in order; the context is passed to each. */
export class Sequential extends Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(...mods: Module[]) {
    super();
    mods.forEach((m, i) => this.registerModule(String(i), m));
  }
  get length(): number { return this.children().length; }
  at(i: number): Module { return this.children()[i < 0 ? i + this.length : i]; }
  append(m: Module): this { this.registerModule(String(this.length), m); return this; }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    for (const m of this.children()) x = m.forward(x, ctx);
    return x;
  }
}

export class ModuleList<M extends Module = Module> extends Module<never[], never> {
  constructor(mods: M[] = []) { super(); mods.forEach((m) => this.append(m)); }
  get length(): number { return this.children().length; }
  at(i: number): M { return this.children()[i < 0 ? i + this.length : i] as M; }
  append(m: M): this { this.registerModule(String(this.length), m); return this; }
  [Symbol.iterator](): Iterator<M> { return (this.children() as M[])[Symbol.iterator](); }
  forward(): never { throw new Error('ModuleList is a container; call its members'); }
}

export class ParameterList extends Module<never[], never> {
  #n = 0;
  constructor(params: Tensor[] = []) { super(); params.forEach((p) => this.append(p)); }
  append(p: Tensor): this { this.registerParameter(String(this.#n++), p); return this; }
  get length(): number { return this.#n; }
  at(i: number): Tensor { return this.getParameter(String(i < 0 ? i + this.#n : i))!; }
  [Symbol.iterator](): Iterator<Tensor> { return this.parameters(false)[Symbol.iterator](); }
  forward(): never { throw new Error('ParameterList is a container'); }
}
