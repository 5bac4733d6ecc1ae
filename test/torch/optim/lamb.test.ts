// The reference's LAMB (TheSameAsTimmLAMB) against its math written out in plain float64 JS:
// global-norm clipping, per-group step, bias correction, weight decay in the update, trust ratio.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../../src/torch/index.js';
import { checkNoLeaks, assertClose } from '../../helpers.js';
import { F64, gradValues, param, refLambStep, seq, setGrads, values, type RefLambGroup } from './support.js';

checkNoLeaks();
const { LAMB } = torch.optim;

const LAMB_DEFAULTS = { lr: 1e-3, weight_decay: 0.01, betas: [0.9, 0.999] as [number, number], eps: 1e-6, bias_correction: true, grad_averaging: true, trust_clip: false, always_adapt: false };
function refGroup(params: number[][], o: Partial<RefLambGroup>): RefLambGroup {
  return { ...LAMB_DEFAULTS, params: params.map((p) => p.slice()), m: [], v: [], ...o };
}
const copyGrads = (g: (number[] | null)[][]): (number[] | null)[][] => g.map((gs) => gs.map((x) => (x ? x.slice() : null)));

// decay group: a weight W (2×3) and an all-zero weight Z (2×2: ‖Z‖ = 0 → trust ratio 1);
// no-decay group: a bias b (3)
const W0 = seq(6, 5), Z0 = [0, 0, 0, 0], B0 = seq(3, 6);
// step 0: large gradients (global norm ≈ 3.4 > max_grad_norm 1: clipping active); steps 1, 2: small (inactive)
const GRADS = [3, 0.1, 0.2].map((s, it) => [[seq(6, 50 + it, s), seq(4, 60 + it, s)], [seq(3, 70 + it, s)]]);

test('LAMB with two param groups: clipping active then inactive, zero-norm weight, no trust ratio without wd', () => {
  const [W, Z, b] = [param(W0, [2, 3]), param(Z0, [2, 2]), param(B0)];
  const opt = new LAMB([
    { params: [W, Z], weight_decay_scale: 1, lr_scale: 1, lr: 0.02, weight_decay: 0.1 },
    { params: [b], weight_decay_scale: 0, lr_scale: 1, lr: 0.05, weight_decay: 0 },
  ], { betas: [0.9, 0.95], max_grad_norm: 1.0 });
  const ref = [refGroup([W0, Z0], { lr: 0.02, weight_decay: 0.1, betas: [0.9, 0.95] }), refGroup([B0], { lr: 0.05, weight_decay: 0, betas: [0.9, 0.95] })];
  GRADS.forEach((g, it) => {
    setGrads([W, Z, b], [...g[0], ...g[1]]);
    opt.step();
    const refG = copyGrads(g);
    const norm = refLambStep(ref, refG, 1.0);
    if (it === 0) assert.ok(norm > 1, 'the first step must exercise clipping');
    else assert.ok(norm < 1, 'later steps must not clip');
    assert.ok(Math.abs(opt.globalGradNorm - norm) <= 1e-12 * norm, `globalGradNorm ${opt.globalGradNorm} vs ${norm}`);
    // the reference clips p.grad in place
    assertClose(gradValues(W)!, refG[0][0]!, F64, `step ${it} clipped grad of W`);
    assertClose(values(W), ref[0].params[0], F64, `step ${it} W`);
    assertClose(values(Z), ref[0].params[1], F64, `step ${it} Z`);
    assertClose(values(b), ref[1].params[0], F64, `step ${it} b`);
  });
  assertClose(values(opt.state.get(W)!.exp_avg as torch.Tensor), ref[0].m[0]!, F64, 'exp_avg of W');
  assertClose(values(opt.state.get(b)!.exp_avg_sq as torch.Tensor), ref[1].v[0]!, F64, 'exp_avg_sq of b');
  assert.equal(opt.paramGroups[0].step, 3);
  assert.equal(opt.paramGroups[1].step, 3);
  opt.zeroGrad(); opt.dispose(); torch.dispose([W, Z, b]);
});

