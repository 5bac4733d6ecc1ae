// Statistics, pooling and interpolation over the visible positions of a mask: the sparse forms of
// the layers whose output depends on more than one position (GroupNorm, InstanceNorm2d, adaptive and
// global pooling, interpolation). `mask` is bool (N,1,H,W) at the map's resolution, true = visible.
// Each form equals its dense layer run on the visible region alone when that region is one
// rectangle (the crop test, test/spark/crop.test.ts); masked positions of a spatial output are 0.
import type { Tensor } from '../tensor.js';
import * as ops from '../generated/ops.js';
import { tidy } from '../memory.js';

type Pair = number | [number, number];
const pair = (v: Pair): [number, number] => (typeof v === 'number' ? [v, v] : v);

/** The mask as 0/1 in x's dtype, checked against x's batch and spatial size. */
function weightsOf(x: Tensor, mask: Tensor): Tensor {
  const [n, , h, w] = x.shape;
  const s = mask.shape;
  if (s.length !== 4 || s[0] !== n || s[1] !== 1 || s[2] !== h || s[3] !== w) {
    throw new Error(`mask [${s}] does not match the feature map [${x.shape}] (expected [${n},1,${h},${w}])`);
  }
  return mask.to({ dtype: x.dtype });
}

export interface MaskedMoments {
  /** (N, G, 1, 1): the mean over the visible positions of each sample's group */
  mean: Tensor;
  /** (N, G, 1, 1): the biased variance over the same positions */
  variance: Tensor;
  /** (N, 1, 1, 1): visible positions per sample (the element count per group is this × C/G) */
  count: Tensor;
  /** (N, G, C/G·H·W): x − mean, 0 at masked positions */
  centered: Tensor;
}

/**
 * Per-sample moments of x (N,C,H,W) over the channels of each of `groups` groups and the visible
 * positions (two passes: the mean, then the mean squared deviation, as ATen's group norm). A sample
 * with no visible position gets mean 0 and variance 0 (an empty sum over a count clamped to 1).
 */
export function maskedMoments(x: Tensor, mask: Tensor, groups: number): MaskedMoments {
  const [n, c, h, w] = x.shape;
  return tidy(() => {
    const m = weightsOf(x, mask).view([n, 1, 1, h * w]);
    const xg = x.view([n, groups, c / groups, h * w]);
    const count = m.sum([3], true);                                    // (N,1,1,1)
    const per = count.mul(c / groups).clamp(1);
    const mean = xg.mul(m).sum([2, 3], true).div(per);                // (N,G,1,1)
    const centered = xg.sub(mean).mul(m);
    const variance = centered.square().sum([2, 3], true).div(per);
    return { mean, variance, count, centered: centered.view([n, groups, -1]) };
  });
}

/**
 * GroupNorm over visible positions: each sample's groups are normalised with the moments of their
 * visible positions; masked positions come out 0. An all-masked sample comes out all 0.
 */
export function maskedGroupNorm(x: Tensor, mask: Tensor, groups: number, weight: Tensor | null, bias: Tensor | null, eps: number): Tensor {
  const [n, c, h, w] = x.shape;
  return tidy(() => {
    const { variance, centered } = maskedMoments(x, mask, groups);
    let y = centered.view([n, groups, c / groups, h * w]).mul(variance.add(eps).rsqrt()).view([n, c, h, w]);
    if (weight) y = y.mul(weight.view([1, c, 1, 1]));
    if (bias) y = y.add(bias.view([1, c, 1, 1]));
    return y.mul(weightsOf(x, mask));
  });
}

/**
 * Global average over visible positions, (N,C,1,1). A sample with no visible position pools to 0
 * (its sum is empty; the count is clamped to 1): a defined value, no NaN and no device sync.
 */
export function maskedGlobalAvgPool(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => {
    const m = weightsOf(x, mask);
    return x.mul(m).sum([2, 3], true).div(m.sum([2, 3], true).clamp(1));
  });
}

