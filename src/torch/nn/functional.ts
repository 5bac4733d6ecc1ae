// torch.nn.functional with keyword-style options objects over the generated positional ops.
import type { Tensor } from '../tensor.js';
import * as ops from '../generated/ops.js';
import type { ForwardContext } from './module.js';
import * as masked from './masked.js';

type Pair = number | [number, number];
export type Reduction = 'none' | 'mean' | 'sum';
const REDUCTION: Record<Reduction, number> = { none: 0, mean: 1, sum: 2 };

export const relu = (x: Tensor): Tensor => x.relu();
export const relu6 = (x: Tensor): Tensor => x.relu6();
export const silu = (x: Tensor): Tensor => x.silu();
export const sigmoid = (x: Tensor): Tensor => x.sigmoid();
export const gelu = (x: Tensor, o: { approximate?: 'none' | 'tanh' } = {}): Tensor => x.gelu(o.approximate ?? 'none');
export const softmax = (x: Tensor, dim: number): Tensor => x.softmax(dim);
export const logSoftmax = (x: Tensor, dim: number): Tensor => x.logSoftmax(dim);
export const linear = (x: Tensor, w: Tensor, b: Tensor | null = null): Tensor => ops.linear(x, w, b);
export const dropout = (x: Tensor, p = 0.5, training = true): Tensor => ops.dropout(x, p, training);

export function conv2d(x: Tensor, w: Tensor, b: Tensor | null = null, o: { stride?: Pair; padding?: Pair; dilation?: Pair; groups?: number } = {}): Tensor {
  return ops.conv2d(x, w, b, o.stride ?? 1, o.padding ?? 0, o.dilation ?? 1, o.groups ?? 1);
}
export function convTranspose2d(x: Tensor, w: Tensor, b: Tensor | null = null,
  o: { stride?: Pair; padding?: Pair; outputPadding?: Pair; groups?: number; dilation?: Pair } = {}): Tensor {
  return ops.convTranspose2d(x, w, b, o.stride ?? 1, o.padding ?? 0, o.outputPadding ?? 0, o.groups ?? 1, o.dilation ?? 1);
}
export function maxPool2d(x: Tensor, kernelSize: Pair, o: { stride?: Pair; padding?: Pair; dilation?: Pair; ceilMode?: boolean } = {}): Tensor {
  return ops.maxPool2d(x, kernelSize, o.stride ?? kernelSize, o.padding ?? 0, o.dilation ?? 1, o.ceilMode ?? false);
}
export function avgPool2d(x: Tensor, kernelSize: Pair, o: { stride?: Pair; padding?: Pair; ceilMode?: boolean; countIncludePad?: boolean; divisorOverride?: number } = {}): Tensor {
  return ops.avgPool2d(x, kernelSize, o.stride ?? kernelSize, o.padding ?? 0, o.ceilMode ?? false, o.countIncludePad ?? true, o.divisorOverride ?? null);
}
/** With a mask context: the average of each bin's visible positions (masked.ts). */
export function adaptiveAvgPool2d(x: Tensor, size: Pair, ctx?: ForwardContext): Tensor {
  return ctx?.mask ? masked.maskedAdaptiveAvgPool2d(x, ctx.mask(x.size(2), x.size(3)), size) : ops.adaptiveAvgPool2d(x, size);
}
/** With a mask context: the max of each bin's visible positions (masked.ts). */
export function adaptiveMaxPool2d(x: Tensor, size: Pair, ctx?: ForwardContext): Tensor {
  return ctx?.mask ? masked.maskedAdaptiveMaxPool2d(x, ctx.mask(x.size(2), x.size(3)), size) : masked.adaptiveMaxPool2d(x, size);
}

