import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openClassificationFolders, type ClassificationFolders } from '../../src/data/classes.js';
import { createClassificationLoader, type ClassificationLoaderOptions, type LabelledBatch } from '../../src/data/labelled.js';
import { loadSample } from '../../src/data/sample.js';
import { repoRoot } from '../../src/data/demo.js';
import { encodeMultibandTiff, rmrf, tempDir, writeImage } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const S = 32;
const PHOTOS = path.join(repoRoot(), 'test/fixtures/ft_data/inputs'); // 4 real photos (one greyscale)
let root: string;
let folders: ClassificationFolders;

// train: 3 classes × 3 images (real photos + synthetic), val: 2 per class
before(async () => {
  root = tempDir();
  const photos = fs.readdirSync(PHOTOS).filter((f) => f.endsWith('.webp')).sort();
  let k = 0;
  for (const split of ['train', 'val']) {
    for (const cls of ['bird', 'cat', 'dog']) {
      fs.mkdirSync(path.join(root, split, cls), { recursive: true });
      for (let i = 0; i < (split === 'train' ? 3 : 2); i++, k++) {
        if (k % 2 === 0) fs.copyFileSync(path.join(PHOTOS, photos[k % photos.length]!), path.join(root, split, cls, `p${i}.webp`));
        else await writeImage(path.join(root, split, cls, `s${i}.png`), 50 + k, 40 + 2 * k, k);
      }
    }
  }
  folders = openClassificationFolders(root);
});
after(() => rmrf(root));

async function take(o: ClassificationLoaderOptions, n: number): Promise<LabelledBatch[]> {
  const l = createClassificationLoader(o);
  try {
    const out: LabelledBatch[] = [];
    for (let i = 0; i < n; i++) out.push(await l.next());
    return out;
  } finally {
    await l.close();
  }
}

test('train batches: images (B,3,S,S) and int64 targets that name each file\'s class folder; short last batch', async () => {
  const l = createClassificationLoader({ folders, split: 'train', imgSize: S, batchSize: 4, seed: 1, workers: 2 });
  try {
    assert.deepEqual(l.classes, ['bird', 'cat', 'dog']);
    assert.equal(l.itersPerEpoch, 3);
    assert.equal(l.samplesPerEpoch, 9);
    const seen: string[] = [];
    for (let i = 0; i < 3; i++) {
      const b = await l.next();
      const B = i < 2 ? 4 : 1;
      assert.deepEqual(b.shape, [B, 3, S, S]);
      assert.equal(b.images, b.data);
      assert.equal(b.images.length, B * 3 * S * S);
      assert.ok(b.targets instanceof BigInt64Array && b.targets.length === B);
      b.files.forEach((f, k) => assert.equal(l.classes[Number(b.targets[k])], path.basename(path.dirname(f))));
      for (const v of b.images) assert.ok(Number.isFinite(v));
      seen.push(...b.files);
    }
    assert.equal(new Set(seen).size, 9); // one epoch = every training image once
    assert.deepEqual(l.position, { epoch: 1, iter: 0 });
  } finally {
    await l.close();
  }
});

test('train: same batches for any worker count; exact resume at an epoch boundary; another seed differs', async () => {
  const base = { folders, split: 'train' as const, imgSize: S, batchSize: 4, seed: 9 };
  const a = await take({ ...base, workers: 0 }, 6);
  const b = await take({ ...base, workers: 3, prefetch: 2 }, 6);
  for (let i = 0; i < 6; i++) {
    assert.deepEqual(b[i]!.files, a[i]!.files);
    assert.deepEqual(b[i]!.images, a[i]!.images);
  }
  const resumed = await take({ ...base, workers: 1, startEpoch: 1, startIter: 0 }, 3);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual([resumed[i]!.epoch, resumed[i]!.iter], [1, i]);
    assert.deepEqual(resumed[i]!.targets, a[i + 3]!.targets);
    assert.deepEqual(resumed[i]!.images, a[i + 3]!.images);
  }
  const c = await take({ ...base, seed: 10, workers: 0 }, 1);
  assert.notDeepEqual(c[0]!.images, a[0]!.images);
});

test('val: dataset order, the eval transform, short last batch, the same every epoch', async () => {
  const got = await take({ folders, split: 'val', imgSize: S, batchSize: 4, workers: 1 }, 4);
  assert.deepEqual(got.map((b) => b.files.length), [4, 2, 4, 2]);
  assert.deepEqual(got.slice(0, 2).flatMap((b) => b.files), folders.val.files);
  assert.deepEqual(got.slice(0, 2).flatMap((b) => [...b.targets].map(Number)), [0, 0, 1, 1, 2, 2]);
  assert.deepEqual(got[2]!.images, got[0]!.images);
  const direct = await loadSample({ file: folders.val.files[1]!, size: S, transform: 'eval', normalize: true, seed: 0 });
  assert.deepEqual(got[0]!.images.subarray(3 * S * S, 6 * S * S), direct);
});

