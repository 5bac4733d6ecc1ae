import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import sharp from 'sharp';
import { FASHION_MNIST_CLASSES, labelBudget, parseIdx } from '../../src/data/idx.js';
import { openClassificationFolders } from '../../src/data/classes.js';
import { repoRoot } from '../../src/data/demo.js';
import { rmrf, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

/** An IDX file of unsigned bytes, written from the format description (big-endian sizes). */
function idx(shape: number[], data: Uint8Array): Uint8Array {
  const head = new Uint8Array(4 + 4 * shape.length);
  head.set([0, 0, 0x08, shape.length]);
  const dv = new DataView(head.buffer);
  shape.forEach((s, d) => dv.setUint32(4 + 4 * d, s, false));
  const out = new Uint8Array(head.length + data.length);
  out.set(head);
  out.set(data, head.length);
  return out;
}

test('IDX parsing: shape and data; bad files fail with one line', () => {
  const a = parseIdx(idx([2, 3], Uint8Array.of(1, 2, 3, 4, 5, 6)));
  assert.deepEqual(a.shape, [2, 3]);
  assert.deepEqual([...a.data], [1, 2, 3, 4, 5, 6]);
  assert.throws(() => parseIdx(Uint8Array.of(1, 2, 3, 4), 'x.idx'), /^Error: x\.idx: not an IDX file \(bad magic number\)/);
  assert.throws(() => parseIdx(Uint8Array.of(0, 0, 0x0d, 1, 0, 0, 0, 0)), /element type 0xd is not unsigned byte/);
  assert.throws(() => parseIdx(idx([2, 3], Uint8Array.of(1, 2, 3))), /3 data bytes for shape \[2, 3\] \(6 expected\)/);
});

test('label budget: K per class, without replacement, sorted, a function of the seed', () => {
  const labels = Array.from({ length: 300 }, (_, i) => (i * 7) % 10);
  const a = labelBudget(labels, 10, 4, 0);
  assert.equal(a.length, 40);
  assert.deepEqual(a, [...a].sort((x, y) => x - y));
  assert.equal(new Set(a).size, 40);
  for (let c = 0; c < 10; c++) assert.equal(a.filter((i) => labels[i] === c).length, 4);
  assert.deepEqual(labelBudget(labels, 10, 4, 0), a);
  assert.notDeepEqual(labelBudget(labels, 10, 4, 1), a);
  assert.throws(() => labelBudget(labels, 10, 31, 0), /class \d has only 30 examples, fewer than the budget of 31 per class/);
  assert.throws(() => labelBudget(labels, 10, 0, 0), /must be a positive integer/);
});

test('scripts/fashion-mnist.mjs writes PNG folders equal to the IDX pixels, a seeded budget of links, and is idempotent', async () => {
  const dir = tempDir();
  try {
    const src = path.join(dir, 'src');
    fs.mkdirSync(src);
    const make = (prefix: string, n: number): { px: Uint8Array; labels: Uint8Array } => {
      const px = Uint8Array.from({ length: n * 28 * 28 }, (_, i) => (i * 131 + (i >> 5)) % 256);
      const labels = Uint8Array.from({ length: n }, (_, i) => i % 10);
      fs.writeFileSync(path.join(src, `${prefix}-images-idx3-ubyte.gz`), gzipSync(idx([n, 28, 28], px)));
      fs.writeFileSync(path.join(src, `${prefix}-labels-idx1-ubyte.gz`), gzipSync(idx([n], labels)));
      return { px, labels };
    };
    const train = make('train', 30);
    make('t10k', 10);
    const out = path.join(dir, 'out');
    const script = path.join(repoRoot(), 'scripts', 'fashion-mnist.mjs');
    const run = (...args: string[]) => spawnSync(process.execPath, [script, ...args], { encoding: 'utf8' });

    const r = run('--src', src, '--out', out, '--per_class', '2', '--seed', '1');
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /wrote .*full: train 30 images/);
    const full = openClassificationFolders(path.join(out, 'full'));
    assert.deepEqual(full.classes, [...FASHION_MNIST_CLASSES]);
    assert.equal(full.train.files.length, 30);
    assert.equal(full.val.files.length, 10);
    // image 13 (label 3): its PNG decodes to the IDX bytes, one grey channel
    const f13 = path.join(out, 'full', 'train', '3_dress', '00013.png');
    const meta = await sharp(f13).metadata();
    assert.deepEqual([meta.width, meta.height, meta.channels], [28, 28, 1]);
    const { data } = await sharp(f13).extractChannel(0).raw().toBuffer({ resolveWithObject: true });
    assert.deepEqual(new Uint8Array(data), train.px.subarray(13 * 784, 14 * 784));

    const sub = openClassificationFolders(path.join(out, 'k2_s1'));
    assert.equal(sub.train.files.length, 20);
    for (const f of sub.train.files) {
      assert.ok(fs.lstatSync(f).isSymbolicLink());
      const i = Number(path.basename(f, '.png'));
      assert.equal(FASHION_MNIST_CLASSES[train.labels[i]!], path.basename(path.dirname(f)));
      assert.deepEqual(fs.readFileSync(f), fs.readFileSync(path.join(out, 'full', 'train', path.basename(path.dirname(f)), path.basename(f))));
    }
    assert.equal(sub.val.files.length, 10);
    assert.deepEqual(fs.readdirSync(out).sort(), ['full', 'k2_s1']); // no temporary folders left

    const again = run('--src', src, '--out', out, '--per_class', '2', '--seed', '1');
    assert.equal(again.status, 0, again.stderr);
    assert.match(again.stdout, /kept .*full/);
    assert.match(again.stdout, /kept .*k2_s1/);

    const bad = run('--src', path.join(dir, 'nope'), '--out', path.join(dir, 'out2'));
    assert.equal(bad.status, 1);
    assert.match(bad.stderr, /^fashion-mnist: .*nope\/train-images-idx3-ubyte\(\.gz\) not found: pass --src <folder with the Fashion-MNIST IDX files>/);
    assert.equal(bad.stderr.trim().split('\n').length, 1);
    assert.ok(!fs.existsSync(path.join(dir, 'out2', 'full')));
    const tooMany = run('--src', src, '--out', out, '--per_class', '4');
    assert.equal(tooMany.status, 1);
    assert.match(tooMany.stderr, /class 0 has only 3 examples, fewer than the budget of 4 per class/);
    assert.equal(run('--src', src).status, 2);
  } finally {
    rmrf(dir);
  }
});
