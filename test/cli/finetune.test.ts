// `spark finetune` and `spark eval` as a user runs them: SIGINT saves and exits 0 with a resumable
// checkpoint; every bad input is one error line, a non-zero exit, and an exp dir left as it was;
// `spark eval --json`; the fine-tune checkpoint loads in PyTorch (torchvision's resnet18, and timm's
// create_model when timm is importable) and gives the same logits (skipped without Python torch).
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { createClassifier, createPretrainEncoder } from '../../src/models/index.js';
import { finetune, type FinetuneResult } from '../../src/train/finetune.js';
import { finetunedName, readFinetuneResume } from '../../src/train/ft_checkpoint.js';
import { loadCheckpoint, disposeCheckpoint, saveTimmStyle } from '../../src/train/checkpoint.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf, encodeMultibandTiff } from '../data/fixtures.js';
import { photoDataset } from '../train/ft_support.js';
import { spark, assertOneErrorLine } from './support.js';

checkNoLeaks();

const threads = torch.getNumThreads();
let root = '', data = '', exp = '', last = '';
let run: FinetuneResult;
const quiet = (): Writable => new Writable({ write(_c, _e, cb) { cb(); } });

before(async () => {
  root = tempDir('sparkts-cli-finetune-');
  data = await photoDataset(path.join(root, 'data'));
  exp = path.join(root, 'exp');
  // one epoch of a 4-class run: the checkpoint the bad-input cases resume from, and their exp dir
  run = await finetune({ dataPath: data, model: 'resnet18', expDir: exp, imgSize: 32, bs: 8, ep: 2, wpEp: 0, opt: 'adam', baseLr: 0.1,
    threads: 1, workers: 0, maxIters: 2, stdout: quiet() });
  last = run.files.last;
});
after(() => { torch.setNumThreads(threads); rmrf(root); });

const tiny = (dataPath: string, expDir: string): string[] => ['--data_path', dataPath, '--exp_dir', expDir, '--model', 'resnet18', '--img_size', '32',
  '--bs', '8', '--threads', '1', '--workers', '0', '--wp_ep', '0', '--opt', 'adam', '--base_lr', '0.1'];

/** What a failing run may not change: the exp dir's entries and each file's inode, size and mtime. */
function snapshot(dir: string): string {
  const walk = (d: string): unknown[] => fs.readdirSync(d).sort().map((f) => {
    const p = path.join(d, f), s = fs.statSync(p);
    return [f, s.isFile() ? [s.ino, s.size, s.mtimeMs] : walk(p)];
  });
  return JSON.stringify(walk(dir));
}

test('SIGINT after the first progress line: the step finishes, _last.pth is saved with the exact position, exit 0', async () => {
  const dir = path.join(root, 'exp-signal');
  let sent = false;
  const r = await spark(['finetune', ...tiny(data, dir), '--ep', '1000'], {
    onStdout: (text, p) => { if (!sent && /\[ep0\/1000\]\s+\[1\/2\]/.test(text)) { sent = true; p.kill('SIGINT'); } },
    timeoutMs: 240_000,
  });
  assert.ok(sent, `no progress line seen:\n${r.stdout}\n${r.stderr}`);
  assert.equal(r.code, 0, `exit code; stderr:\n${r.stderr}`);
  assert.match(r.stderr, /\[finetune\] SIGINT: finishing the current step and saving a checkpoint/);
  const m = /\[finetune\] stopped at iteration (\d+); checkpoint saved to (.*); resume with --resume_from (.*)/.exec(r.stdout);
  assert.ok(m, `stop message:\n${r.stdout}`);
  const n = Number(m[1]);
  assert.ok(n >= 1 && n <= 3, `stopped at iteration ${n}, signalled after iteration 1`);
  const file = path.join(dir, finetunedName('resnet18', 'last'));
  assert.equal(m[2], file);
  const c = loadCheckpoint(file);
  try {
    const rec = readFinetuneResume(c)!;
    try {
      assert.deepEqual([c.kind, rec.nextIter, rec.loaderEpoch, rec.loaderIter, rec.numClasses], ['finetune', n, Math.floor(n / 2), n % 2, 4]);
      assert.equal(c.epoch, Math.floor(n / 2) - 1, 'epoch = the last completed one');
    } finally { for (const t of rec.rng.values()) t.dispose(); }
  } finally { disposeCheckpoint(c); }
});