test('val cache: later epochs reuse the decoded images (same values, no new decodes); train refuses it', async () => {
  const l = createClassificationLoader({ folders, split: 'val', imgSize: S, batchSize: 4, workers: 1, prefetch: 1, cache: true });
  try {
    const first = [await l.next(), await l.next()];
    const decoded = l.stats.decoded;
    assert.equal(decoded, 6);
    const again = [await l.next(), await l.next()];
    assert.deepEqual(again.map((b) => b.images), first.map((b) => b.images));
    assert.deepEqual(again.map((b) => b.targets), first.map((b) => b.targets));
    assert.equal(l.stats.decoded, 6);
  } finally {
    await l.close();
  }
  assert.throws(() => createClassificationLoader({ folders, split: 'train', imgSize: S, batchSize: 2, cache: true }), /cache is for the val split only/);
});

test('an unreadable image stops the loader with an error naming the file; other channel counts too', async () => {
  for (const [name, bytes, why] of [
    ['broken.jpg', new Uint8Array(300).fill(7), /cannot read image .*broken\.jpg: .* \(fix or remove the file\)$/],
    ['bands.tif', encodeMultibandTiff(40, 30, 5), /cannot read image .*bands\.tif: image has 5 channels; expected 1 \(grey\), 2 \(grey\+alpha\), 3 \(RGB\) or 4 \(RGBA\/CMYK\)/],
  ] as const) {
    const dir = tempDir();
    try {
      for (const split of ['train', 'val']) {
        fs.mkdirSync(path.join(dir, split, 'a'), { recursive: true });
        fs.writeFileSync(path.join(dir, split, 'a', name), bytes);
      }
      const f = openClassificationFolders(dir);
      const l = createClassificationLoader({ folders: f, split: 'val', imgSize: S, batchSize: 1, workers: 1 });
      await assert.rejects(l.next(), (e: Error) => {
        assert.match(e.message, why);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
      await assert.rejects(l.next(), why); // stays failed
      await l.close();
    } finally {
      rmrf(dir);
    }
  }
  // grey+alpha (2 channels) is accepted like PIL's convert('RGB')
  const dir = tempDir();
  try {
    fs.mkdirSync(path.join(dir, 'val', 'a'), { recursive: true });
    fs.mkdirSync(path.join(dir, 'train', 'a'), { recursive: true });
    fs.writeFileSync(path.join(dir, 'val', 'a', 'ga.tif'), encodeMultibandTiff(40, 30, 2));
    fs.writeFileSync(path.join(dir, 'train', 'a', 'ga.tif'), encodeMultibandTiff(40, 30, 2));
    const [b] = await take({ folders: openClassificationFolders(dir), split: 'val', imgSize: S, batchSize: 1, workers: 0 }, 1);
    assert.deepEqual(b!.shape, [1, 3, S, S]);
  } finally {
    rmrf(dir);
  }
});

test('repeated augmentation over two ranks: the repeats of an image land on both ranks, augmented differently', async () => {
  const dir = tempDir();
  try {
    for (const split of ['train', 'val']) {
      for (let i = 0; i < (split === 'train' ? 256 : 2); i++) {
        fs.mkdirSync(path.join(dir, split, `c${i % 2}`), { recursive: true });
        await writeImage(path.join(dir, split, `c${i % 2}`, `${i}.png`), 12, 10, i);
      }
    }
    const f = openClassificationFolders(dir);
    const base = { folders: f, split: 'train' as const, imgSize: 8, batchSize: 3, seed: 2, repAug: 2, world: 2, workers: 0 };
    const [r0] = await take({ ...base, rank: 0 }, 1);
    const [r1] = await take({ ...base, rank: 1 }, 1);
    assert.deepEqual(r0!.files, r1!.files); // [p0, p0, p1, p1, p2, p2, ...] dealt alternately
    assert.notDeepEqual(r0!.images, r1!.images);
  } finally {
    rmrf(dir);
  }
});

test('bad options fail clearly', () => {
  assert.throws(() => createClassificationLoader({ folders, split: 'test' as 'val', imgSize: S, batchSize: 2 }), /split must be 'train' or 'val', got test/);
  assert.throws(() => createClassificationLoader({ folders, split: 'train', imgSize: 0, batchSize: 2 }), /imgSize must be a positive integer, got 0/);
  assert.throws(() => createClassificationLoader({ folders, split: 'train', imgSize: S, batchSize: 2, repAug: 3 }), /needs at least 256 training images/);
  assert.throws(() => createClassificationLoader({ folders, split: 'train', imgSize: S, batchSize: 2, repAug: -1 }), /repAug must be an integer >= 0/);
  assert.throws(() => createClassificationLoader({ folders, split: 'train', imgSize: 384, batchSize: 2 }), /fine-tuning at img_size 384 is not supported yet: .*AutoAugment 'v0'/);
});
