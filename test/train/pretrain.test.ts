// The pretraining job end to end on a tiny setup (resnet18 at input 32, decoder width 32, 8-9 tiny
// generated images, batch 4, one intra-op thread, decoding on the main thread): a run finishes with
// the files a user expects, reports skipped images, logs every scalar to TensorBoard, and a run
// stopped part-way and resumed equals one run straight through.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { loadPth, isRawTensor, type PyValue, type RawTensor } from '../../src/torch/io/index.js';
import { pretrain, type PretrainOptions, type PretrainResult } from '../../src/train/pretrain.js';
import { loadCheckpoint, disposeCheckpoint, sparkStyleName, timmStyleName } from '../../src/train/checkpoint.js';
import { readEventFile, readJsonl, pngSize, type TbEvent } from '../../src/train/monitor/index.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, writeImage, makeDataset, rmrf } from '../data/fixtures.js';

checkNoLeaks();

const threads = torch.getNumThreads();
let root = '';
let data = '';
before(async () => {
  root = tempDir('sparkts-pretrain-');
  data = path.join(root, 'data');
  fs.mkdirSync(data);
  // 8 images → 2 iterations per epoch at batch 4
  for (let k = 0; k < 8; k++) await writeImage(path.join(data, `img${k}.png`), 40 + k, 36 + 2 * k, k);
});
after(() => {
  torch.setNumThreads(threads);
  rmrf(root);
});