test('LAMB options: always_adapt, trust_clip, grad_averaging off, bias_correction off, zero update norm', () => {
  // group 0: wd = 0 but always_adapt; q has a gradient of exactly 0 → update 0 → ‖update‖ = 0 → ratio 1
  // group 1: trust_clip caps the ratio at 1; grad_averaging off; no bias correction
  // the trust_clip weight is large so that ‖p‖/‖update‖ ≈ 1/wd > 1 and the clip bites
  const P = [seq(5, 7), [0.5, -0.25, 1], seq(4, 8, 1000)];
  const ps = [param(P[0]), param(P[1]), param(P[2], [2, 2])];
  const o0 = { lr: 0.03, weight_decay: 0, always_adapt: true, betas: [0.8, 0.99] as [number, number], eps: 1e-4 };
  const o1 = { lr: 0.04, weight_decay: 0.2, trust_clip: true, grad_averaging: false, bias_correction: false };
  const opt = new LAMB([{ params: [ps[0], ps[1]], ...o0 }, { params: [ps[2]], ...o1 }], { max_grad_norm: 2.0 });
  const ref = [refGroup([P[0], P[1]], o0), refGroup([P[2]], o1)];
  // the same run without always_adapt / trust_clip: the options must change the result here
  const plain = [refGroup([P[0], P[1]], { ...o0, always_adapt: false }), refGroup([P[2]], { ...o1, trust_clip: false })];
  for (let it = 0; it < 3; it++) {
    const g = [[seq(5, 80 + it, 1.5), [0, 0, 0]], [seq(4, 90 + it)]];
    setGrads(ps, [...g[0], ...g[1]]);
    opt.step();
    const norm = refLambStep(ref, copyGrads(g), 2.0);
    refLambStep(plain, copyGrads(g), 2.0);
    assert.notDeepEqual(ref[0].params[0], plain[0].params[0]);
    assert.notDeepEqual(ref[1].params[0], plain[1].params[0]);
    assert.ok(Math.abs(opt.globalGradNorm - norm) <= 1e-12 * norm);
    assertClose(values(ps[0]), ref[0].params[0], F64, `step ${it} always_adapt param`);
    assertClose(values(ps[1]), ref[0].params[1], F64, `step ${it} zero-update param`);
    assertClose(values(ps[2]), ref[1].params[0], F64, `step ${it} trust_clip param`);
  }
  opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
});

test('LAMB: the global norm spans every group; params without a gradient get no state but the group step still counts', () => {
  const ps = [param([3, 4]), param([1, 1]), param([2, 2])];
  const opt = new LAMB([{ params: [ps[0], ps[1]], weight_decay: 0 }, { params: [ps[2]], weight_decay: 0 }], { max_grad_norm: 100 });
  // grads (3,4) and (0,12): global norm = sqrt(9 + 16 + 144) = 13
  setGrads(ps, [[3, 4], null, [0, 12]]);
  opt.step();
  assert.equal(opt.globalGradNorm, 13);
  assert.equal(opt.state.has(ps[1]), false);
  assert.deepEqual(values(ps[1]), [1, 1]);
  assert.equal(opt.paramGroups[0].step, 1);
  // first step, wd 0, no clipping: update = m̂ / (sqrt(v̂) + eps) = sign(g)·|g| / (|g| + 1e-6) elementwise
  const upd = (x: number): number => (x === 0 ? 0 : x / (Math.abs(x) + 1e-6));
  assertClose(values(ps[0]), [3 - 1e-3 * upd(3), 4 - 1e-3 * upd(4)], F64, 'first step');
  assertClose(values(ps[2]), [2 - 1e-3 * upd(0), 2 - 1e-3 * upd(12)], F64, 'first step');
  opt.zeroGrad(); opt.dispose(); torch.dispose(ps);
});

test('LAMB defaults are the reference constructor\'s; max_grad_norm comes from the defaults, not the group', () => {
  const p = param([1, 2]);
  const opt = new LAMB([p]);
  const { params: _, ...opts } = opt.paramGroups[0];
  assert.deepEqual(opts, { lr: 1e-3, bias_correction: true, betas: [0.9, 0.999], eps: 1e-6, weight_decay: 0.01, grad_averaging: true, max_grad_norm: 2.0, trust_clip: false, always_adapt: false });
  // a group max_grad_norm is carried but not used (as in the reference)
  opt.paramGroups[0].max_grad_norm = 1e-9;
  setGrads([p], [[0.3, 0.4]]);
  opt.step();
  assert.equal(opt.globalGradNorm, 0.5);
  const g = gradValues(p)!;
  assertClose(g, [0.3, 0.4], F64, 'grad is not clipped below the defaults\' max_grad_norm 2');
  opt.zeroGrad(); opt.dispose(); p.dispose();
});
