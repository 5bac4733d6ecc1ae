// (job level; the recipe pieces are in finetune.test.ts)
// The fine-tuning job end to end on a few real photographs (4 classes, 16 train / 8 val crops at 32 px,
// resnet18, one intra-op thread, decoding on the main thread): accuracy rises above chance, the files
// are the reference's (checkpoint layout, finetune_log.txt, TensorBoard tags, accuracy curve), a run
// stopped at an epoch boundary and inside an epoch and resumed equals one run straight through, and
// the weights a fine-tune starts from load as the reference's loader would load them, or are refused.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { loadPth, type PyValue } from '../../src/torch/io/index.js';
import { createClassifier, createPretrainEncoder } from '../../src/models/index.js';
import { SparK } from '../../src/spark/index.js';
import { finetune, evalEpochs, pyFloat, pyJson, type FinetuneResult } from '../../src/train/finetune.js';
import type { FinetuneOptions } from '../../src/train/finetune_options.js';
import { loadCheckpoint, disposeCheckpoint, saveTimmStyle, saveSparkStyle } from '../../src/train/checkpoint.js';
import { loadModelWeights, finetunedName } from '../../src/train/ft_checkpoint.js';
import { evaluate } from '../../src/train/eval_checkpoint.js';
import { readEventFile, pngSize } from '../../src/train/monitor/index.js';
import { LAMB } from '../../src/torch/optim/index.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { photoDataset } from './ft_support.js';

checkNoLeaks();

