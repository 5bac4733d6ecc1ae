// Sparse execution: the explicit context that carries the current mask through an encoder.
// Layers consult ctx.mask(h, w) (src/torch/nn/layers.ts): convs and pools mask their outputs,
// BatchNorm/LayerNorm normalise over visible positions only. This equals submanifold sparse conv.
import type { Tensor } from '../torch/index.js';
import type { ForwardContext } from '../torch/nn/index.js';
import { expandMask } from './mask.js';

/** A context for one forward pass; expanded masks are cached per resolution. */
export function sparseContext(active: Tensor): ForwardContext {
  const cache = new Map<string, Tensor>();
  return {
    mask(h: number, w: number): Tensor {
      const key = `${h}x${w}`;
      let m = cache.get(key);
      if (!m) { m = expandMask(active, h, w); cache.set(key, m); }
      return m;
    },
  };
}
