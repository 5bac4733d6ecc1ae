// torch.nn.utils.clip_grad_norm_ (PyTorch 1.13), op for op: the total norm of all gradients as one
// vector (the norm of the per-gradient norms), then every gradient times min(max_norm/(total + 1e-6), 1).
import type { Tensor } from '../tensor.js';
import { tidy } from '../memory.js';
import { noGrad } from '../autograd.js';
import { clamp, maxAll, norm, stack } from '../generated/ops.js';

export interface ClipGradNormOptions {
  /** throw when the total norm is NaN or infinite instead of scaling by it (PyTorch's error_if_nonfinite) */
  errorIfNonfinite?: boolean;
}

/**
 * Clip the gradients of params in place so that their joint normType-norm is at most maxNorm.
 * normType may be Infinity. Returns the total norm before clipping (0 when no param has a gradient).
 */
export function clipGradNorm(params: Tensor[] | Tensor, maxNorm: number, normType = 2, opts: ClipGradNormOptions = {}): number {
  if (typeof maxNorm !== 'number' || Number.isNaN(maxNorm)) throw new Error(`clipGradNorm: maxNorm must be a number, got ${maxNorm}`);
  const list = Array.isArray(params) ? params : [params];
  return noGrad(() => tidy(() => {
    const grads = list.map((p) => p.grad).filter((g): g is Tensor => g !== null);
    if (grads.length === 0) return 0;
    const device = grads[0].device;
    let total: Tensor;
    if (normType === Infinity) {
      const norms = grads.map((g) => moveTo(maxAll(g.abs()), device));
      total = norms.length === 1 ? norms[0] : maxAll(stack(norms));
    } else {
      total = norm(stack(grads.map((g) => moveTo(norm(g, normType), device))), normType);
    }
    const totalValue = total.item();
    if (opts.errorIfNonfinite && !Number.isFinite(totalValue)) {
      throw new Error(`clipGradNorm: the total norm of order ${normType} of the gradients is non-finite (${totalValue}), so it cannot be clipped; pass errorIfNonfinite: false to scale by it anyway`);
    }
    // Python's `max_norm / (total + 1e-6)` is (total + 1e-6).reciprocal() * max_norm
    const coef = clamp(total.add(1e-6).reciprocal().mul(maxNorm), null, 1.0);
    for (const g of grads) g.mul_(moveTo(coef, g.device));
    return totalValue;
  }));
}

function moveTo(t: Tensor, device: string): Tensor {
  return t.device === device ? t : t.to({ device });
}
