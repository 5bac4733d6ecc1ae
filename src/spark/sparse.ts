// Sparse execution: the explicit context that carries the current mask through an encoder.
// Layers consult ctx.mask(h, w) (src/torch/nn/layers.ts): convs and pools mask their outputs,
// norms normalise over visible positions only, pooling and interpolation read visible positions
// only. This equals submanifold sparse conv (test/spark/crop.test.ts). A layer without a sparse
// form refuses the context with an error naming its module path, which ctx.pathOf supplies.
import type { Tensor } from '../torch/index.js';
import type { ForwardContext, Module } from '../torch/nn/index.js';
import { expandMask } from './mask.js';

export interface SparseContextOptions {
  /** The model being run (an encoder, a SparseEncoder, SparK): error messages name module paths in it. */
  root?: Module;
}

/** A context for one forward pass; expanded masks are cached per resolution. */
export function sparseContext(active: Tensor, o: SparseContextOptions = {}): ForwardContext {
  const cache = new Map<string, Tensor>();
  const ctx: ForwardContext = {
    mask(h: number, w: number): Tensor {
      const key = `${h}x${w}`;
      let m = cache.get(key);
      if (!m) { m = expandMask(active, h, w); cache.set(key, m); }
      return m;
    },
  };
  return o.root ? withModulePaths(ctx, o.root) : ctx;
}

/** ctx (same masks) with pathOf answering for the modules of `root` (looked up only on an error). */
export function withModulePaths(ctx: ForwardContext, root: Module): ForwardContext {
  return {
    ...ctx,
    pathOf(m: Module): string | undefined {
      return root.namedModules().find(([, x]) => x === m)?.[0];
    },
  };
}
