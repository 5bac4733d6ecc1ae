// The training-loop skeleton on its own (no model): the order of epoch-end hook and save, the
// reference's `epoch` field (last completed epoch), a stop request honoured at the end of its step,
// the step limit, a non-finite loss ending the run with the job's error, one tidy per step, and the
// single cleanup path releasing everything in reverse order whatever ends the job.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { runTrainingLoop, withCleanup, type TrainingLoopSpec, type StepResult } from '../../src/train/loop.js';
import { ProgressBar } from '../../src/train/monitor/index.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();

const bar = (): ProgressBar => new ProgressBar({ total: 3, stream: { write: () => true }, isTTY: false });

function spec(events: string[], o: Partial<TrainingLoopSpec<number, StepResult>> = {}): TrainingLoopSpec<number, StepResult> {
  let next = 0;
  return {
    startIter: 0, endIter: 6, itersPerEpoch: 3, epochs: 2, batchSize: 4, device: 'cpu', bar: bar(),
    nextBatch: async () => next++,
    step: (b, it) => { events.push(`step ${it} batch ${b}`); torch.ones([2]); return { loss: 1 / (it + 1) }; },
    progressFields: (r) => ({ loss: r.loss }),
    afterStep: (it) => events.push(`after ${it}`),
    onEpochEnd: ({ epoch, nextIter }) => { events.push(`epoch-end ${epoch} next ${nextIter}`); },
    save: ({ epochDone, nextIter, reason }) => { events.push(`save ${reason} done ${epochDone} next ${nextIter}`); },
    nonFiniteLoss: (loss, it, epoch) => new Error(`loss ${loss} at ${it} (epoch ${epoch})`),
    ...o,
  };
}

test('a run: every step, then at each epoch end the hook and then the save; the tensors of each step freed', async () => {
  const events: string[] = [];
  const live = torch.liveTensorCount();
  const r = await runTrainingLoop(spec(events));
  assert.equal(torch.liveTensorCount(), live, 'each step runs inside one tidy');
  assert.deepEqual(r, { nextIter: 6, interrupted: false });
  assert.deepEqual(events, [
    'step 0 batch 0', 'after 0', 'step 1 batch 1', 'after 1', 'step 2 batch 2', 'after 2', 'epoch-end 0 next 3', 'save epoch done 0 next 3',
    'step 3 batch 3', 'after 3', 'step 4 batch 4', 'after 4', 'step 5 batch 5', 'after 5', 'epoch-end 1 next 6', 'save epoch done 1 next 6',
  ]);
});

test('a stop request ends the run at the end of the step it came in, with a save; the step limit saves too', async () => {
  const events: string[] = [];
  let stop = false;
  const s = spec(events, { startIter: 2, stopRequested: () => stop });
  const step = s.step;
  s.step = (b, it) => { if (it === 4) stop = true; return step(b, it); };
  const r = await runTrainingLoop(s);
  assert.deepEqual(r, { nextIter: 5, interrupted: true });
  assert.deepEqual(events.filter((e) => !e.startsWith('after')), [
    'step 2 batch 0', 'epoch-end 0 next 3', 'save epoch done 0 next 3', 'step 3 batch 1', 'step 4 batch 2', 'save stop done 0 next 5',
  ]);
  const ev2: string[] = [];
  const r2 = await runTrainingLoop(spec(ev2, { endIter: 4 }));
  assert.deepEqual(r2, { nextIter: 4, interrupted: false });
  assert.equal(ev2.at(-1), 'save limit done 0 next 4');
  // a stop request on the last step is no interruption: the run is complete
  const ev3: string[] = [];
  const r3 = await runTrainingLoop(spec(ev3, { stopRequested: () => true, startIter: 5 }));
  assert.deepEqual(r3, { nextIter: 6, interrupted: false });
});

test('a non-finite loss ends the run with the job\'s error, without a save', async () => {
  const events: string[] = [];
  const s = spec(events, { step: (_b, it) => ({ loss: it === 4 ? NaN : 1 }) });
  await assert.rejects(runTrainingLoop(s), /^Error: loss NaN at 4 \(epoch 1\)$/);
  assert.ok(!events.some((e) => e.includes('next 5')), 'nothing saved after the bad step');
  assert.equal(events.filter((e) => e.startsWith('save')).length, 1, 'only the epoch-0 save');
});

test('withCleanup releases in reverse order on success and on failure', async () => {
  const order: string[] = [];
  const v = await withCleanup(async (onExit) => { onExit(() => order.push('a')); onExit(async () => { order.push('b'); }); return 7; });
  assert.deepEqual([v, order], [7, ['b', 'a']]);
  order.length = 0;
  await assert.rejects(withCleanup(async (onExit) => { onExit(() => order.push('a')); onExit(() => order.push('b')); throw new Error('bad data'); }), /bad data/);
  assert.deepEqual(order, ['b', 'a']);
});
