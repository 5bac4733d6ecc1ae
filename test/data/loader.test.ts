import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { createLoader, type Batch, type LoaderOptions, type LoaderStats } from '../../src/data/loader.js';
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD } from '../../src/data/augment.js';
import { makeDataset, rmrf, syntheticRgb, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const S = 32;
let good: { root: string; bad: string[] };
let dirty: { root: string; bad: string[] };

before(async () => {
  good = await makeDataset(11);
  dirty = await makeDataset(6, { corrupt: true, truncated: true });
});
after(() => {
  rmrf(good.root);
  rmrf(dirty.root);
});

async function take(opts: LoaderOptions, n: number): Promise<{ batches: Batch[]; warnings: string[]; stats: LoaderStats }> {
  const warnings: string[] = [];
  const loader = createLoader({ onWarning: (m) => warnings.push(m), ...opts });
  try {
    const batches: Batch[] = [];
    for (let i = 0; i < n; i++) batches.push(await loader.next());
    return { batches, warnings, stats: structuredClone(loader.stats) };
  } finally {
    await loader.close();
  }
}

test('batches have shape [B,3,S,S], epoch/iter bookkeeping and plausible normalised statistics', async () => {
  const { batches } = await take({ root: good.root, inputSize: S, batchSize: 4, seed: 1, workers: 0 }, 4);
  assert.deepEqual(batches.map((b) => [b.epoch, b.iter]), [[0, 0], [0, 1], [0, 2], [1, 0]]);
  const all: number[][] = [[], [], []];
  for (const b of batches) {
    assert.deepEqual(b.shape, [4, 3, S, S]);
    assert.equal(b.data.length, 4 * 3 * S * S);
    assert.equal(b.indices.length, 4);
    assert.equal(b.files.length, 4);
    for (let i = 0; i < 4; i++) for (let c = 0; c < 3; c++) all[c]!.push(...b.data.subarray((i * 3 + c) * S * S, (i * 3 + c + 1) * S * S));
  }
  for (let c = 0; c < 3; c++) {
    const lo = -IMAGENET_DEFAULT_MEAN[c]! / IMAGENET_DEFAULT_STD[c]!;
    const hi = (1 - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]!;
    const v = all[c]!;
    const mean = v.reduce((s, x) => s + x, 0) / v.length;
    const std = Math.sqrt(v.reduce((s, x) => s + (x - mean) ** 2, 0) / v.length);
    for (const x of v) assert.ok(Number.isFinite(x) && x >= lo - 1e-5 && x <= hi + 1e-5);
    // the synthetic images span (nearly) the full range in every channel
    assert.ok(mean > lo + 0.5 && mean < hi - 0.5, `channel ${c} mean ${mean}`);
    assert.ok(std > 0.5 && std < 2.5, `channel ${c} std ${std}`);
  }
  // epoch 0 covers the dataset: 11 images in 3 batches of 4 (the last one wraps)
  const ep0 = batches.slice(0, 3).flatMap((b) => b.indices);
  assert.equal(new Set(ep0).size, 11);
});

test('normalize: false gives ToTensor values in [0,1]; augment: false keeps an S×S image exactly', async () => {
  const dir = tempDir();
  try {
    const px = syntheticRgb(S, S, 5);
    await sharp(px, { raw: { width: S, height: S, channels: 3 } }).png().toFile(path.join(dir, 'x.png'));
    const { batches } = await take({ root: dir, inputSize: S, batchSize: 2, workers: 0, augment: false, normalize: false }, 1);
    const b = batches[0]!;
    for (const v of b.data) assert.ok(v >= 0 && v <= 1);
    // CHW: channel c, row y, column x = px[(y·S + x)·3 + c] / 255, for both copies in the batch
    for (let i = 0; i < 2; i++)
      for (let c = 0; c < 3; c++)
        for (let y = 0; y < S; y++)
          for (let x = 0; x < S; x++) {
            const got = b.data[((i * 3 + c) * S + y) * S + x]!;
            assert.ok(Math.abs(got - px[(y * S + x) * 3 + c]! / 255) < 1e-6);
          }
  } finally {
    rmrf(dir);
  }
});

test('augmentation crops and flips: a left-to-right ramp comes out increasing or decreasing', async () => {
  const dir = tempDir();
  try {
    const [w, h] = [120, 90];
    const px = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) for (let x = 0; x < w; x++) px.fill(Math.round((x * 255) / (w - 1)), (y * w + x) * 3, (y * w + x) * 3 + 3);
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, 'ramp.png'));
    const { batches } = await take({ root: dir, inputSize: S, batchSize: 24, seed: 3, workers: 0, normalize: false }, 1);
    const b = batches[0]!;
    let up = 0, down = 0;
    const spans = new Set<string>();
    for (let i = 0; i < 24; i++) {
      const row = b.data.subarray(i * 3 * S * S + (S / 2) * S, i * 3 * S * S + (S / 2) * S + S);
      const first = row[0]!, last = row[S - 1]!;
      if (last > first) up++;
      else down++;
      // RandomResizedCrop with scale >= 0.67 keeps most of the width: the ramp spans > 0.5 of [0,1]
      assert.ok(Math.abs(last - first) > 0.5, `span ${Math.abs(last - first)}`);
      spans.add(Math.min(first, last).toFixed(3));
    }
    assert.ok(up > 3 && down > 3, `${up} unflipped, ${down} flipped`);
    assert.ok(spans.size > 5, 'crops differ between samples');
  } finally {
    rmrf(dir);
  }
});

