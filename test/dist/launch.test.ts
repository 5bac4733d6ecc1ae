// `spark launch --nproc_per_node 2 -- pretrain …` as a user runs it on one machine (loopback gloo):
// rank 0 alone writes; a checkpoint written by 2 ranks resumes in one process; Ctrl-C on the launcher
// stops every rank at the same step and rank 0 saves; a rank killed mid-run fails the launch, naming it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { pretrain } from '../../src/train/pretrain.js';
import { loadCheckpoint, disposeCheckpoint, sparkStyleName } from '../../src/train/checkpoint.js';
import { pretrainOptionsFromArgs } from '../../src/cli/pretrain.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { spark, tinyFlags, imageFolder } from '../cli/support.js';

checkNoLeaks();
const skip = !torch.distributed.availableBackends().gloo && 'addon built without c10d gloo';

let root = '', data = '';
before(async () => {
  root = tempDir('sparkts-launch-');
  data = await imageFolder(path.join(root, 'data'), 8);
});
after(() => rmrf(root));

/** The tiny run at 64 px (a 2×2 mask grid: each rank's sparse BatchNorms see visible positions). */
const flags = (exp: string, more: string[] = []): string[] => [...tinyFlags(data, exp), '--input_size', '64', ...more];
const launch = (n: number, job: string[]): string[] => ['launch', '--nproc_per_node', String(n), '--master_port', '0', '--timeout', '30', '--', ...job];

test('2 ranks: rank 0 alone prints and writes; the checkpoint resumes in one process', { skip }, async () => {
  const exp = path.join(root, 'exp2');
  const r = await spark(launch(2, ['pretrain', ...flags(exp)]), { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /\[launch\] 2 rank\(s\) on this machine \(node 0 of 1, world size 2\)/);
  assert.equal(r.stdout.match(/\[pretrain\] resnet18 SparK/g)?.length, 1, `one header (rank 0's):\n${r.stdout}`);
  assert.doesNotMatch(r.stdout + r.stderr, /\[rank 1\]/, 'rank 1 printed something');
  const first = JSON.parse(fs.readFileSync(path.join(exp, 'pretrain_log.txt'), 'utf8').split('\n')[0]) as { world_size: number; bs: number; iters_per_ep: number };
  // global batch 4 = 2 ranks × 2; 8 images → 2 iterations per epoch, as in one process
  assert.deepEqual([first.world_size, first.bs, first.iters_per_ep], [2, 4, 2]);
  const file = path.join(exp, sparkStyleName('resnet18'));
  const c = loadCheckpoint(file);
  try {
    assert.equal(c.resume?.nextIter, 4);
    assert.equal(c.resume?.losses.length, 4);
  } finally { disposeCheckpoint(c); }

  let said = '';
  const out = new Writable({ write(ch, _e, cb) { said += String(ch); cb(); } });
  const o = pretrainOptionsFromArgs(flags(exp, ['--ep', '3', '--resume_from', file]))!;
  const r2 = await pretrain({ ...o, stdout: out });
  assert.deepEqual([r2.iters, r2.interrupted, r2.losses.length], [2, false, 6]);
  assert.match(said, /resuming at iteration 4\b/);
});

test('SIGINT on the launcher: every rank stops after the same step, rank 0 saves, exit 0', { skip }, async () => {
  const exp = path.join(root, 'exp-sigint');
  let sent = false;
  const r = await spark(launch(2, ['pretrain', ...flags(exp, ['--ep', '1000', '--max_iters', '1000', '--vis_every', '1000'])]), {
    timeoutMs: 180_000,
    onStdout: (text, p) => { if (!sent && /\[ep\d+\/1000\]\s+\[\d\/2\]/.test(text)) { sent = true; p.kill('SIGINT'); } },
  });
  assert.ok(sent, `no progress line:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /\[launch\] SIGINT: passing it to the ranks/);
  const m = /\[pretrain\] stopped at iteration (\d+); checkpoint saved/.exec(r.stdout);
  assert.ok(m, `stop message:\n${r.stdout}\n${r.stderr}`);
  const c = loadCheckpoint(path.join(exp, sparkStyleName('resnet18')));
  try { assert.equal(c.resume?.nextIter, Number(m[1])); } finally { disposeCheckpoint(c); }
});

test('a rank killed mid-run: the launch exits non-zero; the launcher and rank 0 name rank 1', { skip }, async () => {
  const exp = path.join(root, 'exp-kill');
  let killed = 0;
  const r = await spark(launch(2, ['pretrain', ...flags(exp, ['--ep', '1000', '--max_iters', '1000', '--vis_every', '1000'])]), {
    timeoutMs: 180_000,
    onStdout: (text, p) => {
      if (killed || !/\[ep\d+\/1000\]\s+\[\d\/2\]/.test(text)) return;
      // rank 1 is the launcher's child whose environment says RANK=1
      const kids = fs.readFileSync(`/proc/${p.pid}/task/${p.pid}/children`, 'utf8').trim().split(/\s+/).map(Number);
      killed = kids.find((k) => fs.readFileSync(`/proc/${k}/environ`, 'utf8').split('\0').includes('RANK=1')) ?? -1;
      if (killed > 0) process.kill(killed, 'SIGKILL');
    },
  });
  assert.ok(killed > 0, `rank 1 not found:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 1, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, new RegExp(`\\[launch\\] rank 1 \\(pid ${killed}\\) was killed by SIGKILL`));
  assert.match(r.stderr, new RegExp(`spark: error: rank 0: rank 1 \\(pid ${killed}\\) exited during .*; stopping`));
});
