import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Rng, hashSeed, mix32, permutation } from '../../src/data/rng.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('same seed gives the same stream, different seeds differ', () => {
  const a = new Rng(42), b = new Rng(42), c = new Rng(43);
  const sa = Array.from({ length: 20 }, () => a.nextU32());
  const sb = Array.from({ length: 20 }, () => b.nextU32());
  const sc = Array.from({ length: 20 }, () => c.nextU32());
  assert.deepEqual(sa, sb);
  assert.notDeepEqual(sa, sc);
  for (const v of sa) assert.ok(Number.isInteger(v) && v >= 0 && v < 2 ** 32);
});

test('random() is uniform on [0,1): moments and bucket counts', () => {
  const r = new Rng(7);
  const n = 100000;
  const buckets = new Array<number>(10).fill(0);
  let sum = 0, sum2 = 0;
  for (let i = 0; i < n; i++) {
    const u = r.random();
    assert.ok(u >= 0 && u < 1);
    sum += u;
    sum2 += u * u;
    buckets[Math.floor(u * 10)]!++;
  }
  assert.ok(Math.abs(sum / n - 0.5) < 0.01);
  assert.ok(Math.abs(sum2 / n - sum * sum / n / n - 1 / 12) < 0.005);
  for (const b of buckets) assert.ok(Math.abs(b - n / 10) < 0.05 * n / 10, `bucket count ${b}`);
});

test('int() stays in [lo, hi) and hits every value', () => {
  const r = new Rng(1);
  const seen = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const v = r.int(3, 10);
    assert.ok(Number.isInteger(v) && v >= 3 && v < 10);
    seen.add(v);
  }
  assert.equal(seen.size, 7);
  assert.throws(() => r.int(5, 5), /empty range/);
});

test('hashSeed depends on every part and on their order; mix32 is a bijection on samples', () => {
  assert.notEqual(hashSeed(1, 2, 3), hashSeed(3, 2, 1));
  assert.notEqual(hashSeed(0, 0, 0), hashSeed(0, 0, 1));
  assert.notEqual(hashSeed(2 ** 40), hashSeed(0)); // high bits matter
  assert.notEqual(hashSeed(-1), hashSeed(1));
  assert.equal(hashSeed(5, 6), hashSeed(5, 6));
  assert.throws(() => hashSeed(0.5), /safe integer/);
  const outs = new Set<number>();
  for (let i = 0; i < 10000; i++) outs.add(mix32(i));
  assert.equal(outs.size, 10000);
});

test('permutation covers 0..n-1 exactly once and is seed dependent', () => {
  const p = permutation(1000, new Rng(3));
  assert.deepEqual([...p].sort((a, b) => a - b), Array.from({ length: 1000 }, (_, i) => i));
  assert.notDeepEqual([...p], [...permutation(1000, new Rng(4))]);
  assert.deepEqual([...p], [...permutation(1000, new Rng(3))]);
  assert.deepEqual([...permutation(1, new Rng(0))], [0]);
});