const threads = torch.getNumThreads();
let root = '';
let data = '';
before(async () => {
  root = tempDir('sparkts-finetune-');
  data = await photoDataset(path.join(root, 'data'), { valPerClass: 2 });
});
after(() => {
  torch.setNumThreads(threads);
  rmrf(root);
});

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _enc, cb) { w.text += String(chunk); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

const tiny = (o: Partial<FinetuneOptions> & { expDir: string }): FinetuneOptions => ({
  dataPath: data, model: 'resnet18', imgSize: 32, bs: 8, ep: 3, wpEp: 1, threads: 1, workers: 0, seed: 0, stdout: sink(), ...o,
});

test('ep_eval, Python float repr and json.dump lines are the reference\'s', () => {
  // main.py: set(range(0, ep//3, 5)) | set(range(ep//3, ep))
  assert.deepEqual([...evalEpochs(30)].sort((a, b) => a - b), [0, 5, ...Array.from({ length: 20 }, (_, i) => 10 + i)]);
  assert.deepEqual([...evalEpochs(3)].sort(), [0, 1, 2]);
  assert.deepEqual([...evalEpochs(2)].sort(), [0, 1]);
  // repr(float) in Python 3
  assert.deepEqual([0, 1, 12.5, 1e-5, 0.0001, 1.5e16, 1e15, -2.25, 1 / 3].map(pyFloat),
    ['0.0', '1.0', '12.5', '1e-05', '0.0001', '1.5e+16', '1000000000000000.0', '-2.25', '0.3333333333333333']);
  assert.equal(pyJson({ cur_ep: '1/3', train_L: 0.5, train_acc: 50, rema: '0:00:01' }), '{"cur_ep": "1/3", "train_L": 0.5, "train_acc": 50.0, "rema": "0:00:01"}');
});

test('a tiny fine-tune on real photographs: top-1 rises well above chance; the reference\'s files', async () => {
  const exp = path.join(root, 'exp-learn');
  const out = sink();
  const progress: string[] = [];
  // adam at a high lr so that 8 short epochs suffice; no mixing or drop path to learn fast
  const r = await finetune(tiny({ expDir: exp, ep: 8, opt: 'adam', baseLr: 0.3, mixup: 0, dropPath: 0, ema: 0.9, stdout: out, onProgress: (p) => progress.push(p.kind) }));
  assert.equal(r.interrupted, false);
  assert.equal(r.iters, 16);
  assert.deepEqual([r.numClasses, r.classes], [4, ['0_astronaut', '1_camera', '2_chelsea', '3_coffee']]);
  // chance is 25% (4 classes, 8 val crops); the run starts there and ends far above it
  const initial = Number(/\[fine-tune\] initial acc=([\d.]+)/.exec(out.text)![1]);
  assert.ok(initial <= 50, `initial accuracy ${initial}`);
  assert.ok(r.lastAcc >= 75, `final top-1 ${r.lastAcc}% (chance 25%); history ${JSON.stringify(r.history)}`);
  const lastTrain = r.history.slice(-3).reduce((t, h) => t + h.trainAcc, 0) / 3;
  assert.ok(lastTrain >= 50, `training accuracy of the last 3 epochs ${lastTrain}% (chance 25%); per epoch ${r.history.map((h) => h.trainAcc)}`);
  assert.equal(r.bestAcc, Math.max(r.maxAcc, r.maxAccEma));
  assert.deepEqual(progress.filter((k) => k === 'step').length, 16);
  // ep_eval for 8 epochs: range(0, 2, 5) ∪ range(2, 8) = every epoch but 1
  assert.deepEqual(progress.filter((k) => k === 'eval').length, 7);
  assert.ok(Number.isNaN(r.history[1]!.acc) && r.history.every((h, e) => e === 1 || Number.isFinite(h.acc)));

  // the exp dir: the three checkpoints, the log, TensorBoard, the curve, nothing else
  assert.deepEqual(fs.readdirSync(exp).sort(), ['accuracy_curve.png', 'finetune_log.txt', finetunedName('resnet18', 'best'),
    finetunedName('resnet18', 'best_ema'), finetunedName('resnet18', 'last'), 'tensorboard_log'].sort());
  // util.py save_checkpoint's layout
  const ck = loadPth(r.files.last) as Map<PyValue, PyValue>;
  assert.deepEqual([...ck.keys()].slice(0, 8), ['args', 'arch', 'epoch', 'performance_desc', 'module', 'ema', 'optimizer', 'is_pretrain']);
  assert.deepEqual([ck.get('arch'), ck.get('epoch'), ck.get('is_pretrain')], ['resnet18', 7n, false]);
  assert.match(String(ck.get('performance_desc')), /^Max \(Last\) Acc: [\d.]+ \([\d.]+ o 8\.0\)    EMA: [\d.]+ \([\d.]+ o 8\.0\)$/);
  const module = ck.get('module') as Map<PyValue, PyValue>;
  assert.ok(module.has('fc.weight') && module.has('layer4.1.bn2.num_batches_tracked'));
  assert.deepEqual([...(ck.get('ema') as Map<PyValue, PyValue>).keys()], [...module.keys()]);

  // finetune_log.txt as arg.py writes it: the header dict, a blank line, the initial line, one per epoch, the final one
  const lines = fs.readFileSync(r.files.log, 'utf8').split('\n');
  assert.match(lines[0], /^\{"name": "exp-learn", "cmd": "", "git_commit_id": "[0-9a-f]*", "git_commit_msg": ".*", "model": "resnet18"\}$/);
  assert.equal(lines[1], '');
  assert.equal(lines[2], '{"cur_ep": "", "train_L": 0.0, "train_acc": 0.0, "best_val_acc": 0.0, "rema": "", "fini": ""}');
  const epochs = lines.slice(3, 11);
  epochs.forEach((l, e) => assert.match(l, new RegExp(`^\\{"cur_ep": "${e + 1}/8", "train_L": [\\d.e-]+, "train_acc": [\\d.]+, "best_val_acc": [\\d.]+, "rema": "\\d+:\\d\\d:\\d\\d", "fini": "\\d\\d-\\d\\d \\d\\d:\\d\\d"\\}$`)));
  assert.match(lines[11], /^\{"cur_ep": "8\/8", .*"rema": "-", "fini": "\d\d-\d\d \d\d:\d\d"\}$/);
  assert.equal(lines[12], '');

  // TensorBoard: the reference's tags
  const tbDir = path.join(exp, 'tensorboard_log');
  const tags = new Map<string, number[]>();
  for (const f of fs.readdirSync(tbDir)) {
    for (const ev of readEventFile(path.join(tbDir, f))) {
      for (const v of ev.summary?.value ?? []) if (v.simpleValue !== undefined) tags.set(v.tag, [...(tags.get(v.tag) ?? []), ev.step]);
    }
  }
  // log_freq = round(2 · 0.7) = 1: every iteration
  for (const t of ['ft_train/it_loss', 'ft_train/it_acc', 'ft_hp/min_lr', 'ft_hp/max_lr', 'ft_hp/min_wd', 'ft_hp/max_wd']) {
    assert.deepEqual(tags.get(t), Array.from({ length: 16 }, (_, i) => i), t);
  }
  assert.equal(tags.get('ft_hp/orig_norm'), undefined, 'no clipping: no orig_norm');
  for (const t of ['ft_train/ep_loss', 'ft_eval/max_acc', 'ft_eval/last_acc', 'ft_eval/max_acc_ema', 'ft_eval/last_acc_ema', 'ft_z_burnout/rest_hours']) {
    assert.deepEqual(tags.get(t), [0, 1, 2, 3, 4, 5, 6, 7], t);
  }
  assert.deepEqual(tags.get('ft_result/result_acc'), [0, 8]);
  assert.deepEqual(pngSize(new Uint8Array(fs.readFileSync(r.files.accuracyCurve))), { height: 500, width: 800 });

  // spark eval on the saved files reproduces the run's last evaluations (a round trip through the files)
  const ev = await evaluate({ ckpt: r.files.last, dataPath: data, workers: 0, threads: 1 });
  assert.deepEqual([ev.model, ev.count, ev.imgSize, ev.numClasses, ev.epoch], ['resnet18', 8, 32, 4, 7]);
  assert.equal(ev.top1, r.lastAcc);
  assert.ok(ev.top5 >= ev.top1 && ev.top5 === 100, 'top-5 of 4 classes is every image');
  assert.deepEqual(ev.perClass.map((c) => [c.name, c.count]), r.classes.map((c) => [c, 2]));
  assert.equal(ev.perClass.reduce((s, c) => s + c.top1 * c.count / 100, 0), ev.top1 * ev.count / 100);
  const evE = await evaluate({ ckpt: r.files.last, dataPath: data, ema: true, workers: 0, threads: 1 });
  assert.equal(evE.top1, r.lastAccEma);
});

// One run straight through 3 epochs (2 iterations each) with mixing, drop path and LAMB, against the
// same run stopped after epoch 0 (a boundary), resumed and stopped after one more iteration (inside
// epoch 1), and resumed to the end.
test('exact resume: stopped at an epoch boundary and inside an epoch, resumed, equals the run straight through', async () => {
  const base = { opt: 'lamb', baseLr: 0.05, mixup: 0.8, dropPath: 0.1, ema: 0.9, clip: 3 };
  const straightDir = path.join(root, 'exp-straight');
  const s = await finetune(tiny({ ...base, expDir: straightDir }));
  const chainDir = path.join(root, 'exp-chain');
  const last = path.join(chainDir, finetunedName('resnet18', 'last'));
  const r1 = await finetune(tiny({ ...base, expDir: chainDir, maxIters: 2 }));
  assert.deepEqual([r1.iters, r1.interrupted, r1.history.length], [2, false, 1]);
  const out2 = sink();
  const r2 = await finetune(tiny({ ...base, expDir: chainDir, resumeFrom: last, maxIters: 1, stdout: out2 }));
  assert.match(out2.text, /resuming at iteration 2\b/);
  assert.equal(r2.iters, 1);
  const c2 = loadCheckpoint(last);
  try { assert.equal(c2.epoch, 0, 'stopped inside epoch 1: the last completed epoch is 0'); } finally { disposeCheckpoint(c2); }
  const r3 = await finetune(tiny({ ...base, expDir: chainDir, resumeFrom: last }));
  assert.equal(r3.iters, 3);

  assert.deepEqual(r3.history, s.history, 'per-epoch train loss/acc and evaluations');
  assert.deepEqual([r3.lastAcc, r3.lastAccEma, r3.maxAcc, r3.maxAccEma, r3.performanceDesc], [s.lastAcc, s.lastAccEma, s.maxAcc, s.maxAccEma, s.performanceDesc]);
  const a = loadCheckpoint(s.files.last), b = loadCheckpoint(last);
  try {
    assert.equal(b.epoch, a.epoch);
    for (const [which, ma, mb] of [['module', a.module, b.module], ['ema', a.ema!, b.ema!]] as const) {
      assert.deepEqual([...mb.keys()], [...ma.keys()]);
      for (const [k, t] of ma) assert.ok(torch.tidy(() => t.equal(mb.get(k)!)), `${which}.${k} differs after resuming`);
    }
  } finally { disposeCheckpoint(a); disposeCheckpoint(b); }
  // the optimizer state too (LAMB's moments), compared through the files
  const oa = (loadPth(s.files.last) as Map<PyValue, PyValue>).get('optimizer'), ob = (loadPth(last) as Map<PyValue, PyValue>).get('optimizer');
  assert.deepEqual(ob, oa);

  // a finished run resumed again: main.py's "[FT already done]", nothing trained or written
  const before = fs.statSync(last).mtimeMs;
  const out4 = sink();
  const r4 = await finetune(tiny({ ...base, expDir: chainDir, resumeFrom: last, stdout: out4 }));
  assert.deepEqual([r4.alreadyDone, r4.iters], [true, 0]);
  assert.match(out4.text, /\[\*\] \[FT already done\]    Max\/Last Acc: Max \(Last\) Acc: /);
  assert.equal(fs.statSync(last).mtimeMs, before);
});

test('weights in: a timm-style encoder (fc missing, as expected), a SparK checkpoint\'s encoder; another architecture refused in one line', () => {
  torch.manualSeed(1);
  const enc = createPretrainEncoder('resnet18');
  const timm = path.join(root, 'r18_timm.pth');
  saveTimmStyle(timm, enc);
  const spark = new SparK(createPretrainEncoder('resnet18'), { inputSize: 64, decoderWidth: 32 });
  const sparkFile = path.join(root, 'r18_spark.pth');
  const opt = new LAMB(getParamGroups(spark), { lr: 1e-3 });
  saveSparkStyle(sparkFile, spark, { args: 'test', arch: 'resnet18', inputSize: 64, epoch: 0, performanceDesc: '-', optimizer: opt });
  const net = createClassifier('resnet18', { numClasses: 4, skipInit: true });
  const r50 = createClassifier('resnet50', { numClasses: 4, skipInit: true });
  const prefixes = ['fc.'];
  try {
    for (const [file, source] of [[timm, enc], [sparkFile, spark.sparse_encoder.sp_cnn]] as const) {
      const c = loadCheckpoint(file);
      try {
        const rep = loadModelWeights(net, c, { model: 'resnet18', classifierPrefixes: prefixes, strict: false });
        assert.deepEqual([rep.missingKeys, rep.unexpectedKeys, rep.epStart], [['fc.weight', 'fc.bias'], [], 0]);
        assert.equal(rep.fromSparkEncoder, file === sparkFile);
        const src = source.stateDict(), dst = net.stateDict();
        for (const [k, t] of src) assert.ok(torch.tidy(() => t.equal(dst.get(k)!)), `${k} loaded from ${path.basename(file)}`);
      } finally { disposeCheckpoint(c); }
    }
    // resnet18's weights into resnet50: the first mismatched key and both shapes
    const c = loadCheckpoint(timm);
    try {
      assert.throws(() => loadModelWeights(r50, c, { model: 'resnet50', classifierPrefixes: prefixes, strict: false }),
        (e: Error) => /^checkpoint .*r18_timm\.pth does not fit resnet50: size mismatch for layer1\.0\.conv1\.weight: the checkpoint has \[64,64,3,3\], the model has \[64,64,1,1\]; pass the --model it was made for$/.test(e.message));
    } finally { disposeCheckpoint(c); }
    // resnet34 holds every name of resnet18 (and more): refused, naming the first extra tensor
    const r34 = createPretrainEncoder('resnet34', { skipInit: true });
    const f34 = path.join(root, 'r34_timm.pth');
    saveTimmStyle(f34, r34);
    r34.dispose();
    const c34 = loadCheckpoint(f34);
    try {
      assert.throws(() => loadModelWeights(net, c34, { model: 'resnet18', classifierPrefixes: prefixes, strict: false }),
        /does not fit resnet18: resnet18 has no layer1\.2\.conv1\.weight \(nor \d+ more of the file's tensors\)/);
    } finally { disposeCheckpoint(c34); }
  } finally {
    enc.dispose(); net.dispose(); r50.dispose();
    for (const t of [...spark.parameters(), ...spark.buffers()]) t.dispose();
    opt.disposeState();
  }
});

test('a run result names its files and the resolved recipe', async () => {
  // the defaults come from the registry record when not given (resnet18: the resnet50 row)
  const exp = path.join(root, 'exp-defaults');
  const r: FinetuneResult = await finetune({ dataPath: data, model: 'resnet18', expDir: exp, imgSize: 32, bs: 8, ep: 1, wpEp: 0, threads: 1, workers: 0, maxIters: 1, stdout: sink() });
  assert.deepEqual([r.options.opt, r.options.baseLr, r.options.lrScale, r.options.wd, r.options.mixup, r.options.repAug, r.options.dropPath, r.options.ema],
    ['lamb', 0.002, 0.7, 0.02, 0.1, 0, 0.05, 0.9999]);
  assert.equal(r.options.lr, 0.002 * 8 / 256);
  assert.deepEqual(r.options.fromRecipe, ['opt', 'base_lr', 'lr_scale', 'wd', 'mixup', 'rep_aug', 'drop_path', 'ema']);
  assert.equal(r.files.last, path.join(exp, 'resnet18_1kfinetuned_last.pth'));
});