/** Global max over visible positions, (N,C,1,1); a sample with no visible position pools to 0. */
export function maskedGlobalMaxPool(x: Tensor, mask: Tensor): Tensor {
  return tidy(() => {
    weightsOf(x, mask);
    const any = mask.amax([2, 3], true);
    return ops.where(any, x.maskedFill(mask.logicalNot(), -Infinity).amax([2, 3], true), 0);
  });
}

/** PyTorch's adaptive pooling bins along one axis: [floor(i·in/out), ceil((i+1)·in/out)). */
export function adaptiveBins(inSize: number, outSize: number): [number, number][] {
  return Array.from({ length: outSize }, (_, i) => [Math.floor(i * inSize / outSize), Math.ceil((i + 1) * inSize / outSize)]);
}

/**
 * Dense adaptive max pooling from its bins (libtorch's adaptive_max_pool2d is not in the op table):
 * the max of each bin; the global case is one amax. On ties the gradient is shared among the tied
 * positions (amax's rule) where ATen's kernel gives it to one of them.
 */
export function adaptiveMaxPool2d(x: Tensor, outputSize: Pair): Tensor {
  if (x.ndim !== 4) throw new Error(`adaptiveMaxPool2d: expected a 4-D (N,C,H,W) input, got [${x.shape}]`);
  const [oh, ow] = pair(outputSize);
  if (oh === 1 && ow === 1) return x.amax([2, 3], true);
  return tidy(() => {
    const rows = adaptiveBins(x.size(2), oh).map(([h0, h1]) => {
      const band = x.narrow(2, h0, h1 - h0);
      return ops.cat(adaptiveBins(x.size(3), ow).map(([w0, w1]) => band.narrow(3, w0, w1 - w0).amax([2, 3], true)), 3);
    });
    return ops.cat(rows, 2);
  });
}

/**
 * Adaptive average pooling over visible positions: each bin averages its visible positions; a bin
 * with none gives 0. (As a ratio of two dense poolings: the bin sizes cancel.)
 */
export function maskedAdaptiveAvgPool2d(x: Tensor, mask: Tensor, outputSize: Pair): Tensor {
  const [oh, ow] = pair(outputSize);
  if (oh === 1 && ow === 1) return maskedGlobalAvgPool(x, mask);
  return tidy(() => {
    const m = weightsOf(x, mask);
    const num = ops.adaptiveAvgPool2d(x.mul(m), [oh, ow]);
    const den = ops.adaptiveAvgPool2d(m, [oh, ow]);
    // the unselected branch is divided by a clamped count: where() still sends it a zero gradient,
    // and 0/0 there would be NaN
    return ops.where(den.gt(0), num.div(den.clamp(1e-12)), 0);
  });
}

/** Adaptive max pooling over visible positions; a bin with none gives 0. */
export function maskedAdaptiveMaxPool2d(x: Tensor, mask: Tensor, outputSize: Pair): Tensor {
  const [oh, ow] = pair(outputSize);
  if (oh === 1 && ow === 1) return maskedGlobalMaxPool(x, mask);
  return tidy(() => {
    const m = weightsOf(x, mask);
    const any = ops.adaptiveAvgPool2d(m, [oh, ow]).gt(0);
    return ops.where(any, adaptiveMaxPool2d(x.maskedFill(mask.logicalNot(), -Infinity), [oh, ow]), 0);
  });
}

/**
 * Interpolation over visible positions, for an interpolating resize `resize` (nearest or bilinear):
 * the resized masked map divided by the resized mask (normalised interpolation), so each output
 * position mixes visible inputs only with their weights renormalised; then masked at the output
 * resolution (`outMaskOf()`, asked once the output size is known). On a rectangle of visible positions this is exactly the dense resize of
 * that rectangle with its edge-clamped borders (bilinear, align_corners false; nearest).
 */
export function maskedResize(x: Tensor, mask: Tensor, resize: (t: Tensor) => Tensor, outMaskOf: () => Tensor): Tensor {
  return tidy(() => {
    const m = weightsOf(x, mask);
    const num = resize(x.mul(m));
    const den = resize(m);
    const outMask = outMaskOf();
    const y = ops.where(den.gt(0), num.div(den.clamp(1e-12)), 0);
    return y.mul(weightsOf(y, outMask));
  });
}
