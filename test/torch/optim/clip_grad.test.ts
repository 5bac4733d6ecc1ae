// clipGradNorm against torch.nn.utils.clip_grad_norm_'s formula in plain float64 JS.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../../helpers.js';
import { F64, gradValues, param, setGrads } from './support.js';

checkNoLeaks();
const { clipGradNorm } = torch.optim;

const G = [[3, -4, 1], [2, 0], [-6]];
const total2 = Math.sqrt(9 + 16 + 1 + 4 + 36);

test('clipGradNorm (L2): returns the total norm and scales every grad by max_norm / (total + 1e-6)', () => {
  const ps = [param([0, 0, 0]), param([0, 0]), param([0])];
  setGrads(ps, G);
  const total = clipGradNorm(ps, 2.0);
  assert.ok(Math.abs(total - total2) <= 1e-14 * total2, `${total} vs ${total2}`);
  const coef = 2.0 / (total2 + 1e-6);
  ps.forEach((p, i) => assertClose(gradValues(p)!, G[i].map((x) => x * coef), F64, `grad ${i}`));
  torch.dispose(ps);
});

test('clipGradNorm leaves gradients alone when the norm is below max_norm (coefficient clamped to 1)', () => {
  const ps = [param([0, 0, 0]), param([0, 0]), param([0])];
  setGrads(ps, G);
  const total = clipGradNorm(ps, 100);
  assert.ok(Math.abs(total - total2) <= 1e-14 * total2);
  ps.forEach((p, i) => assert.deepEqual(gradValues(p), G[i]));
  torch.dispose(ps);
});

test('clipGradNorm with normType Infinity and 1; params without grads are ignored', () => {
  const ps = [param([0, 0, 0]), param([0, 0]), param([0]), param([5])];
  setGrads(ps, [...G, null]);
  assert.equal(clipGradNorm(ps, 1e9, Infinity), 6);
  assert.equal(clipGradNorm(ps, 1e9, 1), 3 + 4 + 1 + 2 + 6);
  const total = clipGradNorm(ps, 3, Infinity);
  assert.equal(total, 6);
  assertClose(gradValues(ps[2])!, [-6 * 3 / (6 + 1e-6)], F64, 'inf-norm clipped');
  assert.equal(ps[3].grad, null);
  torch.dispose(ps);
});

test('clipGradNorm: no gradients → 0; a non-finite norm throws only with errorIfNonfinite', () => {
  const p = param([1, 2]);
  assert.equal(clipGradNorm([p], 1), 0);
  setGrads([p], [[Infinity, 1]]);
  assert.throws(() => clipGradNorm(p, 1, 2, { errorIfNonfinite: true }), /non-finite/);
  assert.equal(clipGradNorm(p, 1), Infinity);
  p.grad = null;
  p.dispose();
});