/** A sink for the run's progress output. */
function collector(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _enc, cb) { w.text += String(chunk); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

function options(o: Partial<PretrainOptions> & { dataPath: string; expDir: string }): PretrainOptions {
  return {
    model: 'resnet18', inputSize: 32, mask: 0.6, bs: 4,
    // a large lr so that the weights (and so the losses) move visibly from step to step: a resume that
    // lost the optimizer state or the schedule position would show in the losses
    baseLr: 0.5, wd: 0.04, wde: 0.2, ep: 3, wpEp: 1, clip: 5, opt: 'lamb', ada: 0,
    dp: 0.1,                                   // exercise the drop-path RNG (resnet18 has none by default)
    decoderWidth: 32, initWeight: '', resumeFrom: '', seed: 3, threads: 1, device: 'cpu', workers: 0,
    visEvery: 1, visImages: 3, safetensors: false, maxIters: 0, cmd: 'test', stdout: collector(),
    ...o,
  };
}

test('a run over a folder with a corrupt image finishes, counts the skip, and leaves only the expected files', async () => {
  // 3 good images and a corrupt one at batch 2: both batches of the one epoch together read all 4
  const { root: d, bad } = await makeDataset(3, { corrupt: true });
  const exp = path.join(root, 'exp-corrupt');
  const out = collector();
  const warnings: string[] = [];
  const write = process.stderr.write.bind(process.stderr);
  // the loader's per-file warning goes to stderr; capture it to check it names the file
  process.stderr.write = ((s: string | Uint8Array, ...rest: unknown[]) => {
    warnings.push(String(s));
    return (write as (...a: unknown[]) => boolean)(s, ...rest);
  }) as typeof process.stderr.write;
  let r;
  try {
    // visImages 1: the picture's one image would be the first file in dataset order, class0/corrupt.jpg;
    // the run must show a readable one instead of failing
    r = await pretrain(options({ dataPath: d, expDir: exp, ep: 1, bs: 2, wpEp: 0, visImages: 1, stdout: out }));
  } finally {
    process.stderr.write = write;
    rmrf(d);
  }
  assert.equal(r.iters, 2);
  assert.equal(r.interrupted, false);
  assert.ok(r.losses.every(([, l]) => Number.isFinite(l)), 'every loss is finite');
  assert.match(out.text, /\[data\] 1 unreadable image\(s\) were skipped: .*corrupt\.jpg/);
  assert.match(out.text, /\[pretrain\] finished: 2 iterations/);
  assert.ok(warnings.some((w) => w.includes(path.basename(bad[0]))), `a warning names ${bad[0]}; got ${JSON.stringify(warnings)}`);
  const log = readJsonl(path.join(exp, 'pretrain_log.txt')) as Record<string, unknown>[];
  assert.equal(log[0].images, 4);
  assert.equal(log.at(-1)!.skipped_images, 1);

  // the exp dir holds the checkpoints and the monitoring files, and nothing else (no temp files, no probes)
  const files = fs.readdirSync(exp).sort();
  assert.deepEqual(files, ['loss_curve.png', 'pretrain_log.txt', 'reconstructions', sparkStyleName('resnet18'),
    timmStyleName('resnet18'), 'tensorboard_log'].sort());
  // the timm-style file is the encoder alone; the spark-style one loads as a full checkpoint
  const ck = loadCheckpoint(path.join(exp, sparkStyleName('resnet18')));
  try {
    assert.equal(ck.kind, 'spark');
    assert.equal(ck.arch, 'resnet18');
    assert.equal(ck.epoch, 0);
    assert.equal(ck.resume?.nextIter, 2);
    assert.equal(ck.resume?.losses.length, 2);
  } finally { disposeCheckpoint(ck); }
  const png = fs.readFileSync(path.join(exp, 'reconstructions', 'ep0000.png'));
  assert.deepEqual(pngSize(new Uint8Array(png)), { height: 32 + 2 * 2, width: 4 * 32 + 5 * 2 }, 'a one-image reconstruction grid');
  const timm = loadPth(path.join(exp, timmStyleName('resnet18'))) as Map<PyValue, PyValue>;
  assert.ok([...timm.keys()].every((k) => typeof k === 'string' && !k.startsWith('sparse_encoder') && !k.startsWith('dense_decoder')));
  assert.ok(timm.has('conv1.weight') && timm.has('layer4.1.bn2.running_var'));
});

// One run straight through 3 epochs (6 iterations), shared by the TensorBoard and the resume tests.
let straightRun: Promise<PretrainResult> | undefined;
const straightDir = (): string => path.join(root, 'exp-straight');
const straight = (): Promise<PretrainResult> => (straightRun ??= pretrain(options({ dataPath: data, expDir: straightDir() })));

test('TensorBoard records parse with valid CRCs and hold every scalar of every iteration and the reconstructions', async () => {
  const exp = straightDir();
  const r = await straight();
  assert.equal(r.iters, 6);
  const dir = path.join(exp, 'tensorboard_log');
  const files = fs.readdirSync(dir);
  assert.equal(files.length, 1, `one event file, got ${files}`);
  assert.match(files[0], /^events\.out\.tfevents\.\d+\./);
  const events: TbEvent[] = readEventFile(path.join(dir, files[0]));   // throws on any bad CRC or torn record
  assert.equal(events[0].fileVersion, 'brain.Event:2');
  const scalars = new Map<string, Map<number, number>>();
  const images: { tag: string; step: number; png: Uint8Array; h: number; w: number }[] = [];
  for (const ev of events) {
    for (const v of ev.summary?.value ?? []) {
      if (v.simpleValue !== undefined) {
        if (!scalars.has(v.tag)) scalars.set(v.tag, new Map());
        assert.ok(!scalars.get(v.tag)!.has(ev.step), `${v.tag} logged twice at step ${ev.step}`);
        scalars.get(v.tag)!.set(ev.step, v.simpleValue);
      }
      if (v.image) images.push({ tag: v.tag, step: ev.step, png: v.image.encodedImageString, h: v.image.height, w: v.image.width });
    }
  }
  const iters = [0, 1, 2, 3, 4, 5];
  // the loss of every iteration, as float32 (the Summary's simple_value is a float)
  assert.deepEqual([...scalars.get('train/loss')!.entries()], r.losses.map(([i, l]) => [i, Math.fround(l)]));
  assert.deepEqual(r.losses.map(([i]) => i), iters);
  for (const tag of ['train_hp/lr', 'train_hp/wd', 'train_hp/grad_norm', 'perf/img_per_sec']) {
    const s = scalars.get(tag);
    assert.ok(s, `${tag} logged`);
    assert.deepEqual([...s.keys()], iters, `${tag} at every iteration`);
    for (const [i, v] of s) assert.ok(Number.isFinite(v) && v > 0, `${tag}[${i}] = ${v}`);
  }
  // the schedule: linear warmup over one epoch (2 iterations) to lr = base_lr·bs/256, then cosine down;
  // wd cosine from --wd to --wde
  const lr = scalars.get('train_hp/lr')!, wd = scalars.get('train_hp/wd')!;
  const peak = 0.5 * 4 / 256;
  const l = [...lr.values()], w = [...wd.values()];
  assert.ok(l[0] < l[1] && l[1] < l[2] && l[2] > l[3] && l[3] > l[4] && l[4] > l[5], `lr warms up then decays: ${l}`);
  assert.ok(Math.abs(l[2] - peak) <= 1e-6 * peak, `lr peaks at ${peak}: ${l}`);
  assert.ok(Math.abs(w[0] - 0.04) < 1e-6 && Math.abs(w[5] - 0.2) < 1e-6 && w.every((x, i) => i === 0 || x > w[i - 1]), `wd rises from 0.04 to 0.2: ${w}`);
  assert.deepEqual([...scalars.get('train/min_loss')!.keys()], [0, 1, 2], 'min loss per epoch');
  assert.equal(scalars.get('train/min_loss')!.get(2), Math.fround(r.minLoss));

  // one reconstruction grid per epoch (visEvery 1): 3 rows (images) × 4 columns of 32×32 with 2 px padding
  assert.deepEqual(images.map((i) => i.step), [0, 1, 2]);
  for (const im of images) {
    assert.match(im.tag, /^reconstruction\//);
    assert.deepEqual(pngSize(im.png), { height: 3 * 32 + 4 * 2, width: 4 * 32 + 5 * 2 });
    assert.equal(im.h, 3 * 32 + 4 * 2);
    assert.equal(im.w, 4 * 32 + 5 * 2);
  }
  // the same pictures as PNG files
  const pngs = fs.readdirSync(path.join(exp, 'reconstructions')).sort();
  assert.deepEqual(pngs, ['ep0000.png', 'ep0001.png', 'ep0002.png']);
  assert.deepEqual(new Uint8Array(fs.readFileSync(path.join(exp, 'reconstructions', 'ep0002.png'))), images[2].png);
  // the pictures change as the model learns
  assert.notDeepEqual(images[0].png, images[2].png);
});

/** Float32 values of a raw tensor. */
const f32 = (r: RawTensor): Float32Array => {
  assert.equal(r.dtype, 'float32');
  return new Float32Array(r.data.slice().buffer);
};

/** Every raw tensor inside a Python value, by a path of keys. */
function rawTensors(v: PyValue, at = '', out = new Map<string, RawTensor>()): Map<string, RawTensor> {
  if (isRawTensor(v)) out.set(at, v);
  else if (v instanceof Map) for (const [k, x] of v) rawTensors(x, `${at}/${String(k)}`, out);
  else if (Array.isArray(v)) v.forEach((x, i) => rawTensors(x, `${at}/${i}`, out));
  return out;
}

function maxAbsDiff(a: RawTensor, b: RawTensor): number {
  assert.deepEqual(a.shape, b.shape);
  if (a.dtype !== 'float32') return Buffer.compare(Buffer.from(a.data), Buffer.from(b.data)) === 0 ? 0 : Infinity;
  const x = f32(a), y = f32(b);
  let d = 0;
  for (let i = 0; i < x.length; i++) d = Math.max(d, Math.abs(x[i] - y[i]));
  return d;
}

test('stopped part-way (at an epoch end, then mid-epoch by a stop request) and resumed equals one run straight through', async () => {
  const s0 = await straight();
  const losses = s0.losses.map(([, l]) => l);
  assert.ok(new Set(losses).size === losses.length && Math.abs(losses[5] - losses[0]) > 1e-3,
    `the losses move from step to step (else the comparison below proves little): ${losses}`);

  // 2 iterations (an epoch end: the reconstruction picture is drawn after the save), then 1 (stopped
  // mid-epoch), then the rest; each resumes from the previous run's spark-style checkpoint
  const dir = path.join(root, 'exp-resumed');
  const ckpt = path.join(dir, sparkStyleName('resnet18'));
  const a = await pretrain(options({ dataPath: data, expDir: dir, maxIters: 2 }));
  assert.deepEqual([a.iters, a.interrupted], [2, false]);
  // b is stopped as a signal stops the CLI's run: its handler sets a flag, and like a signal handler
  // ours runs only on an event-loop turn (a setImmediate queued when the first progress line is
  // printed). The run must notice it at the end of that step, not steps later.
  let stop = false;
  const out = new Writable({
    write(chunk, _enc, cb) { if (/\[ep\d+\/\d+\]/.test(String(chunk))) setImmediate(() => { stop = true; }); cb(); },
  });
  const b = await pretrain(options({ dataPath: data, expDir: dir, resumeFrom: ckpt, stdout: out, stopRequested: () => stop }));
  assert.deepEqual([b.iters, b.interrupted], [1, true], 'stopped at the end of the step during which the stop was requested');
  const c = await pretrain(options({ dataPath: data, expDir: dir, resumeFrom: ckpt }));
  assert.equal(c.iters, 3);

  const pieces = [...a.losses, ...b.losses.slice(2), ...c.losses.slice(3)];
  assert.deepEqual(c.losses.map(([i]) => i), [0, 1, 2, 3, 4, 5], 'the final run carries the whole loss history');
  assert.deepEqual(c.losses, pieces, 'the history it carries is what each piece computed');
  for (const [i, l] of pieces) {
    assert.ok(Math.abs(l - losses[i]) <= 1e-6, `iteration ${i}: resumed loss ${l} vs straight ${losses[i]}`);
  }
  assert.equal(c.minLoss, s0.minLoss);
  assert.equal(c.lastLoss, s0.lastLoss);

  // final weights, BN statistics and optimizer state are the same
  const load = (p: string) => loadPth(p) as Map<PyValue, PyValue>;
  const s = load(path.join(straightDir(), sparkStyleName('resnet18'))), r = load(ckpt);
  assert.equal(r.get('epoch'), s.get('epoch'));
  for (const key of ['module', 'optimizer']) {
    const ts = rawTensors(s.get(key)!), tr = rawTensors(r.get(key)!);
    assert.deepEqual([...tr.keys()], [...ts.keys()], `${key}: same tensors`);
    assert.ok(ts.size > 100, `${key} has tensors (${ts.size})`);
    for (const [k, t] of ts) {
      const d = maxAbsDiff(tr.get(k)!, t);
      assert.ok(d <= 1e-6, `${key}${k}: max |resumed − straight| = ${d}`);
    }
  }
  const rs = (s.get('sparkts') as Map<PyValue, PyValue>), rr = (r.get('sparkts') as Map<PyValue, PyValue>);
  for (const k of ['next_iter', 'loader_epoch', 'loader_iter']) assert.equal(rr.get(k), rs.get(k), k);
  for (const [k, t] of rawTensors(rs.get('rng')!)) assert.equal(maxAbsDiff(rawTensors(rr.get('rng')!).get(k)!, t), 0, `rng state ${k}`);
});
