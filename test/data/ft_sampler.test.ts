import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EpochBatchSampler, repeatAugOrder, sequentialOrder, shuffledOrder } from '../../src/data/sampler.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('shuffled order (DistributedSampler, drop_last): a new permutation per epoch; ranks split it without overlap', () => {
  const o = shuffledOrder({ n: 10, seed: 5 });
  assert.equal(o.length, 10);
  const e0 = [...o.indices(0)];
  assert.deepEqual([...e0].sort((a, b) => a - b), [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.notDeepEqual([...o.indices(1)], e0);
  assert.deepEqual([...shuffledOrder({ n: 10, seed: 5 }).indices(0)], e0); // a function of (seed, epoch)
  // 10 over 3 ranks with drop_last: ceil((10-3)/3) = 3 each, the first 9 of the permutation, rank r takes r, r+3, r+6
  const parts = [0, 1, 2].map((rank) => [...shuffledOrder({ n: 10, seed: 5, rank, world: 3 }).indices(0)]);
  for (let r = 0; r < 3; r++) assert.deepEqual(parts[r], [e0[r], e0[r + 3], e0[r + 6]]);
  assert.throws(() => shuffledOrder({ n: 10, rank: 3, world: 3 }), /rank 3 is not below world 3/);
});

test('repeated augmentation (timm RepeatAugSampler): runs of `repeats`, floor(N/256)·256 per epoch, rank interleave', () => {
  const o = repeatAugOrder({ n: 600, repeats: 3, seed: 1 });
  assert.equal(o.length, 512); // floor(600 // 256 * 256 / 1)
  const idx = [...o.indices(0)];
  // [p0,p0,p0,p1,p1,p1,...] cut at 512: 170 full runs then 2 of the next
  for (let k = 0; k < 512; k++) assert.equal(idx[k], idx[k - (k % 3)]);
  const distinct = new Set(idx);
  assert.equal(distinct.size, 171);
  assert.notDeepEqual([...o.indices(1)].slice(0, 30), idx.slice(0, 30));
  // two ranks: rank r takes every other element of the same repeated sequence, floor(512/2) = 256 each
  const r0 = [...repeatAugOrder({ n: 600, repeats: 3, seed: 1, rank: 0, world: 2 }).indices(0)];
  const r1 = [...repeatAugOrder({ n: 600, repeats: 3, seed: 1, rank: 1, world: 2 }).indices(0)];
  assert.equal(r0.length, 256);
  const full = idx; // the single-rank sequence: rank r gets its elements r, r + 2, r + 4, ...
  for (let k = 0; k < 256; k++) {
    assert.equal(r0[k], full[2 * k]);
    assert.equal(r1[k], full[2 * k + 1]);
  }
  assert.throws(() => repeatAugOrder({ n: 255, repeats: 3 }), /needs at least 256 training images: .* 0 for N = 255 \(use --rep_aug 0\)/);
});

test('sequential val order with a short last batch; epochs repeat; resume from any position', () => {
  const s = new EpochBatchSampler({ order: sequentialOrder({ n: 7 }), batchSize: 3 });
  assert.equal(s.itersPerEpoch, 3);
  const b = [s.next(), s.next(), s.next(), s.next()];
  assert.deepEqual(b.map((x) => x.indices), [[0, 1, 2], [3, 4, 5], [6], [0, 1, 2]]);
  assert.deepEqual(b.map((x) => [x.epoch, x.iter]), [[0, 0], [0, 1], [0, 2], [1, 0]]);
  assert.deepEqual(b[2]!.positions, [6]);
  assert.deepEqual([...sequentialOrder({ n: 7, rank: 1, world: 2 }).indices(0)], [3, 4, 5, 6]);

  const order = shuffledOrder({ n: 11, seed: 3 });
  const a = new EpochBatchSampler({ order, batchSize: 4 });
  const seq = Array.from({ length: 8 }, () => a.next());
  assert.deepEqual(seq.map((x) => x.indices.length), [4, 4, 3, 4, 4, 3, 4, 4]);
  const r = new EpochBatchSampler({ order, batchSize: 4, startEpoch: 1, startIter: 2 });
  assert.deepEqual(r.next(), seq[5]);
  assert.deepEqual(r.next(), seq[6]);
  assert.throws(() => new EpochBatchSampler({ order, batchSize: 4, startIter: 3 }), /startIter 3 is past the end of an epoch \(3 iterations of 4 over 11 images\)/);
});
