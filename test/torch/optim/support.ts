// Helpers of the optimizer tests: float64 leaf params from plain arrays, setting gradients, reading
// values back — and the expected optimizer math written in plain JS over number arrays, independent of
// the tensor code (no tensor op is used to compute an expected value).
import * as torch from '../../../src/torch/index.js';
import type { Tensor } from '../../../src/torch/index.js';
import { flat, pythonWithTorch, runPython } from '../../helpers.js';

/** A float64 leaf parameter (requires grad, kept: dispose it at the end of the test). */
export function param(values: number[], shape: number[] = [values.length]): Tensor {
  return torch.tensor(values, { dtype: 'float64', shape }).requiresGrad_(true).keep();
}

/** Set p.grad for each param (null leaves the param without a gradient). */
export function setGrads(params: Tensor[], grads: (number[] | null)[]): void {
  params.forEach((p, i) => {
    const g = grads[i];
    if (g === null) { p.grad = null; return; }
    const t = torch.tensor(g, { dtype: p.dtype, shape: p.shape });
    p.grad = t;
    t.dispose();
  });
}

export function values(t: Tensor): number[] { return flat(t); }

export function gradValues(p: Tensor): number[] | null {
  const g = p.grad;
  if (!g) return null;
  const v = flat(g);
  g.dispose();
  return v;
}

const norm2 = (xs: number[]): number => Math.sqrt(xs.reduce((a, x) => a + x * x, 0));

// ---------------------------------------------------------------------------------------------------
// torch.optim.SGD
export interface RefSGDGroup { params: number[][]; lr: number; momentum: number; dampening: number; weight_decay: number; nesterov: boolean; maximize: boolean; bufs: (number[] | undefined)[] }

/** One SGD step over plain arrays; grads[i][j] for group i, param j (null: no gradient). */
export function refSGDStep(groups: RefSGDGroup[], grads: (number[] | null)[][]): void {
  groups.forEach((g, gi) => g.params.forEach((p, j) => {
    const grad = grads[gi][j];
    if (!grad) return;
    let d = grad.map((x) => (g.maximize ? -x : x));
    if (g.weight_decay !== 0) d = d.map((x, k) => x + g.weight_decay * p[k]);
    if (g.momentum !== 0) {
      const buf = g.bufs[j];
      if (!buf) g.bufs[j] = d.slice();
      else buf.forEach((b, k) => { buf[k] = g.momentum * b + (1 - g.dampening) * d[k]; });
      const b = g.bufs[j]!;
      d = g.nesterov ? d.map((x, k) => x + g.momentum * b[k]) : b.slice();
    }
    p.forEach((x, k) => { p[k] = x - g.lr * d[k]; });
  }));
}

// ---------------------------------------------------------------------------------------------------
// torch.optim.AdamW
export interface RefAdamWState { step: number; m: number[]; v: number[]; vmax: number[] }
export interface RefAdamWGroup { params: number[][]; lr: number; betas: [number, number]; eps: number; weight_decay: number; amsgrad: boolean; maximize: boolean; state: (RefAdamWState | undefined)[] }

export function refAdamWStep(groups: RefAdamWGroup[], grads: (number[] | null)[][]): void {
  groups.forEach((g, gi) => g.params.forEach((p, j) => {
    const g0 = grads[gi][j];
    if (!g0) return;
    const grad = g0.map((x) => (g.maximize ? -x : x));
    const s = (g.state[j] ??= { step: 0, m: p.map(() => 0), v: p.map(() => 0), vmax: p.map(() => 0) });
    s.step += 1;
    const [b1, b2] = g.betas;
    p.forEach((x, k) => { p[k] = x * (1 - g.lr * g.weight_decay); });
    grad.forEach((x, k) => {
      s.m[k] = b1 * s.m[k] + (1 - b1) * x;
      s.v[k] = b2 * s.v[k] + (1 - b2) * x * x;
    });
    const bc1 = 1 - b1 ** s.step, bc2 = 1 - b2 ** s.step;
    p.forEach((x, k) => {
      if (g.amsgrad) s.vmax[k] = Math.max(s.vmax[k], s.v[k]);
      const denom = Math.sqrt(g.amsgrad ? s.vmax[k] : s.v[k]) / Math.sqrt(bc2) + g.eps;
      p[k] = x - (g.lr / bc1) * (s.m[k] / denom);
    });
  }));
}

// ---------------------------------------------------------------------------------------------------
// The reference's LAMB (SparK utils/lamb.py TheSameAsTimmLAMB)
export interface RefLambGroup {
  params: number[][]; lr: number; weight_decay: number; betas: [number, number]; eps: number;
  bias_correction: boolean; grad_averaging: boolean; trust_clip: boolean; always_adapt: boolean;
  step?: number; m: (number[] | undefined)[]; v: (number[] | undefined)[];
}

/**
 * One LAMB step. grads are clipped IN PLACE (as the reference clips p.grad). Returns the global
 * gradient norm before clipping.
 */
export function refLambStep(groups: RefLambGroup[], grads: (number[] | null)[][], maxGradNorm: number): number {
  const all = grads.flat().filter((g): g is number[] => g !== null).flat();
  const globalNorm = norm2(all);
  const clip = 1 / (globalNorm > maxGradNorm ? globalNorm / maxGradNorm : 1);
  groups.forEach((g, gi) => {
    g.step = (g.step ?? 0) + 1;
    const [b1, b2] = g.betas;
    const b3 = g.grad_averaging ? 1 - b1 : 1;
    const bc1 = g.bias_correction ? 1 - b1 ** g.step : 1;
    const bc2 = g.bias_correction ? 1 - b2 ** g.step : 1;
    g.params.forEach((p, j) => {
      const grad = grads[gi][j];
      if (!grad) return;
      grad.forEach((x, k) => { grad[k] = x * clip; });
      const m = (g.m[j] ??= p.map(() => 0));
      const v = (g.v[j] ??= p.map(() => 0));
      grad.forEach((x, k) => { m[k] = b1 * m[k] + b3 * x; v[k] = b2 * v[k] + (1 - b2) * x * x; });
      const update = p.map((x, k) => (m[k] / bc1) / (Math.sqrt(v[k]) / Math.sqrt(bc2) + g.eps) + (g.weight_decay !== 0 ? g.weight_decay * x : 0));
      let ratio = 1;
      if (g.weight_decay !== 0 || g.always_adapt) {
        const w = norm2(p), u = norm2(update);
        ratio = w > 0 && u > 0 ? w / u : 1;
        if (g.trust_clip) ratio = Math.min(ratio, 1);
      }
      p.forEach((x, k) => { p[k] = x - g.lr * update[k] * ratio; });
    });
  });
  return globalNorm;
}

/** Deterministic pseudo-random numbers in [-scale, scale) (a tiny LCG, so tests need no tensor RNG). */
export function seq(n: number, seed: number, scale = 1): number[] {
  let s = seed >>> 0;
  return Array.from({ length: n }, () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return (s / 2 ** 32 * 2 - 1) * scale;
  });
}

export const F64 = { atol: 1e-13, rtol: 1e-11 };

// ---------------------------------------------------------------------------------------------------
// Python interop (only where Python has torch; those tests skip otherwise)
/**
 * Run a Python script with arguments. Returns null when Python or its torch is missing (the caller
 * skips); throws with stderr on any other failure.
 */
export function runPythonTorch(script: string, args: string[]): string | null {
  return pythonWithTorch() ? runPython(script, args) : null;
}
