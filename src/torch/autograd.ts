// Autograd entry points. The graph, the backward formulas and gradient accumulation are libtorch's.
import { native } from './native.js';
import type { Tensor } from './tensor.js';

/** Run fn with gradient recording off (like torch.no_grad). */
export function noGrad<T>(fn: () => T): T { return withGradMode(false, fn); }
/** Run fn with gradient recording on, e.g. inside a noGrad block. */
export function enableGrad<T>(fn: () => T): T { return withGradMode(true, fn); }
export function isGradEnabled(): boolean { return native.isGradEnabled(); }

function withGradMode<T>(on: boolean, fn: () => T): T {
  const prev = native.setGradEnabled(on);
  try {
    const r = fn();
    if (r instanceof Promise) throw new Error('noGrad/enableGrad take a synchronous function');
    return r;
  } finally {
    native.setGradEnabled(prev);
  }
}

/** Backpropagate from several roots at once (torch.autograd.backward). */
export function backward(tensors: Tensor[], gradients: Tensor[] | null = null, opts: { retainGraph?: boolean; createGraph?: boolean } = {}): void {
  native.backward(tensors.map((t) => t.handle), gradients ? gradients.map((g) => g.handle) : null,
    opts.retainGraph ?? !!opts.createGraph, opts.createGraph ?? false);
}
