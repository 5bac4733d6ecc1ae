// Parameter initialisation, numerically as torch.nn.init (same formulas, same order of RNG draws).
import type { Tensor } from '../tensor.js';
import { tensor } from '../tensor.js';
import { noGrad } from '../autograd.js';
import type { Generator } from '../random.js';

export function calculateFanInAndFanOut(t: Tensor): [number, number] {
  const s = t.shape;
  if (s.length < 2) throw new Error(`fan in/out needs a tensor with at least 2 dims, got [${s}]`);
  const receptive = s.slice(2).reduce((a, b) => a * b, 1);
  return [s[1] * receptive, s[0] * receptive];
}

export type Nonlinearity = 'linear' | 'conv2d' | 'sigmoid' | 'tanh' | 'relu' | 'leaky_relu' | 'selu';

export function calculateGain(nonlinearity: Nonlinearity, param?: number): number {
  switch (nonlinearity) {
    case 'linear': case 'conv2d': case 'sigmoid': return 1;
    case 'tanh': return 5 / 3;
    case 'relu': return Math.SQRT2;
    case 'leaky_relu': { const a = param ?? 0.01; return Math.sqrt(2 / (1 + a * a)); }
    case 'selu': return 3 / 4;
  }
}

function fan(t: Tensor, mode: 'fan_in' | 'fan_out'): number {
  const [i, o] = calculateFanInAndFanOut(t);
  return mode === 'fan_in' ? i : o;
}

type G = { generator?: Generator | null };

export function uniform_(t: Tensor, a = 0, b = 1, o: G = {}): Tensor { return noGrad(() => t.uniform_(a, b, o.generator ?? null)); }
export function normal_(t: Tensor, mean = 0, std = 1, o: G = {}): Tensor { return noGrad(() => t.normal_(mean, std, o.generator ?? null)); }
export function constant_(t: Tensor, v: number): Tensor { return noGrad(() => t.fill_(v)); }
export function zeros_(t: Tensor): Tensor { return noGrad(() => t.zero_()); }
export function ones_(t: Tensor): Tensor { return noGrad(() => t.fill_(1)); }

export function kaimingUniform_(t: Tensor, o: G & { a?: number; mode?: 'fan_in' | 'fan_out'; nonlinearity?: Nonlinearity } = {}): Tensor {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  const bound = Math.sqrt(3) * std;
  return uniform_(t, -bound, bound, o);
}

export function kaimingNormal_(t: Tensor, o: G & { a?: number; mode?: 'fan_in' | 'fan_out'; nonlinearity?: Nonlinearity } = {}): Tensor {
  const std = calculateGain(o.nonlinearity ?? 'leaky_relu', o.a ?? 0) / Math.sqrt(fan(t, o.mode ?? 'fan_in'));
  return normal_(t, 0, std, o);
}

export function xavierUniform_(t: Tensor, o: G & { gain?: number } = {}): Tensor {
  const [i, f] = calculateFanInAndFanOut(t);
  const a = (o.gain ?? 1) * Math.sqrt(6 / (i + f));
  return uniform_(t, -a, a, o);
}

export function xavierNormal_(t: Tensor, o: G & { gain?: number } = {}): Tensor {
  const [i, f] = calculateFanInAndFanOut(t);
  return normal_(t, 0, (o.gain ?? 1) * Math.sqrt(2 / (i + f)), o);
}

function erf(x: number): number {
  // libtorch's own erf in float64: JS has no Math.erf.
  const t = tensor([x], { dtype: 'float64' });
  const r = t.erf();
  const v = r.item();
  t.dispose(); r.dispose();
  return v;
}

/** Truncated normal on [a, b] by inverse-CDF sampling, exactly as torch.nn.init.trunc_normal_ / timm. */
export function truncNormal_(t: Tensor, o: G & { mean?: number; std?: number; a?: number; b?: number } = {}): Tensor {
  const mean = o.mean ?? 0, std = o.std ?? 1, a = o.a ?? -2, b = o.b ?? 2;
  const normCdf = (x: number): number => (1 + erf(x / Math.SQRT2)) / 2;
  const l = normCdf((a - mean) / std), u = normCdf((b - mean) / std);
  return noGrad(() => {
    t.uniform_(2 * l - 1, 2 * u - 1, o.generator ?? null);
    t.erfinv_();
    t.mul_(std * Math.SQRT2);
    t.add_(mean);
    t.clamp_(a, b);
    return t;
  });
}

let defaultInitSkips = 0;

/**
 * Build layers inside `fn` without their default (PyTorch reset_parameters) init: Linear and Conv
 * weights stay as torch.empty left them, uninitialised and untouched (so their pages are never
 * written). For models whose parameter names and shapes are all a caller needs (the layer-decay
 * tables of `spark verify`); never for training.
 */
export function withoutDefaultInit<T>(fn: () => T): T {
  defaultInitSkips++;
  try { return fn(); } finally { defaultInitSkips--; }
}

/** Whether layers being built now skip their default init (see withoutDefaultInit). */
export function defaultInitSkipped(): boolean { return defaultInitSkips > 0; }