interface Case { name: string; args: () => string[]; re: RegExp; code?: number; allowed?: RegExp }
const folder = (name: string, layout: Record<string, string[]>): string => {
  const d = path.join(root, name);
  for (const [dir, files] of Object.entries(layout)) {
    fs.mkdirSync(path.join(d, dir), { recursive: true });
    for (const f of files) fs.copyFileSync(path.join(data, 'train', '0_astronaut', 'astronaut_0.png'), path.join(d, dir, f));
  }
  return d;
};
const r18Timm = (): string => {
  const f = path.join(root, 'r18_timm.pth');
  if (!fs.existsSync(f)) { const e = createPretrainEncoder('resnet18', { skipInit: true }); saveTimmStyle(f, e); e.dispose(); }
  return f;
};
const bandsData = (): string => {
  const d = path.join(root, 'bands');
  if (!fs.existsSync(d)) {
    fs.cpSync(data, d, { recursive: true });
    fs.writeFileSync(path.join(d, 'train', '1_camera', 'bands.tif'), encodeMultibandTiff(40, 40, 5));
  }
  return d;
};

const cases: Case[] = [
  { name: 'unknown --opt', args: () => [...tiny(data, exp), '--opt', 'sgd'], re: /^spark: error: unknown --opt 'sgd'; choose adam, adamw or lamb/ },
  { name: 'no train/ folder', args: () => tiny(folder('noval', { 'val/a': ['x.png'] }), exp), re: /^spark: error: no train\/ folder in .*noval: fine-tuning needs the ImageNet layout/ },
  { name: 'no val/ folder', args: () => tiny(folder('notrain', { 'train/a': ['x.png'] }), exp), re: /^spark: error: no val\/ folder in .*notrain/ },
  {
    name: 'class sets that differ', args: () => tiny(folder('differ', { 'train/a': ['x.png'], 'train/b': ['x.png'], 'val/a': ['x.png'], 'val/c': ['x.png'] }), exp),
    re: /^spark: error: train\/ and val\/ of .*differ have different classes: only in train: b; only in val: c/,
  },
  { name: 'an image of another channel count', args: () => tiny(bandsData(), exp), re: /^spark: error: .*bands\.tif.*image has 5 channels; expected 1 \(grey\), 2 \(grey\+alpha\), 3 \(RGB\) or 4/ },
  {
    name: 'a checkpoint of another architecture (bare state dict: first mismatched key, both shapes)', args: () => [...tiny(data, exp), '--model', 'resnet50', '--resume_from', r18Timm()],
    re: /^spark: error: checkpoint .*r18_timm\.pth does not fit resnet50: size mismatch for layer1\.0\.conv1\.weight: the checkpoint has \[64,64,3,3\], the model has \[64,64,1,1\]; pass the --model it was made for$/,
  },
  { name: 'a fine-tune checkpoint of another architecture', args: () => [...tiny(data, exp), '--model', 'resnet34', '--resume_from', last], re: /^spark: error: checkpoint .* was saved for resnet18, not resnet34; pass --model resnet18$/ },
  { name: '--num_classes disagreeing with the resumed run', args: () => [...tiny(data, exp), '--num_classes', '5', '--resume_from', last], re: /^spark: error: --num_classes 5 disagrees with the run in .*resnet18_1kfinetuned_last\.pth \(4 classes\); drop --num_classes/ },
  { name: 'another --bs than the resumed run (its recorded position would mean another image)', args: () => [...tiny(data, exp), '--bs', '4', '--resume_from', last], re: /^spark: error: --bs 4 differs from the run in .*resnet18_1kfinetuned_last\.pth \(8\); resume it with --bs 8, or start a new run in another --exp_dir$/ },
  { name: '--num_classes below the class folders', args: () => [...tiny(data, exp), '--num_classes', '3'], re: /^spark: error: --num_classes 3 cannot hold the 4 class folders of .*; pass --num_classes 4 or more$/ },
  { name: 'a run too short for the lr schedule (1 iteration in all)', args: () => [...tiny(data, exp), '--bs', '16', '--ep', '1'], re: /^spark: error: --ep 1 × 1 iteration per epoch is 1 iteration in all; the lr schedule needs at least 2: pass a larger --ep or a smaller --bs$/ },
  { name: 'unknown flag', args: () => [...tiny(data, exp), '--learning_rate', '1'], re: /^spark: error: unknown flag --learning_rate/, code: 2 },
  { name: 'eval: a pretraining checkpoint', args: () => ['eval', '--ckpt', r18Timm(), '--data_path', data, '--model', 'resnet18'], re: /^spark: error: checkpoint .*r18_timm\.pth has no classifier \(fc\.weight\); it holds encoder weights only/ },
];