export function batchNorm(x: Tensor, runningMean: Tensor | null, runningVar: Tensor | null,
  o: { weight?: Tensor | null; bias?: Tensor | null; training?: boolean; momentum?: number; eps?: number } = {}): Tensor {
  return ops.batchNorm(x, o.weight ?? null, o.bias ?? null, runningMean, runningVar, o.training ?? false, o.momentum ?? 0.1, o.eps ?? 1e-5);
}
export function layerNorm(x: Tensor, normalizedShape: number[], o: { weight?: Tensor | null; bias?: Tensor | null; eps?: number } = {}): Tensor {
  return ops.layerNorm(x, normalizedShape, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
}
/** With a mask context: statistics over each sample's visible positions, masked positions 0 (masked.ts). */
export function groupNorm(x: Tensor, numGroups: number, o: { weight?: Tensor | null; bias?: Tensor | null; eps?: number; ctx?: ForwardContext } = {}): Tensor {
  if (o.ctx?.mask) return masked.maskedGroupNorm(x, o.ctx.mask(x.size(2), x.size(3)), numGroups, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
  return ops.groupNorm(x, numGroups, o.weight ?? null, o.bias ?? null, o.eps ?? 1e-5);
}

/** Class indices (int64) or class probabilities (same shape as input) as target, like PyTorch. */
export function crossEntropy(input: Tensor, target: Tensor,
  o: { weight?: Tensor | null; reduction?: Reduction; ignoreIndex?: number; labelSmoothing?: number } = {}): Tensor {
  return ops.crossEntropyLoss(input, target, o.weight ?? null, REDUCTION[o.reduction ?? 'mean'], o.ignoreIndex ?? -100, o.labelSmoothing ?? 0);
}
export function mseLoss(input: Tensor, target: Tensor, o: { reduction?: Reduction } = {}): Tensor {
  return ops.mseLoss(input, target, REDUCTION[o.reduction ?? 'mean']);
}

export interface InterpolateOptions {
  size?: Pair; scaleFactor?: number | [number, number]; mode?: 'nearest' | 'bilinear' | 'bicubic';
  alignCorners?: boolean; recomputeScaleFactor?: boolean;
  /** A mask context (inside a sparse encoder): interpolation over visible positions, output masked. */
  ctx?: ForwardContext;
}

/**
 * F.interpolate for 4-D inputs: nearest, bilinear, bicubic; by size or scale factor.
 * As in PyTorch, a scale factor s gives the size floor(in·s) and, unless recomputeScaleFactor, the
 * kernel maps destination to source with 1/s (not in/out): the two differ when in·s is fractional.
 * With a mask context (nearest, bilinear): the normalised interpolation of masked.ts maskedResize.
 */
export function interpolate(x: Tensor, o: InterpolateOptions): Tensor {
  if (o.ctx?.mask) {
    const ctx = o.ctx as Required<Pick<ForwardContext, 'mask'>>;
    if (o.mode === 'bicubic') throw new Error("interpolate: mode 'bicubic' has no sparse form (it reads across the edge of the visible region); use 'nearest' or 'bilinear' inside a sparse encoder");
    const { ctx: _, ...dense } = o;
    let outMask: Tensor | null = null;
    return masked.maskedResize(x, ctx.mask(x.size(2), x.size(3)), (t) => {
      const y = interpolate(t, dense);
      outMask ??= ctx.mask(y.size(2), y.size(3));
      return y;
    }, () => outMask!);
  }
  if (x.ndim !== 4) throw new Error(`interpolate: expected a 4-D (N,C,H,W) input, got [${x.shape}]`);
  const mode = o.mode ?? 'nearest';
  if (mode === 'nearest' && o.alignCorners !== undefined) {
    throw new Error('interpolate: alignCorners can only be set with the interpolating modes (bilinear, bicubic)');
  }
  if ((o.size === undefined) === (o.scaleFactor === undefined)) throw new Error('interpolate: give either size or scaleFactor, not both');
  let size: [number, number];
  let scales: [number | null, number | null] = [null, null];
  if (o.size !== undefined) {
    size = typeof o.size === 'number' ? [o.size, o.size] : o.size;
  } else {
    const sf = typeof o.scaleFactor === 'number' ? [o.scaleFactor, o.scaleFactor] : o.scaleFactor!;
    size = [Math.floor(x.size(2) * sf[0]), Math.floor(x.size(3) * sf[1])];
    if (!o.recomputeScaleFactor) scales = [sf[0], sf[1]];
  }
  switch (mode) {
    case 'nearest': return ops.upsampleNearest2d(x, size, ...scales);
    case 'bilinear': return ops.upsampleBilinear2d(x, size, o.alignCorners ?? false, ...scales);
    case 'bicubic': return ops.upsampleBicubic2d(x, size, o.alignCorners ?? false, ...scales);
  }
}

/** F.pad: pad = [left, right, top, bottom, ...] (last dim first). */
export function pad(x: Tensor, padding: number[], o: { mode?: 'constant' | 'reflect' | 'replicate'; value?: number } = {}): Tensor {
  switch (o.mode ?? 'constant') {
    case 'constant': return ops.constantPadNd(x, padding, o.value ?? 0);
    case 'reflect': return ops.reflectionPad2d(x, padding);
    case 'replicate': return ops.replicationPad2d(x, padding);
  }
}
