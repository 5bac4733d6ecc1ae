// `spark pretrain` as a user runs it: Ctrl-C saves a resumable checkpoint and exits 0; every kind of
// bad input is one `spark: error:` line and a non-zero exit, and never touches the checkpoints
// already in the exp dir. Child processes run the built CLI (npx tsc first); the cases that differ
// only in the message run in this process through the same flag parser and job.
import { test, describe, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { Writable } from 'node:stream';
import { PyOrderedDict } from '../../src/torch/io/index.js';
import { savePth } from '../../src/torch/io/pth.js';
import { pretrain } from '../../src/train/pretrain.js';
import { loadCheckpoint, disposeCheckpoint, sparkStyleName, timmStyleName } from '../../src/train/checkpoint.js';
import { pretrainOptionsFromArgs } from '../../src/cli/pretrain.js';
import { UsageError } from '../../src/cli/args.js';
import { checkNoLeaks, goldenPath as golden } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { spark, tinyFlags, imageFolder, assertOneErrorLine } from './support.js';

checkNoLeaks();

let root = '', data = '', exp = '', ckpt = '', timm = '';
const sha = (f: string): string => createHash('sha256').update(fs.readFileSync(f)).digest('hex');
let digests: Record<string, string> = {};
const sink = (): Writable => new Writable({ write(_c, _e, cb) { cb(); } });

before(async () => {
  root = tempDir('sparkts-cli-');
  data = await imageFolder(path.join(root, 'data'), 8);
  // the exp dir every failing run points at, with the checkpoints of a previous run in it
  exp = path.join(root, 'exp');
  const o = pretrainOptionsFromArgs([...tinyFlags(data, exp), '--max_iters', '1'])!;
  await pretrain({ ...o, stdout: sink() });
  ckpt = path.join(exp, sparkStyleName('resnet18'));
  timm = path.join(exp, timmStyleName('resnet18'));
  digests = Object.fromEntries(fs.readdirSync(exp).filter((f) => f.endsWith('.pth')).map((f) => [f, sha(path.join(exp, f))]));
  assert.equal(Object.keys(digests).length, 2);
});
after(() => rmrf(root));

/** What a failing run may not change: the exp dir's entries and each checkpoint's inode, size and mtime. */
function expSnapshot(): string {
  return JSON.stringify(fs.readdirSync(exp).sort().map((f) => {
    const s = fs.statSync(path.join(exp, f));
    return [f, s.isFile() ? [s.ino, s.size, s.mtimeMs] : 'dir'];
  }));
}

test('SIGINT after the first progress line: the step finishes, a resumable checkpoint is saved, exit 0', async () => {
  const dir = path.join(root, 'exp-signal');
  let sent = false, seen = 0;
  // one progress line per iteration (2 per epoch); count those printed when the signal goes out
  const progressLines = (text: string): number => text.match(/\[ep\d+\/1000\]\s+\[\d\/2\]/g)?.length ?? 0;
  const r = await spark(['pretrain', ...tinyFlags(data, dir), '--ep', '1000', '--max_iters', '1000', '--vis_every', '1000'], {
    onStdout: (text, p) => { if (!sent && (seen = progressLines(text)) >= 1) { sent = true; p.kill('SIGINT'); } },
  });
  assert.ok(sent, `no progress line seen:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /SIGINT: finishing the current step and saving a checkpoint/);
  const m = /\[pretrain\] stopped at iteration (\d+); checkpoint saved to (.*); resume with --resume_from (.*)/.exec(r.stdout);
  assert.ok(m, `stop message:\n${r.stdout}`);
  const n = Number(m[1]);
  const file = path.join(dir, sparkStyleName('resnet18'));
  assert.equal(m[2], file);
  // the signal came after `seen` steps had printed their line: the run stops at the end of the step
  // then in progress (seen + 1), or at `seen` if the signal beat the next step's start; not steps later
  assert.ok(n === seen || n === seen + 1, `stopped at iteration ${n}; the signal was sent after iteration ${seen}`);
  assert.match(r.stdout, new RegExp(`interrupted: ${n} iterations`));

  const c = loadCheckpoint(file);
  try {
    assert.equal(c.resume?.nextIter, n, 'the resume record points at the next iteration');
    assert.deepEqual([c.resume?.loaderEpoch, c.resume?.loaderIter], [Math.floor(n / 2), n % 2]);
    assert.deepEqual(c.resume?.losses.map(([i]) => i), Array.from({ length: n }, (_, i) => i), 'the loss of every iteration run');
    assert.equal(c.epoch, Math.floor(n / 2) - 1, 'epoch = the last completed one');
  } finally { disposeCheckpoint(c); }

  // and it resumes there (in this process: same flags, same job, without another libtorch start-up)
  let said = '';
  const out = new Writable({ write(c, _e, cb) { said += String(c); cb(); } });
  const o = pretrainOptionsFromArgs([...tinyFlags(data, dir), '--ep', '1000', '--max_iters', '1', '--resume_from', file])!;
  const r2 = await pretrain({ ...o, stdout: out });
  assert.deepEqual([r2.iters, r2.interrupted, r2.losses.length], [1, false, n + 1]);
  assert.match(said, new RegExp(`resuming at iteration ${n}\\b`));
  const c2 = loadCheckpoint(file);
  try { assert.equal(c2.resume?.nextIter, n + 1); } finally { disposeCheckpoint(c2); }
});

// Each case: the flags that override the tiny run's, the message it must give, and (child processes)
// the exit code. Flags given twice: the last wins, so an override replaces the tiny run's value.
interface Case { name: string; flags: () => string[]; re: RegExp; code?: number; allowed?: RegExp }
const nope = (): string => path.join(root, 'nope');
const folder = (name: string, files: Record<string, string | Uint8Array>): string => {
  const d = path.join(root, name);
  fs.mkdirSync(d, { recursive: true });
  for (const [f, b] of Object.entries(files)) fs.writeFileSync(path.join(d, f), b);
  return d;
};
const garbage = (n: number, k: number): Uint8Array => Uint8Array.from({ length: n }, (_, i) => (i * 2654435761 + k) >>> 24);
const truncated = (): string => {
  const f = path.join(root, 'truncated.pth');
  if (!fs.existsSync(f)) fs.writeFileSync(f, fs.readFileSync(ckpt).subarray(0, 1_000_000));
  return f;
};
const regularFile = (): string => {
  const f = path.join(root, 'a-file.txt');
  fs.writeFileSync(f, 'not a folder');
  return f;
};


// Through the real command: a usage error (exit 2), errors at each stage of a run (exit 1): before
// anything is loaded, after the data loader's warnings (the error must still be the last line), after
// the model is built, and while reading a checkpoint.
const spawned: Case[] = [
  { name: 'unknown flag', flags: () => ['--learning_rate', '0.1'], re: /^spark: error: unknown flag --learning_rate\b.*; see --help$/, code: 2 },
  { name: 'missing data folder', flags: () => ['--data_path', nope()], re: /^spark: error: data path not found: .*nope \(pass --data_path/, code: 1 },
  {
    name: 'corrupt images only', flags: () => ['--data_path', folder('corrupt', { 'a.jpg': garbage(3000, 1), 'b.png': garbage(500, 2) })],
    re: /^spark: error: no readable image in .*corrupt: all 2 failed to decode .*; check the files or pass another --data_path$/, code: 1,
    allowed: /^\[data\] skipping unreadable image .*corrupt\/[ab]\.(jpg|png): /,
  },
  {
    name: '--resume_from a checkpoint of another architecture', flags: () => ['--model', 'resnet34', '--resume_from', ckpt],
    re: /^spark: error: checkpoint .*resnet18_withdecoder_1kpretrained_spark_style\.pth does not fit the SparK model \(it was saved for resnet18\): .*missing keys: /, code: 1,
  },
  { name: 'truncated checkpoint', flags: () => ['--resume_from', truncated()], re: /^spark: error: checkpoint .*truncated\.pth could not be read \(.*\); it may be truncated or not a torch\.save file$/, code: 1 },
];

describe('bad input in a child process: one error line, non-zero exit, checkpoints untouched', { concurrency: 2 }, () => {
  for (const c of spawned) {
    test(c.name, async () => {
      const snap = expSnapshot();
      const r = await spark(['pretrain', ...tinyFlags(data, exp), ...c.flags()]);
      assertOneErrorLine(r, c.re, c);
      assert.equal(r.stdout.includes('[ep'), false, 'no training step ran');
      assert.equal(expSnapshot(), snap, 'the exp dir and its checkpoints are untouched');
    });
  }
});

// In this process: the same parser and job, the message checked as main.js prints it (its first line;
// it must have no other), the exit code by error class (UsageError → 2, else 1), and nothing else on stderr.
const inProcess: (Case & { code: 1 | 2 })[] = [
  { name: 'non-numeric value', flags: () => ['--bs', 'four'], re: /^--bs must be a number, got 'four'$/, code: 2 },
  { name: 'unknown model', flags: () => ['--model', 'resnet9'], re: /^unknown model 'resnet9'; choose one of resnet18, /, code: 1 },
  { name: 'input size not a multiple of 32', flags: () => ['--input_size', '40'], re: /^--input_size 40 is not a multiple of resnet\d+'s downsample ratio 32; use e\.g\. 32$/, code: 1 },
  { name: 'mask 1', flags: () => ['--mask', '1'], re: /^--mask must be in \(0, 1\), got 1$/, code: 1 },
  { name: 'bs 0', flags: () => ['--bs', '0'], re: /^--bs must be a positive integer, got 0$/, code: 1 },
  {
    name: '--init_weight a checkpoint of another architecture (the reference\'s tiny ResNet)', flags: () => ['--init_weight', golden('resnet_basic_96.timm_style.pth')],
    re: /^checkpoint .*resnet_basic_96\.timm_style\.pth does not fit the encoder: size mismatch for conv1\.weight: the checkpoint has \[16,3,7,7\], the model has \[64,3,7,7\]$/, code: 1,
  },
  {
    // chmod does not stop root (the tests run as root here); a path below a regular file cannot be
    // created by anyone (ENOTDIR), which is the same failure a user sees for a read-only folder
    name: 'unwritable exp dir (a path under a regular file)', flags: () => ['--exp_dir', path.join(regularFile(), 'sub')],
    re: /^--exp_dir .*a-file\.txt\/sub is not writable \(ENOTDIR\); choose another folder$/, code: 1,
  },
  { name: 'empty data folder', flags: () => ['--data_path', folder('empty', {})], re: /^data path is empty: .*empty \(put images/, code: 1 },
  { name: 'a folder with no images', flags: () => ['--data_path', folder('texts', { 'notes.txt': 'hi', 'b.csv': '1,2' })], re: /^no images found under .*texts: 2 file\(s\), none with an image extension/, code: 1 },
  { name: 'mask 0', flags: () => ['--mask', '0'], re: /^--mask must be in \(0, 1\), got 0$/, code: 1 },
  { name: 'negative mask', flags: () => ['--mask', '-0.5'], re: /^--mask must be in \(0, 1\), got -0\.5$/, code: 1 },
  { name: 'negative bs', flags: () => ['--bs', '-4'], re: /^--bs must be a positive integer, got -4$/, code: 1 },
  { name: 'fractional bs', flags: () => ['--bs', '2.5'], re: /^--bs must be an integer, got '2\.5'$/, code: 2 },
  { name: 'non-numeric mask', flags: () => ['--mask', 'half'], re: /^--mask must be a number, got 'half'$/, code: 2 },
  { name: 'a flag without its value', flags: () => ['--bs'], re: /^--bs needs a value$/, code: 2 },
  { name: 'a stray positional argument', flags: () => [data], re: /^unexpected argument '.*'; give the image folder as --data_path/, code: 2 },
  { name: 'misspelt flag', flags: () => ['--input-sise', '32'], re: /^unknown flag --input-sise \(did you mean --input_size\?\); see --help$/, code: 2 },
  { name: '--resume_from a missing file', flags: () => ['--resume_from', nope()], re: /^--resume_from .*nope does not exist; check the path$/, code: 1 },
  { name: '--init_weight a truncated file', flags: () => ['--init_weight', truncated()], re: /^checkpoint .*truncated\.pth could not be read .*; it may be truncated or not a torch\.save file$/, code: 1 },
  {
    name: '--resume_from encoder weights only', flags: () => ['--resume_from', timm],
    re: /^--resume_from .*resnet18_1kpretrained_timm_style\.pth holds encoder weights only; resume needs a \*_withdecoder_\*_spark_style\.pth/, code: 1,
  },
  {
    name: '--resume_from the reference\'s checkpoint of another architecture', flags: () => ['--resume_from', golden('resnet_basic_96.spark_style.pth')],
    re: /^checkpoint .*resnet_basic_96\.spark_style\.pth was made with .*=.* but this model has .*; use matching flags/, code: 1,
  },
  {
    name: '--init_weight a state dict that shares no key with the model', flags: () => {
      const f = path.join(root, 'foreign.pth');
      savePth(f, new PyOrderedDict([['head.fc.weight', { dtype: 'float32', shape: [2, 2], data: new Uint8Array(16) }]]));
      return ['--init_weight', f];
    },
    re: /^checkpoint .*foreign\.pth does not fit the encoder: none of its 1 tensors \(head\.fc\.weight\) is a weight of the encoder$/, code: 1,
  },
  { name: 'the exp dir is a regular file', flags: () => ['--exp_dir', regularFile()], re: /^--exp_dir .*a-file\.txt is not writable \((EEXIST|ENOTDIR)\); choose another folder$/, code: 1 },
  {
    name: 'a run too short for the schedule', flags: () => ['--bs', '8', '--ep', '1'],
    re: /^--ep 1 × 1 iteration\(s\) per epoch \(8 images, --bs 8\) with --wp_ep 0: maxIt must be at least 2/, code: 1,
  },
];

describe('bad input in this process: the same messages, one line each', () => {
  for (const c of inProcess) {
    test(c.name, async () => {
      const snap = expSnapshot();
      const errWrite = process.stderr.write;
      let stderr = '';
      process.stderr.write = ((s: string | Uint8Array) => { stderr += String(s); return true; }) as typeof process.stderr.write;
      let error: unknown;
      try {
        const o = pretrainOptionsFromArgs([...tinyFlags(data, exp), ...c.flags()]);
        assert.ok(o);
        await pretrain({ ...o, stdout: sink() });
      } catch (e) { error = e; } finally { process.stderr.write = errWrite; }
      assert.ok(error instanceof Error, 'the run fails');
      assert.equal(!error.message.includes('\n'), true, `one line: ${error.message}`);
      assert.match(error.message, c.re);
      assert.equal(error instanceof UsageError ? 2 : 1, c.code, 'exit code class');
      assert.equal(stderr, '', 'nothing else on stderr');
      assert.equal(expSnapshot(), snap, 'the exp dir and its checkpoints are untouched');
    });
  }
});

test('after all that, the checkpoints are byte-identical to the ones first written', () => {
  for (const [f, d] of Object.entries(digests)) assert.equal(sha(path.join(exp, f)), d, f);
});