for (const c of cases) {
  test(`bad input, one error line, nothing overwritten: ${c.name}`, async () => {
    const args = c.args();
    const snap = snapshot(exp);
    const r = await spark(args[0] === 'eval' ? args : ['finetune', ...args], { timeoutMs: 120_000 });
    assertOneErrorLine(r, c.re, { code: c.code ?? 1, allowed: c.allowed ?? /^\[(finetune|data)\]|^\[try to resume|^\[load_checkpoint\]/ });
    assert.equal(snapshot(exp), snap, 'the exp dir is unchanged');
  });
}

test('spark eval --json: top-1/top-5/per class of the fine-tuned checkpoint; --ema the EMA\'s', async () => {
  const r = await spark(['eval', '--ckpt', last, '--data_path', data, '--json', '--threads', '1', '--workers', '0'], { timeoutMs: 120_000 });
  assert.equal(r.code, 0, r.stderr);
  const j = JSON.parse(r.stdout);
  assert.deepEqual([j.model, j.count, j.numClasses, j.imgSize, j.ema, j.epoch], ['resnet18', 4, 4, 32, false, 0]);
  assert.equal(j.top1, run.lastAcc);
  assert.deepEqual(j.perClass.map((c: { name: string; count: number }) => [c.name, c.count]), run.classes.map((c) => [c, 1]));
  const t = await spark(['eval', '--ckpt', last, '--data_path', path.join(data, 'val'), '--ema', '--threads', '1', '--workers', '0'], { timeoutMs: 120_000 });
  assert.equal(t.code, 0, t.stderr);
  assert.match(t.stdout, new RegExp(`^\\[eval\\] resnet18 \\(EMA\\) from .*: 4 images, 4 classes, img_size 32\\ntop-1 ${run.lastAccEma.toFixed(2)}   top-5 100\\.00\\n`));
});

const PY = '/usr/bin/python3';
const hasTorch = spawnSync(PY, ['-c', 'import torch, torchvision'], { stdio: 'ignore' }).status === 0;
const TIMM = process.env.SPARKTS_TIMM ?? '/work/ref/timm054';

test('the fine-tune checkpoint loads in PyTorch (torchvision resnet18; timm.create_model when importable) and gives our logits', { skip: hasTorch ? false : 'no python3 torch/torchvision' }, () => {
  // a fixed input through our model loaded from the file, and through PyTorch's
  const net = createClassifier('resnet18', { numClasses: 4, skipInit: true });
  const c = loadCheckpoint(last);
  let ours: number[];
  try {
    torch.tidy(() => net.loadStateDict(c.module));
    net.eval();
    ours = torch.tidy(() => torch.noGrad(() => Array.from((net.forward(torch.linspace(-1, 1, 2 * 3 * 32 * 32).view([2, 3, 32, 32])) as torch.Tensor).toTypedArray() as Float32Array)));
  } finally { disposeCheckpoint(c); net.dispose(); }
  const script = `
import json, sys, torch, torchvision
ck = torch.load(sys.argv[1], map_location='cpu')
out = {'keys': list(ck.keys())[:8], 'is_pretrain': ck['is_pretrain'], 'arch': ck['arch']}
m = torchvision.models.resnet18(num_classes=4)
m.load_state_dict(ck['module']); m.load_state_dict(ck['ema'])   # strict: every key and shape
m.load_state_dict(ck['module']); m.eval()
x = torch.linspace(-1, 1, 2 * 3 * 32 * 32).view(2, 3, 32, 32)
with torch.no_grad(): out['logits'] = m(x).flatten().tolist()
try:
    sys.path.insert(0, sys.argv[2]); import timm
    t = timm.create_model('resnet18', num_classes=4); t.load_state_dict(ck['module']); t.eval()
    with torch.no_grad(): out['timm_logits'] = t(x).flatten().tolist()
except ImportError:
    out['timm_logits'] = None
print(json.dumps(out))
`;
  const p = spawnSync(PY, ['-c', script, last, TIMM], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(p.status, 0, p.stderr);
  const j = JSON.parse(p.stdout.trim().split('\n').at(-1)!);
  assert.deepEqual([j.keys, j.is_pretrain, j.arch], [['args', 'arch', 'epoch', 'performance_desc', 'module', 'ema', 'optimizer', 'is_pretrain'], false, 'resnet18']);
  for (const [name, logits] of [['torchvision', j.logits], ['timm', j.timm_logits]] as const) {
    if (logits === null) continue;   // timm not importable here
    assert.equal(logits.length, ours.length);
    logits.forEach((v: number, i: number) => assert.ok(Math.abs(v - ours[i]!) <= 1e-4 * Math.max(1, Math.abs(v)), `${name} logit ${i}: ${v} vs ours ${ours[i]}`));
  }
});