test('deterministic under a seed, independent of the worker count; other seeds differ', async () => {
  const base = { root: good.root, inputSize: S, batchSize: 4 };
  const a = await take({ ...base, seed: 7, workers: 0 }, 3);
  const b = await take({ ...base, seed: 7, workers: 3, prefetch: 2 }, 3);
  const c = await take({ ...base, seed: 8, workers: 0 }, 3);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual(b.batches[i]!.indices, a.batches[i]!.indices);
    assert.deepEqual(b.batches[i]!.data, a.batches[i]!.data);
  }
  assert.notDeepEqual(c.batches[0]!.data, a.batches[0]!.data);
});

test('resume from (epoch, iter) continues identically; position tracks the next batch', async () => {
  const base = { root: good.root, inputSize: S, batchSize: 4, seed: 2, workers: 0 };
  const loader = createLoader(base);
  const seq: Batch[] = [];
  for (let i = 0; i < 5; i++) seq.push(await loader.next());
  assert.deepEqual(loader.position, { epoch: 1, iter: 2 });
  await loader.close();
  const resumed = await take({ ...base, startEpoch: seq[2]!.epoch, startIter: seq[2]!.iter }, 3);
  for (let i = 0; i < 3; i++) {
    assert.deepEqual([resumed.batches[i]!.epoch, resumed.batches[i]!.iter], [seq[i + 2]!.epoch, seq[i + 2]!.iter]);
    assert.deepEqual(resumed.batches[i]!.data, seq[i + 2]!.data);
  }
});

test('corrupt and truncated files are skipped once each, counted, and replaced so batches stay full', async () => {
  const base = { root: dirty.root, inputSize: S, batchSize: 8, seed: 0 };
  const a = await take({ ...base, workers: 2 }, 3);
  assert.equal(a.warnings.length, 2, a.warnings.join('\n'));
  for (const f of dirty.bad) assert.ok(a.warnings.some((w) => w.includes(f) && w.startsWith('skipping unreadable image')));
  const stats = a.stats;
  assert.equal(stats.skipped, 2);
  assert.deepEqual([...stats.skippedFiles].sort(), [...dirty.bad].sort());
  assert.equal(stats.batches, 3);
  for (const b of a.batches) {
    assert.equal(b.files.length, 8);
    for (const f of b.files) assert.ok(!dirty.bad.includes(f));
    for (const v of b.data) assert.ok(Number.isFinite(v));
  }
  // the replacement is deterministic too
  const b = await take({ ...base, workers: 0 }, 3);
  for (let i = 0; i < 3; i++) assert.deepEqual(b.batches[i]!.data, a.batches[i]!.data);
});

test('a folder where nothing decodes fails with one clear error instead of hanging', async () => {
  const dir = tempDir();
  try {
    for (const n of ['a.jpg', 'b.png', 'c.bmp']) fs.writeFileSync(path.join(dir, n), 'not an image at all');
    const warnings: string[] = [];
    const loader = createLoader({ root: dir, inputSize: S, batchSize: 2, workers: 1, onWarning: (m) => warnings.push(m) });
    await assert.rejects(loader.next(), /^Error: no readable image in .*: all 3 failed to decode \(first: .*\); check the files or pass another --data_path$/);
    await assert.rejects(loader.next(), /no readable image/); // stays failed
    await loader.close();
    assert.equal(warnings.length, 3);
  } finally {
    rmrf(dir);
  }
});

test('bad options and a closed loader fail clearly; for-await works and break closes', async () => {
  assert.throws(() => createLoader({ root: path.join(good.root, 'missing'), inputSize: S, batchSize: 2 }), /^Error: data path not found/);
  assert.throws(() => createLoader({ inputSize: S, batchSize: 2 }), /give either root .* or files/);
  assert.throws(() => createLoader({ files: [], inputSize: S, batchSize: 2 }), /files is empty/);
  assert.throws(() => createLoader({ root: good.root, inputSize: 0, batchSize: 2, workers: 0 }), /inputSize must be a positive integer, got 0/);
  assert.throws(() => createLoader({ root: good.root, inputSize: S, batchSize: 2, workers: -1 }), /workers must be a non-negative integer/);

  const files = fs.readdirSync(path.join(good.root, 'class0')).map((f) => path.join(good.root, 'class0', f));
  const loader = createLoader({ files, inputSize: S, batchSize: 2, workers: 1 });
  let n = 0;
  for await (const b of loader) {
    assert.deepEqual(b.shape, [2, 3, S, S]);
    for (const f of b.files) assert.ok(files.includes(f));
    if (++n === 3) break;
  }
  await assert.rejects(loader.next(), /data loader is closed/);
});

test('workers keep decoding the prefetched batches while the main thread is blocked', async () => {
  const dir = tempDir();
  try {
    // large-ish images so that decoding 16 of them takes far longer than the 50 ms allowed below
    for (let k = 0; k < 4; k++) {
      await sharp(syntheticRgb(900, 900, k), { raw: { width: 900, height: 900, channels: 3 } })
        .png({ compressionLevel: 1 })
        .toFile(path.join(dir, `big${k}.png`));
    }
    const loader = createLoader({ root: dir, inputSize: S, batchSize: 8, workers: 2, prefetch: 2, seed: 0 });
    try {
      await loader.next(); // batch 0; batches 1 and 2 are now being decoded
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 2500); // a long synchronous "training step"
      for (let i = 0; i < 2; i++) {
        const t0 = performance.now();
        const timeout = new Promise<'late'>((r) => setTimeout(() => r('late'), 50).unref());
        const got = await Promise.race([loader.next(), timeout]);
        assert.notEqual(got, 'late', `batch ${i + 1} was not ready after the main thread was blocked (${(performance.now() - t0).toFixed(0)} ms)`);
      }
    } finally {
      await loader.close();
    }
  } finally {
    rmrf(dir);
  }
});
