// Shared test helpers: leak checks, float64 gradient checks, closeness assertions, and where the
// repository and the shared fixtures are.
import { before, after } from 'node:test';
import assert from 'node:assert/strict';
import path from 'node:path';
import * as torch from '../src/torch/index.js';
import { repoRoot } from '../src/torch/repo.js';
import type { Tensor, NestedArray } from '../src/torch/index.js';

/**
 * Register `before`/`after` hooks that record torch.liveTensorCount() and assert it is back at its
 * start once every test of the file has run. Call once at the top level of a test file.
 * GC finalizers also lower the count (the safety net), so tests must release tensors deterministically
 * (tidy / dispose) for this check to mean anything; a leak shows up as a count above the start.
 */
export function checkNoLeaks(): void {
  let start = 0;
  before(() => { start = torch.liveTensorCount(); });
  after(() => {
    assert.equal(torch.liveTensorCount(), start, `tensor leak: ${torch.liveTensorCount() - start} native tensors still alive at the end of the file`);
  });
}

/** Flat list of numbers from a tensor, a (nested) array or a number. */
export function flat(v: Tensor | NestedArray | ArrayLike<number>): number[] {
  if (typeof v === 'number' || typeof v === 'boolean') return [Number(v)];
  if (v instanceof torch.Tensor) {
    const a = v.toArray();
    return Array.isArray(a) ? ((a as unknown[]).flat(Infinity) as (number | boolean)[]).map(Number) : [Number(a)];
  }
  if (Array.isArray(v)) return ((v as unknown[]).flat(Infinity) as (number | boolean)[]).map(Number);
  return Array.from(v as ArrayLike<number>);
}

export interface Tol { atol?: number; rtol?: number }

/**
 * assert |actual - expected| <= atol + rtol * |expected| element-wise (NaN equals NaN; infinities must
 * match exactly). When both are tensors their shapes must match too; a tensor against an array
 * compares the flattened values (and the shape when the array is nested).
 */
export function assertClose(actual: Tensor | NestedArray | ArrayLike<number>, expected: Tensor | NestedArray | ArrayLike<number>,
  tol: Tol = {}, what = ''): void {
  const atol = tol.atol ?? 1e-6, rtol = tol.rtol ?? 1e-5;
  const shapeOf = (v: unknown): number[] | null => {
    if (v instanceof torch.Tensor) return v.shape;
    if (Array.isArray(v)) { const s: number[] = []; let d: unknown = v; while (Array.isArray(d)) { s.push(d.length); d = d[0]; } return s; }
    return null;
  };
  const sa = shapeOf(actual), se = shapeOf(expected);
  if (sa && se && (actual instanceof torch.Tensor || (Array.isArray(actual) && Array.isArray((actual as unknown[])[0]))) &&
      (expected instanceof torch.Tensor || (Array.isArray(expected) && Array.isArray((expected as unknown[])[0])))) {
    assert.deepEqual(sa, se, `${what} shape [${sa}] != expected [${se}]`);
  }
  const a = flat(actual), e = flat(expected);
  assert.equal(a.length, e.length, `${what} has ${a.length} elements, expected ${e.length}`);
  for (let i = 0; i < a.length; i++) {
    const x = a[i], y = e[i];
    if (Number.isNaN(y) && Number.isNaN(x)) continue;
    if (!Number.isFinite(y) || !Number.isFinite(x)) {
      assert.equal(x, y, `${what} element ${i}: ${x} != ${y}`);
      continue;
    }
    if (!(Math.abs(x - y) <= atol + rtol * Math.abs(y))) {
      assert.fail(`${what} element ${i}: ${x} vs expected ${y} (|diff| ${Math.abs(x - y).toExponential(3)} > atol ${atol} + rtol ${rtol}·|expected|)` +
        `\n actual:   [${a.slice(0, 16).join(', ')}${a.length > 16 ? ', …' : ''}]\n expected: [${e.slice(0, 16).join(', ')}${e.length > 16 ? ', …' : ''}]`);
    }
  }
}

export interface GradcheckOptions { eps?: number; atol?: number; rtol?: number; seed?: number }

