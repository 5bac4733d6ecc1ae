import { test } from 'node:test';
import assert from 'node:assert/strict';
import { InfiniteBatchSampler } from '../../src/data/sampler.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('iterations per epoch = ceil(N/bs); every batch is full; the last one wraps to the permutation start', () => {
  const s = new InfiniteBatchSampler({ n: 10, batchSize: 4, seed: 3 });
  assert.equal(s.itersPerEpoch, 3);
  const perm = [...s.epochPermutation(0)];
  const b = [s.next(), s.next(), s.next()];
  assert.deepEqual(b.map((x) => [x.epoch, x.iter]), [[0, 0], [0, 1], [0, 2]]);
  for (const x of b) assert.equal(x.indices.length, 4);
  assert.deepEqual(b.flatMap((x) => x.indices), [...perm, perm[0], perm[1]]);
  assert.deepEqual(b[2]!.positions, [8, 9, 10, 11]);
  assert.deepEqual(s.state, { epoch: 1, iter: 0 });
  assert.equal(s.next().epoch, 1);
  assert.equal(new InfiniteBatchSampler({ n: 8, batchSize: 4 }).itersPerEpoch, 2);
  assert.equal(new InfiniteBatchSampler({ n: 1, batchSize: 4 }).itersPerEpoch, 1);
});

test('each epoch is a permutation covering all images; epochs differ; seeds differ', () => {
  const s = new InfiniteBatchSampler({ n: 50, batchSize: 7, seed: 0 });
  const epochs: number[][] = [];
  for (let e = 0; e < 3; e++) {
    const idx: number[] = [];
    for (let i = 0; i < s.itersPerEpoch; i++) idx.push(...s.next().indices);
    assert.equal(idx.length, 56);
    assert.deepEqual([...new Set(idx.slice(0, 50))].sort((a, b) => a - b), Array.from({ length: 50 }, (_, i) => i));
    epochs.push(idx);
  }
  assert.notDeepEqual(epochs[0], epochs[1]);
  assert.notDeepEqual([...new InfiniteBatchSampler({ n: 50, batchSize: 7, seed: 1 }).epochPermutation(0)], epochs[0]!.slice(0, 50));
  // the reference seeds each epoch's generator with seed + epoch
  assert.deepEqual(
    [...new InfiniteBatchSampler({ n: 50, batchSize: 7, seed: 1 }).epochPermutation(0)],
    [...new InfiniteBatchSampler({ n: 50, batchSize: 7, seed: 0 }).epochPermutation(1)],
  );
});

test('batch larger than the dataset keeps wrapping so the batch is full', () => {
  const s = new InfiniteBatchSampler({ n: 3, batchSize: 8, seed: 0 });
  const b = s.next();
  assert.equal(b.indices.length, 8);
  const perm = [...s.epochPermutation(0)];
  assert.deepEqual(b.indices, [0, 1, 2, 3, 4, 5, 6, 7].map((p) => perm[p % 3]));
});

test('resuming from (epoch, iter) gives the same continuation', () => {
  const a = new InfiniteBatchSampler({ n: 23, batchSize: 5, seed: 9 });
  const seq = Array.from({ length: 17 }, () => a.next());
  for (const k of [0, 3, 4, 5, 12]) {
    const { epoch, iter } = seq[k]!;
    const b = new InfiniteBatchSampler({ n: 23, batchSize: 5, seed: 9, startEpoch: epoch, startIter: iter });
    for (let j = k; j < seq.length; j++) assert.deepEqual(b.next(), seq[j]);
  }
});

test('bad arguments fail with one clear line', () => {
  assert.throws(() => new InfiniteBatchSampler({ n: 0, batchSize: 4 }), /n \(the number of images\) must be an integer >= 1, got 0/);
  assert.throws(() => new InfiniteBatchSampler({ n: 5, batchSize: 2.5 }), /batchSize must be an integer >= 1/);
  assert.throws(() => new InfiniteBatchSampler({ n: 10, batchSize: 4, startIter: 3 }), /startIter 3 is past the end of an epoch \(3 iterations/);
  assert.throws(() => new InfiniteBatchSampler({ n: 10, batchSize: 4, startEpoch: -1 }), /startEpoch must be an integer >= 0/);
});

test('data parallel: the reference DistInfiniteBatchSampler\'s shards (positions in the filled epoch sequence)', () => {
  // The reference's sampler.py with shuffle=False (so its indices are positions), filling=True,
  // printed for these (world, N, global batch); each rank's batches of one epoch.
  const ref: [number, number, number, number[][][]][] = [
    [2, 10, 4, [[[0, 1], [2, 3], [4, 5]], [[6, 7], [8, 9], [0, 1]]]],
    [3, 10, 6, [[[0, 1], [2, 3]], [[4, 5], [6, 7]], [[8, 9], [0, 1]]]],
    [4, 37, 8, [[[0, 1], [2, 3], [4, 5], [6, 7], [8, 9]], [[10, 11], [12, 13], [14, 15], [16, 17], [18, 19]],
      [[20, 21], [22, 23], [24, 25], [26, 27], [28, 29]], [[30, 31], [32, 33], [34, 35], [36, 0], [1, 2]]]],
  ];
  for (const [world, n, glb, shards] of ref) {
    for (let rank = 0; rank < world; rank++) {
      const s = new InfiniteBatchSampler({ n, batchSize: glb / world, seed: 7, rank, worldSize: world });
      assert.equal(s.itersPerEpoch, shards[rank]!.length, `world ${world}: iterations per epoch`);
      const perm = [...s.epochPermutation(0)];
      for (let i = 0; i < s.itersPerEpoch; i++) {
        const b = s.next();
        // our positions run over the filled sequence; the index at a position is the permutation's
        assert.deepEqual(b.positions.map((p) => p % n), shards[rank]![i], `world ${world} rank ${rank} iteration ${i}`);
        assert.deepEqual(b.indices, b.positions.map((p) => perm[p % n]));
      }
    }
  }
  // one rank of one is the single-process sampler
  assert.deepEqual(new InfiniteBatchSampler({ n: 10, batchSize: 4, seed: 3, rank: 0, worldSize: 1 }).next(),
    new InfiniteBatchSampler({ n: 10, batchSize: 4, seed: 3 }).next());
  assert.throws(() => new InfiniteBatchSampler({ n: 10, batchSize: 2, rank: 2, worldSize: 2 }), /rank 2 is not below worldSize 2/);
});
