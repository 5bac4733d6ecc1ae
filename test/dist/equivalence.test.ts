// Data parallelism computes what one process computes (the equivalence test): a small SparK
// ResNet, a fixed batch of 8 images with fixed masks, two LAMB steps, one thread per process.
//   - 2 ranks × 4 images with SyncBN == 1 process × 8 images: the losses, the averaged gradients, the
//     BatchNorm running statistics (sparse encoder BNs over visible positions, decoder BNs, densify
//     BNs) and the parameters after 2 steps, within float32 rounding;
//   - 2 ranks × 4 without SyncBN: each rank's BatchNorm statistics equal a single process on its half
//     (and differ from the 8-image ones by far more than the tolerance, so the first check can fail).
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';
import { WORKER, freePort, start, rankEnv, worstRelDiff, TOL } from './support.js';

checkNoLeaks();

interface Record_ { losses: number[]; gradNorms: number[]; grads: Record<string, number[]>; bnAfterForward1: Record<string, number[]>; bnFinal: Record<string, number[]>; params: Record<string, number[]> }
const runs: Record<string, Record_> = {};
const haveGloo = torch.distributed.availableBackends().gloo;

before(async () => {
  if (!haveGloo) return;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-dist-eq-'));
  const out = (k: string): string => path.join(dir, `${k}.json`);
  const [p1, p2] = [await freePort(), await freePort()];
  // all seven processes at once: each is one thread, and the pairs rendezvous on their own ports
  const procs = {
    single: start(WORKER, ['steps', out('single'), '0'], { SPARKTS_NUM_THREADS: '1' }),
    half0: start(WORKER, ['steps', out('half0'), '0', '0', '4'], { SPARKTS_NUM_THREADS: '1' }),
    half1: start(WORKER, ['steps', out('half1'), '0', '4', '8'], { SPARKTS_NUM_THREADS: '1' }),
    sbn0: start(WORKER, ['steps', out('sbn{rank}'), '1'], rankEnv(0, 2, p1)),
    sbn1: start(WORKER, ['steps', out('sbn{rank}'), '1'], rankEnv(1, 2, p1)),
    nosbn0: start(WORKER, ['steps', out('nosbn{rank}'), '0'], rankEnv(0, 2, p2)),
    nosbn1: start(WORKER, ['steps', out('nosbn{rank}'), '0'], rankEnv(1, 2, p2)),
  };
  for (const [k, pr] of Object.entries(procs)) {
    const r = await pr.done;
    assert.equal(r.code, 0, `${k} failed:\n${pr.stderr}`);
    runs[k] = JSON.parse(fs.readFileSync(out(k), 'utf8')) as Record_;
  }
  fs.rmSync(dir, { recursive: true, force: true });
});

test('2 ranks × 4 with SyncBN: the same losses and LAMB gradient norms as 1 process × 8', { skip: !haveGloo && 'addon built without c10d gloo' }, () => {
  const { single, sbn0, sbn1 } = runs;
  for (const r of [sbn0, sbn1]) {
    for (let s = 0; s < 2; s++) {
      assert.ok(Math.abs(r.losses[s] - single.losses[s]) <= 1e-6, `step ${s} loss ${r.losses[s]} vs ${single.losses[s]}`);
      assert.ok(Math.abs(r.gradNorms[s] - single.gradNorms[s]) <= 1e-5 * single.gradNorms[s], `step ${s} grad norm ${r.gradNorms[s]} vs ${single.gradNorms[s]}`);
    }
  }
});

for (const what of ['grads', 'bnAfterForward1', 'bnFinal', 'params'] as const) {
  test(`2 ranks × 4 with SyncBN: ${what} equal 1 process × 8 (float32), and the ranks agree exactly`, { skip: !haveGloo && 'addon built without c10d gloo' }, () => {
    const { single, sbn0, sbn1, nosbn0 } = runs;
    const d = worstRelDiff(sbn0[what], single[what]);
    assert.ok(d.worst <= TOL, `${what}: ${d.name} differs by ${d.worst.toExponential(2)} of its largest value`);
    assert.deepEqual(sbn1[what], sbn0[what], 'rank 1 holds other values than rank 0');
    // without SyncBN the same comparison fails: the check can tell
    const off = worstRelDiff(nosbn0[what], single[what]);
    assert.ok(off.worst > 100 * TOL, `${what} without SyncBN is as close as ${off.worst.toExponential(2)}: the comparison cannot tell`);
  });
}

test('2 ranks × 4 without SyncBN: each rank\'s BatchNorm statistics equal one process on its half', { skip: !haveGloo && 'addon built without c10d gloo' }, () => {
  const { half0, half1, nosbn0, nosbn1 } = runs;
  for (const [r, h] of [[nosbn0, half0], [nosbn1, half1]]) {
    const d = worstRelDiff(r.bnAfterForward1, h.bnAfterForward1);
    assert.ok(d.worst <= TOL, `${d.name} differs by ${d.worst.toExponential(2)}`);
  }
  // and the two halves differ, so the statistics are per rank indeed
  assert.ok(worstRelDiff(half0.bnAfterForward1, half1.bnAfterForward1).worst > 100 * TOL);
});