/**
 * Compare autograd with central finite differences in float64.
 * `fn(...inputs)` returns one tensor y. Every input that requires grad is checked element by element:
 * with a fixed random cotangent w (same shape as y), the autograd gradient of sum(y·w) must equal
 * (f(x+eps) - f(x-eps)) / 2eps of the same scalar. That checks the full vector-Jacobian product for
 * one random w, which catches wrong formulas, wrong indices and missing terms alike.
 * Inputs that do not require grad (indices, masks) are passed through unchanged.
 * The inputs are not modified: perturbed copies are built as fresh tensors.
 */
export function gradcheck(fn: (...xs: Tensor[]) => Tensor, inputs: Tensor[], o: GradcheckOptions = {}): void {
  const eps = o.eps ?? 1e-6, atol = o.atol ?? 1e-5, rtol = o.rtol ?? 1e-3;
  torch.tidy(() => {
    const checked = inputs.map((x) => x.requiresGrad);
    assert.ok(checked.some(Boolean), 'gradcheck: no input requires grad');
    for (const [i, x] of inputs.entries()) {
      if (checked[i]) assert.equal(x.dtype, 'float64', `gradcheck: input ${i} must be float64, got ${x.dtype}`);
    }
    const y0 = fn(...inputs);
    assert.equal(y0.dtype, 'float64', `gradcheck: the output must be float64, got ${y0.dtype}`);
    const w = torch.randn(y0.shape, { dtype: 'float64', generator: new torch.Generator(o.seed ?? 20240607) });
    const scalar = (y: Tensor): Tensor => y.mul(w).sum();

    for (const [i, x] of inputs.entries()) if (checked[i]) x.grad = null;
    scalar(y0).backward();
    const analytic = inputs.map((x, i) => {
      if (!checked[i]) return null;
      const g = x.grad;
      return g === null ? new Float64Array(x.numel) : Float64Array.from(flat(g));
    });
    for (const [i, x] of inputs.entries()) if (checked[i]) x.grad = null;

    // The finite differences are hundreds of tiny float64 evaluations: run them on one intra-op
    // thread. Waking a second OpenMP thread costs more than the work, and on a loaded machine a
    // parallel region (batch_norm's is one even for 8 elements) can wait a whole scheduler slice.
    const threads = torch.getNumThreads();
    torch.setNumThreads(1);
    try { torch.noGrad(() => {
      for (const [i, x] of inputs.entries()) {
        if (!checked[i]) continue;
        const base = Float64Array.from(flat(x));
        const evalAt = (k: number, delta: number): number => torch.tidy(() => {
          const d = base.slice();
          d[k] += delta;
          const xs = inputs.slice();
          xs[i] = torch.tensor(d, { dtype: 'float64', shape: x.shape });
          return scalar(fn(...xs)).item();
        });
        for (let k = 0; k < base.length; k++) {
          const numeric = (evalAt(k, eps) - evalAt(k, -eps)) / (2 * eps);
          const a = analytic[i]![k];
          if (!(Math.abs(a - numeric) <= atol + rtol * Math.abs(numeric))) {
            assert.fail(`gradcheck: input ${i} [${x.shape}] element ${k}: autograd ${a} vs finite difference ${numeric}`);
          }
        }
      }
    }); } finally { torch.setNumThreads(threads); }
  });
}

/** A float64 leaf tensor with requiresGrad, filled from a seeded normal distribution (scaled). */
export function randLeaf(shape: number[], seed: number, scale = 1): Tensor {
  return torch.tidy(() => {
    const t = torch.randn(shape, { dtype: 'float64', generator: new torch.Generator(seed) }).mul(scale);
    t.requiresGrad = true;
    return t;
  });
}

export { repoRoot } from '../src/torch/repo.js';
export { PYTHON, pythonHas, pythonWithTorch, runPython } from './python.js';

/** The shared read-only fixtures: $SPARKTS_SHARED, else ../shared beside the repository. */
export function sharedDir(): string {
  return process.env.SPARKTS_SHARED ?? path.resolve(repoRoot(), '../shared');
}

/** A file of the reference's golden fixtures (shared/golden/README.md). */
export function goldenPath(name: string): string {
  return path.join(sharedDir(), 'golden', name);
}
