#!/usr/bin/env node
// Converts Fashion-MNIST (the IDX files of Debian's dataset-fashion-mnist) into the image folders that
// `spark pretrain` and `spark finetune` read. Usually run by scripts/fetch-fashion-mnist.sh.
//
//   node scripts/fashion-mnist.mjs --src DIR --out DIR [--per_class K] [--seed S] [--force]
//
// Writes (nothing half-written: each folder is built under a temporary name, then renamed):
//   <out>/full/train/<class>/<index>.png   the 60,000 training images; SparK pretraining reads
//                                          --data_path <out>/full (its train/ only, labels unused)
//   <out>/full/val/<class>/<index>.png     the official 10,000 test images (the val set for fine-tuning)
//   <out>/k<K>_s<S>/train/<class>/...      with --per_class K: K training images per class drawn under
//                                          seed S (symbolic links into full/train), and val -> ../full/val
// <index> is the image's position in the IDX file. Class folders are named 0_tshirt_top .. 9_ankle_boot
// so that sorted folder names give the dataset's label order. Images stay 28×28 greyscale PNGs; the loader
// makes them RGB by replicating the grey channel, as the reference's PIL convert('RGB') does.
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist', 'src');
if (!fs.existsSync(path.join(dist, 'data', 'idx.js'))) {
  console.error('fashion-mnist: the TypeScript build is missing: run `npm run build:ts` (or `bash scripts/setup.sh`) first');
  process.exit(1);
}
const { parseIdx, FASHION_MNIST_CLASSES, labelBudget } = await import(path.join(dist, 'data', 'idx.js'));
const { encodePng } = await import(path.join(dist, 'train', 'monitor', 'png.js'));

function usage(msg) {
  console.error(`fashion-mnist: ${msg} (usage: node scripts/fashion-mnist.mjs --src DIR --out DIR [--per_class K] [--seed S] [--force])`);
  process.exit(2);
}

const opts = { src: null, out: null, per_class: 0, seed: 0, force: false };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const a = argv[i];
  const m = /^--([a-z_-]+)(?:=(.*))?$/.exec(a);
  if (!m) usage(`unexpected argument ${a}`);
  const key = m[1].replace(/-/g, '_');
  if (key === 'force') { opts.force = true; continue; }
  if (!(key in opts)) usage(`unknown option --${m[1]}`);
  const v = m[2] ?? argv[++i];
  if (v === undefined) usage(`--${m[1]} needs a value`);
  opts[key] = v;
}
if (!opts.src || !opts.out) usage('--src and --out are required');
for (const k of ['per_class', 'seed']) {
  const n = Number(opts[k]);
  if (!Number.isSafeInteger(n) || n < 0) usage(`--${k} must be a non-negative integer, got ${opts[k]}`);
  opts[k] = n;
}

function readIdx(name) {
  for (const f of [name, `${name}.gz`]) {
    const p = path.join(opts.src, f);
    if (fs.existsSync(p)) {
      let buf = fs.readFileSync(p);
      if (f.endsWith('.gz')) {
        try { buf = zlib.gunzipSync(buf); } catch (e) { throw new Error(`${p}: not a valid gzip file (${e.message}); reinstall dataset-fashion-mnist`); }
      }
      return parseIdx(new Uint8Array(buf.buffer, buf.byteOffset, buf.length), p);
    }
  }
  throw new Error(`${path.join(opts.src, name)}(.gz) not found: pass --src <folder with the Fashion-MNIST IDX files> (Debian: /usr/share/datasets/fashion-mnist)`);
}

function loadSplit(prefix) {
  const images = readIdx(`${prefix}-images-idx3-ubyte`);
  const labels = readIdx(`${prefix}-labels-idx1-ubyte`);
  const [n, h, w] = images.shape;
  if (images.shape.length !== 3 || labels.shape.length !== 1 || labels.shape[0] !== n) {
    throw new Error(`${prefix}: images [${images.shape}] and labels [${labels.shape}] do not match (expected [N, 28, 28] and [N])`);
  }
  for (const l of labels.data) if (l >= FASHION_MNIST_CLASSES.length) throw new Error(`${prefix}: label ${l} is not a Fashion-MNIST class (0..9)`);
  return { n, h, w, images: images.data, labels: labels.data };
}

const pad = (i) => String(i).padStart(5, '0');

function writeSplit(split, dir) {
  for (const c of FASHION_MNIST_CLASSES) fs.mkdirSync(path.join(dir, c), { recursive: true });
  const per = split.h * split.w;
  for (let i = 0; i < split.n; i++) {
    const png = encodePng(split.images.subarray(i * per, (i + 1) * per), split.h, split.w, 1);
    fs.writeFileSync(path.join(dir, FASHION_MNIST_CLASSES[split.labels[i]], `${pad(i)}.png`), png);
  }
}

// Build `final` through `final.tmp-<pid>`; an existing complete folder is kept unless --force.
function buildFolder(final, stamp, fill) {
  const stampFile = path.join(final, '.complete');
  if (!opts.force && fs.existsSync(stampFile) && fs.readFileSync(stampFile, 'utf8') === stamp) return false;
  const tmp = `${final}.tmp-${process.pid}`;
  fs.rmSync(tmp, { recursive: true, force: true });
  fs.mkdirSync(tmp, { recursive: true });
  try {
    fill(tmp);
    fs.writeFileSync(path.join(tmp, '.complete'), stamp);
    fs.rmSync(final, { recursive: true, force: true });
    fs.renameSync(tmp, final);
  } catch (e) {
    fs.rmSync(tmp, { recursive: true, force: true });
    throw e;
  }
  return true;
}

try {
  const t0 = performance.now();
  fs.mkdirSync(opts.out, { recursive: true });
  const full = path.join(opts.out, 'full');
  const train = loadSplit('train');
  const built = buildFolder(full, 'fashion-mnist-full-v1', (tmp) => {
    writeSplit(train, path.join(tmp, 'train'));
    writeSplit(loadSplit('t10k'), path.join(tmp, 'val'));
  });
  console.log(`${built ? 'wrote' : 'kept'} ${full}: train ${train.n} images (unlabelled pretraining: --data_path ${full}), val 10000`);
  if (opts.per_class > 0) {
    const sub = path.join(opts.out, `k${opts.per_class}_s${opts.seed}`);
    const picked = labelBudget(train.labels, FASHION_MNIST_CLASSES.length, opts.per_class, opts.seed);
    const builtSub = buildFolder(sub, `fashion-mnist-budget-v1 ${picked.join(',')}`, (tmp) => {
      for (const c of FASHION_MNIST_CLASSES) fs.mkdirSync(path.join(tmp, 'train', c), { recursive: true });
      for (const i of picked) {
        const rel = path.join(FASHION_MNIST_CLASSES[train.labels[i]], `${pad(i)}.png`);
        fs.symlinkSync(path.join('..', '..', '..', 'full', 'train', rel), path.join(tmp, 'train', rel));
      }
      fs.symlinkSync(path.join('..', 'full', 'val'), path.join(tmp, 'val'));
    });
    console.log(`${builtSub ? 'wrote' : 'kept'} ${sub}: ${picked.length} labelled training images (${opts.per_class} per class, seed ${opts.seed}), val -> full/val`);
  }
  console.log(`fashion-mnist: done in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
} catch (e) {
  console.error(`fashion-mnist: ${e.message}`);
  process.exit(1);
}
