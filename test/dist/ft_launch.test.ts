// `spark launch --nproc_per_node 2 -- finetune …` as a user runs it on one machine (loopback gloo): the
// run finishes, rank 0 alone prints and writes, the evaluation counts every val image once, and the
// checkpoint written by 2 ranks resumes in one process with the same global batch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { finetune } from '../../src/train/finetune.js';
import { finetuneOptionsFromArgs } from '../../src/cli/finetune.js';
import { loadCheckpoint, disposeCheckpoint } from '../../src/train/checkpoint.js';
import { finetunedName, readFinetuneResume } from '../../src/train/ft_checkpoint.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { photoDataset } from '../train/ft_support.js';
import { spark } from '../cli/support.js';

checkNoLeaks();
const skip = !torch.distributed.availableBackends().gloo && 'addon built without c10d gloo';
const threads = torch.getNumThreads();

let root = '', data = '';
before(async () => {
  root = tempDir('sparkts-ft-launch-');
  data = await photoDataset(path.join(root, 'data'), { trainPerClass: 4, valPerClass: 2, side: 32 });   // 16 train, 8 val
});
after(() => { torch.setNumThreads(threads); rmrf(root); });

/** A tiny run: global batch 8 (2 ranks × 4): 16 images → 2 iterations per epoch, as in one process. */
const flags = (exp: string, more: string[] = []): string[] => ['--data_path', data, '--exp_dir', exp, '--model', 'resnet18', '--img_size', '32', '--bs', '8',
  '--threads', '1', '--workers', '0', '--wp_ep', '0', '--opt', 'adam', '--base_lr', '0.1', '--ep', '2', '--seed', '3', ...more];

test('2 ranks: the run finishes, rank 0 alone prints and writes; the checkpoint resumes in one process', { skip }, async () => {
  const exp = path.join(root, 'exp2');
  const r = await spark(['launch', '--nproc_per_node', '2', '--master_port', '0', '--timeout', '30', '--', 'finetune', ...flags(exp)], { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.equal(r.stdout.match(/\[finetune\] resnet18: .*2 iters\/epoch × 2 epochs; bs 8 \(2 ranks × 4\)/g)?.length, 1, `one header (rank 0's):\n${r.stdout}`);
  assert.doesNotMatch(r.stdout + r.stderr, /\[rank 1\]/, 'rank 1 printed something');
  assert.match(r.stdout, /\[FT finished\]/);
  // every evaluation counts the 8 val images once (4 per rank, summed)
  assert.deepEqual([...r.stdout.matchAll(/ o (\d+\.\d)\)/g)].map((m) => m[1]).filter((c) => c !== '8.0'), []);
  // rank 0 alone writes: one log (its header once, the initial, 2 epochs and the final line), one event file
  const log = fs.readFileSync(path.join(exp, 'finetune_log.txt'), 'utf8').trim().split('\n').filter((l) => l);
  assert.equal(log.filter((l) => l.includes('"git_commit_id"')).length, 1, log.join('\n'));
  assert.equal(log.filter((l) => l.includes('"cur_ep"')).length, 4, log.join('\n'));
  assert.equal(fs.readdirSync(path.join(exp, 'tensorboard_log')).length, 1);
  // no write probe or temporary file left behind; _best*.pth only when an evaluation beat the initial one
  const written = fs.readdirSync(exp).sort();
  const required = ['accuracy_curve.png', 'finetune_log.txt', finetunedName('resnet18', 'last'), 'tensorboard_log'];
  assert.deepEqual(written.filter((f) => !/_1kfinetuned_best(_ema)?\.pth$/.test(f)), required.sort(), written.join(' '));
  const file = path.join(exp, finetunedName('resnet18', 'last'));
  const c = loadCheckpoint(file);
  try {
    const res = readFinetuneResume(c)!;
    assert.equal(res.nextIter, 4);
    assert.deepEqual((({ worldSize, itersPerEpoch, bs }) => ({ worldSize, itersPerEpoch, bs }))(JSON.parse(res.flags) as Record<string, number>), { worldSize: 2, itersPerEpoch: 2, bs: 8 });
    for (const t of res.rng.values()) t.dispose();
  } finally { disposeCheckpoint(c); }

  // one process, the same global batch: continues at iteration 4 for a third epoch
  let said = '';
  const out = new Writable({ write(ch, _e, cb) { said += String(ch); cb(); } });
  const o = finetuneOptionsFromArgs(flags(exp, ['--ep', '3', '--resume_from', file]))!;
  const r2 = await finetune({ ...o, stdout: out });
  assert.deepEqual([r2.iters, r2.interrupted, r2.epochs, r2.history.length], [2, false, 3, 3]);
  assert.match(said, /resuming at iteration 4\b/);
});

test('SIGINT on the launcher: every rank stops after the same step, rank 0 saves that position, exit 0', { skip }, async () => {
  const exp = path.join(root, 'exp-sigint');
  let sent = false;
  const r = await spark(['launch', '--nproc_per_node', '2', '--master_port', '0', '--timeout', '30', '--', 'finetune', ...flags(exp, ['--ep', '1000'])], {
    timeoutMs: 180_000,
    onStdout: (text, p) => { if (!sent && /\[ep0\/1000\]\s+\[1\/2\]/.test(text)) { sent = true; p.kill('SIGINT'); } },
  });
  assert.ok(sent, `no progress line:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  const m = /\[finetune\] stopped at iteration (\d+); checkpoint saved/.exec(r.stdout);
  assert.ok(m, `stop message:\n${r.stdout}\n${r.stderr}`);
  const c = loadCheckpoint(path.join(exp, finetunedName('resnet18', 'last')));
  try {
    const res = readFinetuneResume(c)!;
    assert.equal(res.nextIter, Number(m[1]));
    for (const t of res.rng.values()) t.dispose();
  } finally { disposeCheckpoint(c); }
});

test('a global --bs the ranks cannot share: one line naming the flag and a fix', { skip }, async () => {
  const r = await spark(['launch', '--nproc_per_node', '2', '--master_port', '0', '--timeout', '30', '--', 'finetune', ...flags(path.join(root, 'exp-bs'), ['--bs', '7'])], { timeoutMs: 120_000 });
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /spark: error: --bs 7 is not divisible by the 2 ranks; use a multiple of 2/);
});
