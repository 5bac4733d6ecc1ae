// Where a resumed fine-tuning run continues when the number of ranks changed (same global --bs): the
// recorded loader position, an epoch-end checkpoint re-counted under the new iterations per epoch, and a
// mid-epoch one refused in one line when the epochs have another length now.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { resumePosition, type FinetuneResume } from '../../src/train/ft_checkpoint.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();

const at = (nextIter: number, loaderEpoch: number, loaderIter: number, flags: Record<string, number> = {}): FinetuneResume =>
  ({ nextIter, loaderEpoch, loaderIter, flags: JSON.stringify(flags) }) as FinetuneResume;

test('the same iterations per epoch: the recorded position', () => {
  assert.deepEqual(resumePosition(at(7, 2, 1, { itersPerEpoch: 3, worldSize: 2 }), 'f.pth', 3), { epoch: 2, iter: 1 });
  // older checkpoints: the length is derived from the global iteration
  assert.deepEqual(resumePosition(at(7, 2, 1), 'f.pth', 3), { epoch: 2, iter: 1 });
});

test('another length, saved at an epoch end: that epoch starts under the new count', () => {
  assert.deepEqual(resumePosition(at(6, 2, 0, { itersPerEpoch: 3, worldSize: 1 }), 'f.pth', 2), { epoch: 2, iter: 0 });
});

test('another length, saved inside an epoch: one line naming the file, both lengths and the fix', () => {
  assert.throws(() => resumePosition(at(7, 2, 1, { itersPerEpoch: 3, worldSize: 1 }), 'f.pth', 2),
    /^Error: f\.pth was saved at iteration 1 of epoch 2 on 1 rank\(s\), whose epochs have 3 iterations; here they have 2: resume it on the same number of ranks, or from a checkpoint saved at an epoch end$/);
  assert.throws(() => resumePosition(at(2, 0, 2), 'f.pth', 2), /saved at iteration 2 of epoch 0 .* here they have 2/);
});
