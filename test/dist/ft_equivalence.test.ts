// Data-parallel fine-tuning computes what one process computes (the issue's "same for 2 fine-tune
// steps"): a small resnet8 classifier, a fixed labelled batch of 8, two finetuneStep calls (LAMB with
// layer decay, clipping, EMA; no mixing, no drop path), one thread per process.
//   - 2 ranks × 4 with SyncBN == 1 process × 8: loss, accuracy, averaged gradients, BN statistics,
//     parameters and EMA after 2 steps, within float32 rounding, and the ranks agree exactly;
//   - the same without gradient averaging (a mutation of the step) is far off: the test can fail;
//   - 2 ranks × 4 without SyncBN: each rank's BN statistics equal one process on its half;
//   - the sharded evaluation (each rank its contiguous share of 7 val images: 3 and 4) counts every
//     image once and gives exactly one process's counts and accuracies.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { EvalResult } from '../../src/train/evaluate.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { photoDataset } from '../train/ft_support.js';
import { WORKER, freePort, start, rankEnv, worstRelDiff, TOL } from './support.js';

checkNoLeaks();

type Tensors = Record<string, number[]>;
interface Run { evalResult: EvalResult; losses: number[]; accs: number[]; grads: Tensors; bnAfterForward1: Tensors; bnFinal: Tensors; params: Tensors; ema: Tensors }
const runs: Record<string, Run> = {};
const skip = !torch.distributed.availableBackends().gloo && 'addon built without c10d gloo';
let dir = '';

before(async () => {
  if (skip) return;
  dir = tempDir('sparkts-dist-ft-');
  const data = await photoDataset(path.join(dir, 'data'), { classes: 3, trainPerClass: 1, valPerClass: 3, side: 32 });
  // 9 val images less two: the ranks' shards are 3 and 4 images, so a mean of the ranks' accuracies is not the accuracy
  const val = path.join(data, 'val');
  for (const c of fs.readdirSync(val).sort().slice(0, 2)) fs.rmSync(path.join(val, c, fs.readdirSync(path.join(val, c)).sort()[0]!));
  const out = (k: string): string => path.join(dir, `${k}.json`);
  const [p1, p2, p3] = [await freePort(), await freePort(), await freePort()];
  const ft = (file: string, sbn: number, avg: number, lo: number, hi: number): string[] => ['ftsteps', out(file), String(sbn), String(avg), String(lo), String(hi), data];
  const one = { SPARKTS_NUM_THREADS: '1' };
  // all nine processes at once: each is one thread, and the pairs rendezvous on their own ports
  const procs = {
    single: start(WORKER, ft('single', 0, 1, 0, 8), one),
    half0: start(WORKER, ft('half0', 0, 1, 0, 4), one),
    half1: start(WORKER, ft('half1', 0, 1, 4, 8), one),
    sbn0: start(WORKER, ft('sbn{rank}', 1, 1, 0, 0), rankEnv(0, 2, p1)),
    sbn1: start(WORKER, ft('sbn{rank}', 1, 1, 0, 0), rankEnv(1, 2, p1)),
    nosbn0: start(WORKER, ft('nosbn{rank}', 0, 1, 0, 0), rankEnv(0, 2, p2)),
    nosbn1: start(WORKER, ft('nosbn{rank}', 0, 1, 0, 0), rankEnv(1, 2, p2)),
    noavg0: start(WORKER, ft('noavg{rank}', 1, 0, 0, 0), rankEnv(0, 2, p3)),
    noavg1: start(WORKER, ft('noavg{rank}', 1, 0, 0, 0), rankEnv(1, 2, p3)),
  };
  for (const [k, pr] of Object.entries(procs)) {
    const r = await pr.done;
    assert.equal(r.code, 0, `${k} failed:\n${pr.stderr}`);
    runs[k] = JSON.parse(fs.readFileSync(out(k), 'utf8')) as Run;
  }
});
after(() => { if (dir) rmrf(dir); });

// The training accuracy is not compared: the reference's counts a hit against y or flip(y), the batch
// reversed, and each rank reverses its own batch (so do we); the ranks agree on the mean of theirs.
test('2 ranks × 4 with SyncBN: the loss of 1 process × 8; the ranks agree on the loss and accuracy', { skip }, () => {
  const { single, sbn0, sbn1 } = runs;
  for (const r of [sbn0, sbn1]) {
    for (let s = 0; s < 2; s++) {
      assert.ok(Math.abs(r.losses[s] - single.losses[s]) <= 1e-6 * Math.abs(single.losses[s]), `step ${s} loss ${r.losses[s]} vs ${single.losses[s]}`);
    }
  }
  assert.deepEqual([sbn1.losses, sbn1.accs], [sbn0.losses, sbn0.accs]);
});

for (const what of ['grads', 'bnAfterForward1', 'bnFinal', 'params', 'ema'] as const) {
  test(`2 ranks × 4 with SyncBN: ${what} equal 1 process × 8 (float32), and the ranks agree exactly`, { skip }, () => {
    const { single, sbn0, sbn1 } = runs;
    const d = worstRelDiff(sbn0[what], single[what]);
    assert.ok(d.worst <= TOL, `${what}: ${d.name} differs by ${d.worst.toExponential(2)} of its largest value`);
    assert.deepEqual(sbn1[what], sbn0[what], 'rank 1 holds other values than rank 0');
  });
}

test('the comparison can fail: without gradient averaging the gradients and parameters are far off', { skip }, () => {
  const { single, noavg0 } = runs;
  for (const what of ['grads', 'params'] as const) {
    const off = worstRelDiff(noavg0[what], single[what]);
    assert.ok(off.worst > 100 * TOL, `${what} without averaging is as close as ${off.worst.toExponential(2)}: the comparison cannot tell`);
  }
});

test('2 ranks × 4 without SyncBN: each rank\'s BatchNorm statistics equal one process on its half', { skip }, () => {
  const { half0, half1, nosbn0, nosbn1, single } = runs;
  for (const [r, h] of [[nosbn0, half0], [nosbn1, half1]] as const) {
    const d = worstRelDiff(r.bnAfterForward1, h.bnAfterForward1);
    assert.ok(d.worst <= TOL, `${d.name} differs by ${d.worst.toExponential(2)}`);
  }
  // and they are not the 8-image statistics, so the SyncBN check above can fail
  assert.ok(worstRelDiff(nosbn0.bnAfterForward1, single.bnAfterForward1).worst > 100 * TOL);
});

test('sharded evaluation: every val image counted once, the counts summed: one process\'s accuracy on every rank', { skip }, () => {
  const { single, sbn0, sbn1, nosbn0 } = runs;
  assert.equal(single.evalResult.count, 7);
  for (const r of [sbn0, sbn1, nosbn0]) assert.deepEqual(r.evalResult, single.evalResult);
});
