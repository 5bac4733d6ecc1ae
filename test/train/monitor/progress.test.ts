import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ProgressBar, formatDuration, formatNumber } from '../../../src/train/monitor/progress.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

function fakeStream(isTTY: boolean, columns = 120) {
  const writes: string[] = [];
  return { writes, stream: { isTTY, columns, write: (s: string) => writes.push(s) } };
}

function fakeClock() {
  const c = { t: 0, now: () => c.t };
  return c;
}

test('formatDuration matches Python timedelta strings; formatNumber', () => {
  assert.equal(formatDuration(0), '0:00:00');
  assert.equal(formatDuration(65.9), '0:01:05');
  assert.equal(formatDuration(3600 * 10 + 61), '10:01:01');
  assert.equal(formatDuration(90061), '1 day, 1:01:01');
  assert.equal(formatDuration(2 * 86400), '2 days, 0:00:00');
  assert.equal(formatDuration(NaN), '?');
  assert.equal(formatNumber(0.51234), '0.5123');
  assert.equal(formatNumber(1.5e-4), '1.50e-4');
  assert.equal(formatNumber(3), '3');
});

test('non-TTY: reference-style lines at iteration multiples, epoch ends and new epochs', () => {
  const { writes, stream } = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 20, stream, printEvery: 5, printEverySec: 1e9, now: clock.now });
  for (let ep = 0; ep < 2; ep++) {
    for (let it = 0; it < 20; it++) {
      clock.t += 1500; // 1.5 s per iteration
      bar.update(it, { epoch: ep, ep_total: 2, loss: 0.5, lr: 1.5e-4, imgPerSec: 320, grad_norm: 1.25 });
    }
  }
  assert.ok(writes.every((w) => w.endsWith('\n') && !w.includes('\r')));
  const prefixes = writes.map((w) => w.split('  eta')[0]);
  assert.deepEqual(prefixes, [
    '[ep0/2]  [ 1/20]', '[ep0/2]  [ 5/20]', '[ep0/2]  [10/20]', '[ep0/2]  [15/20]', '[ep0/2]  [20/20]',
    '[ep1/2]  [ 1/20]', '[ep1/2]  [ 5/20]', '[ep1/2]  [10/20]', '[ep1/2]  [15/20]', '[ep1/2]  [20/20]',
  ]);
  // 10 of 20 iterations left in epoch 0 at 1.5 s each = 15 s; plus all 20 of epoch 1 = 45 s.
  assert.equal(writes[2], '[ep0/2]  [10/20]  eta: 0:00:15  loss: 0.5000  lr: 1.50e-4  img/s: 320.0  grad_norm: 1.2500  rema: 0:00:45\n');
  assert.match(writes[9]!, /eta: 0:00:00 .* rema: 0:00:00\n$/);
  assert.equal(bar.secondsPerIteration, 1.5);
});

test('non-TTY: time-based printing when iterations are slow', () => {
  const { writes, stream } = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 1000, stream, printEvery: 500, printEverySec: 10, now: clock.now });
  for (let it = 0; it < 12; it++) {
    clock.t += 4000;
    bar.update(it, { loss: 1 });
  }
  // First line, then whenever ≥ 10 s passed since the last line: after 3 more iterations (12 s).
  assert.deepEqual(writes.map((w) => w.split('  eta')[0]), ['[   1/1000]', '[   4/1000]', '[   7/1000]', '[  10/1000]']);
});

test('TTY: redraws in place at most ~10×/s and ends each epoch with a newline', () => {
  const { writes, stream } = fakeStream(true, 100);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 100, stream, now: clock.now });
  assert.equal(bar.isTTY, true);
  for (let it = 0; it < 100; it++) {
    clock.t += 30; // 33 updates per second
    bar.update(it, { epoch: 4, ep_total: 10, loss: 0.25, lr: 0.002, imgPerSec: 1234.4 });
  }
  // 3 s of updates → about 30 redraws (every 4th update = 120 ms), never one per update.
  assert.ok(writes.length >= 20 && writes.length <= 32, `${writes.length} redraws`);
  assert.ok(writes.every((w) => w.startsWith('\r\x1b[K')));
  assert.ok(writes.slice(0, -1).every((w) => !w.includes('\n')));
  const last = writes[writes.length - 1]!;
  assert.ok(last.endsWith('\n'));
  const text = last.slice(4, -1);
  assert.ok(text.length < 100, `line of ${text.length} chars would wrap`);
  assert.match(text, /^ep 4\/10 \|█+\| 100\/100 loss 0\.2500 lr 0\.0020 1234 img\/s eta 0:00:00 rema 0:00:15$/);
  assert.ok(!text.includes('░'));
  // Halfway through, the bar is half full.
  const mid = writes.find((w) => w.includes(' 52/100') || w.includes(' 48/100') || w.includes(' 50/100') || w.includes(' 49/100') || w.includes(' 51/100'));
  assert.ok(mid, 'a redraw near 50%');
  const fill = (mid!.match(/█/g) ?? []).length;
  const empty = (mid!.match(/░/g) ?? []).length;
  assert.ok(Math.abs(fill - empty) <= 2, `${fill} filled vs ${empty} empty`);
});

test('TTY: log() prints above the bar and redraws it; narrow terminals never wrap', () => {
  const { writes, stream } = fakeStream(true, 40);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 10, stream, now: clock.now });
  clock.t += 1000;
  bar.update(0, { epoch: 0, ep_total: 1, loss: 0.123456, lr: 1e-5, imgPerSec: 12, extra: 'x' });
  bar.log('[saved checkpoint]');
  assert.equal(writes.length, 2);
  assert.ok(writes[0]!.slice(4).length < 40);
  assert.ok(writes[1]!.startsWith('\r\x1b[K[saved checkpoint]\n'));
  assert.ok(writes[1]!.endsWith(writes[0]!.slice(4)));
  bar.close();
  assert.equal(writes[2], '\n');
});

test('smoothed rate is an exponential moving average; bad input is rejected', () => {
  const { stream } = fakeStream(false);
  const clock = fakeClock();
  const bar = new ProgressBar({ total: 10, stream, now: clock.now, smoothing: 0.1 });
  clock.t = 1000;
  bar.update(0);
  assert.equal(bar.secondsPerIteration, 1);
  clock.t = 3000;
  bar.update(1);
  assert.ok(Math.abs(bar.secondsPerIteration! - 1.1) < 1e-12);
  clock.t = 7000;
  bar.update(3); // two iterations in 4 s: a 2 s/it sample
  assert.ok(Math.abs(bar.secondsPerIteration! - 1.19) < 1e-12);
  assert.throws(() => bar.update(10), /outside 0\.\.9/);
  assert.throws(() => new ProgressBar({ total: 0, stream }), /positive integer/);
});
