// The reference's lr/wd schedule: the golden runs' recorded values, the README's anchor points, the
// per-group scales, and Python's round() for the warmup length.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { lrWdAnnealing, lrWdAt, pyRound } from '../../src/train/schedule.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { GOLDEN_CASES, readGoldenHeader } from './golden_meta.js';

checkNoLeaks();

const close = (a: number, b: number, tol = 1e-12, what = ''): void =>
  assert.ok(Math.abs(a - b) <= tol * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

function twoGroupLamb(): { opt: torch.optim.LAMB; ps: torch.Tensor[] } {
  const ps = [torch.zeros([2, 2]).requiresGrad_(true).keep(), torch.zeros([2]).requiresGrad_(true).keep()];
  const groups = getParamGroups([['w', ps[0]], ['b', ps[1]]]);
  return { opt: new torch.optim.LAMB(groups, { lr: 1, weight_decay: 0 }), ps };
}

for (const name of GOLDEN_CASES) {
  test(`${name}: lrWdAnnealing reproduces the reference run's opt_lrs / opt_wds`, () => {
    const { meta } = readGoldenHeader(name);
    const o = (JSON.parse(meta.case) as { opt: { peak_lr: number; wd: number; wd_end: number; warmup_iters: number; max_iters: number } }).opt;
    const lrs = JSON.parse(meta.opt_lrs) as number[], wds = JSON.parse(meta.opt_wds) as number[];
    assert.ok(lrs.length >= 2);
    const { opt, ps } = twoGroupLamb();
    lrs.forEach((lr, it) => {
      // gen.py records the max lr and the max wd that lr_wd_annealing returns
      const [minLr, maxLr, minWd, maxWd] = lrWdAnnealing(opt, o.peak_lr, o.wd, o.wd_end, it, o.warmup_iters, o.max_iters);
      close(maxLr, lr, 1e-12, `lr at ${it}`);
      close(maxWd, wds[it], 1e-12, `wd at ${it}`);
      close(minLr, lr, 1e-12, 'min lr (both groups have lr_scale 1)');
      assert.equal(minWd, 0, 'the no-decay group has weight_decay 0');
      assert.equal(opt.paramGroups[0].lr, maxLr);
      assert.equal(opt.paramGroups[0].weight_decay, maxWd);
      assert.equal(opt.paramGroups[1].weight_decay, 0);
    });
    opt.dispose(); torch.dispose(ps);
  });
}

test('schedule anchor points (golden README): warmup from 0.5% of peak, cosine to 0.1%, wd cosine from wd to wd_end', () => {
  const peak = 0.3, W = 4, T = 21, wd = 0.04, wdEnd = 0.2;
  close(lrWdAt(peak, wd, wdEnd, 0, W, T).lr, 0.005 * peak);
  close(lrWdAt(peak, wd, wdEnd, 2, W, T).lr, peak * (0.005 + 0.995 * 2 / 4));
  close(lrWdAt(peak, wd, wdEnd, W, W, T).lr, peak);
  close(lrWdAt(peak, wd, wdEnd, 12, W, T).lr, peak * (0.001 + 0.999 * 0.5), 1e-12, 'half way through the cosine');
  close(lrWdAt(peak, wd, wdEnd, T - 1, W, T).lr, 0.001 * peak);
  close(lrWdAt(peak, wd, wdEnd, 0, W, T).wd, wd);
  close(lrWdAt(peak, wd, wdEnd, 10, W, T).wd, (wd + wdEnd) / 2);
  close(lrWdAt(peak, wd, wdEnd, T - 1, W, T).wd, wdEnd);
  // no warmup at all: the cosine starts at the peak
  close(lrWdAt(peak, wd, wdEnd, 0, 0, T).lr, peak);
});

test('lrWdAnnealing applies lr_scale / weight_decay_scale per group and returns the min/max over them', () => {
  const ps = [torch.zeros([1]).keep(), torch.zeros([1]).keep(), torch.zeros([1]).keep()];
  const opt = new torch.optim.SGD([
    { params: [ps[0]], lr_scale: 0.5, weight_decay_scale: 2 },
    { params: [ps[1]], weight_decay_scale: 0 },
    { params: [ps[2]] }, // no scales: 1
  ], { lr: 1 });
  const { lr, wd } = lrWdAt(0.1, 0.05, 0.5, 3, 2, 10);
  const r = lrWdAnnealing(opt, 0.1, 0.05, 0.5, 3, 2, 10);
  assert.deepEqual(opt.paramGroups.map((g) => g.lr), [lr * 0.5, lr, lr]);
  assert.deepEqual(opt.paramGroups.map((g) => g.weight_decay), [wd * 2, 0, wd]);
  assert.deepEqual(r, [lr * 0.5, lr, 0, wd * 2]);
  opt.dispose(); torch.dispose(ps);
});

test('the warmup length is rounded like Python round() (halves to even)', () => {
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, 2.4, 2.6, 7].map(pyRound), [0, 2, 2, 4, 2, 3, 7]);
  // warmup 2.5 iterations → 2: iteration 2 is already past the warmup, at the peak
  assert.equal(lrWdAt(1, 0, 0, 2, 2.5, 10).lr, 1);
});

test('schedules that the reference would divide by zero on fail with a clear message', () => {
  assert.throws(() => lrWdAt(1, 0, 0, 0, 0, 1), /maxIt must be at least 2/);
  assert.throws(() => lrWdAt(1, 0, 0, 3, 3, 4), /warmup \(3 iterations\) must end before the last iteration/);
});
