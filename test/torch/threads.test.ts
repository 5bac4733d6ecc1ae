// Intra-op threads: the default is the machine's available parallelism (SPARKTS_NUM_THREADS overrides),
// get/set round-trip, bad values are refused, and results do not depend on the thread count.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, repoRoot } from '../helpers.js';

checkNoLeaks();

/** getNumThreads() in a fresh process (the default is set when the library loads). */
function threadsInChild(env: Record<string, string | undefined>): number {
  const index = path.join(repoRoot(), 'dist/src/torch/index.js');
  const r = spawnSync(process.execPath, ['--input-type=module', '-e',
    `const t = await import(${JSON.stringify(index)}); console.log(t.getNumThreads(), t.defaultNumThreads());`],
  { encoding: 'utf8', env: { ...process.env, SPARKTS_NUM_THREADS: undefined, ...env }, timeout: 60_000 });
  assert.equal(r.status, 0, r.stderr);
  const [now, def] = r.stdout.trim().split(' ').map(Number);
  assert.equal(now, def);
  return now;
}

test('the default is os.availableParallelism(); SPARKTS_NUM_THREADS overrides it; junk is ignored', () => {
  // applied when the library loads: fresh processes
  assert.equal(threadsInChild({}), os.availableParallelism());
  assert.equal(threadsInChild({ SPARKTS_NUM_THREADS: '1' }), 1);
  // the rule itself, in process
  const saved = process.env.SPARKTS_NUM_THREADS;
  try {
    for (const [v, want] of [['3', 3], ['lots', os.availableParallelism()], ['0', os.availableParallelism()], ['1.5', os.availableParallelism()]] as const) {
      process.env.SPARKTS_NUM_THREADS = v;
      assert.equal(torch.defaultNumThreads(), want, `SPARKTS_NUM_THREADS=${v}`);
    }
    delete process.env.SPARKTS_NUM_THREADS;
    assert.equal(torch.defaultNumThreads(), os.availableParallelism());
  } finally {
    if (saved === undefined) delete process.env.SPARKTS_NUM_THREADS; else process.env.SPARKTS_NUM_THREADS = saved;
  }
});

test('setNumThreads / getNumThreads round-trip; bad values are refused', () => {
  const saved = torch.getNumThreads();
  try {
    torch.setNumThreads(1);
    assert.equal(torch.getNumThreads(), 1);
    torch.setNumThreads(3);
    assert.equal(torch.getNumThreads(), 3);
    assert.match(torch.buildInfo().parallelInfo, /at::get_num_threads\(\) : 3/);
    assert.throws(() => torch.setNumThreads(0), /setNumThreads: argument 0 'n' must be a positive integer/);
    assert.throws(() => torch.setNumThreads(1.5), /setNumThreads: argument 0 'n' must be an integer/);
    assert.equal(torch.getNumThreads(), 3);
  } finally {
    torch.setNumThreads(saved);
  }
});

test('results agree across thread counts', () => torch.tidy(() => {
  const saved = torch.getNumThreads();
  const g = new torch.Generator(4);
  const a = torch.randn([96, 128], { generator: g }), b = torch.randn([128, 80], { generator: g });
  const x = torch.randn([2, 8, 24, 24], { generator: g }), w = torch.randn([16, 8, 3, 3], { generator: g });
  const run = (): torch.Tensor[] => [a.matmul(b), a.sum(1), torch.conv2d(x, w, null, 1, 1), torch.nn.functional.batchNorm(x, null, null, { training: true })];
  try {
    torch.setNumThreads(1);
    const one = run();
    torch.setNumThreads(Math.max(2, os.availableParallelism()));
    const many = run();
    one.forEach((t, i) => assertClose(many[i], t, { atol: 1e-4, rtol: 1e-4 }, `output ${i}`));
  } finally {
    torch.setNumThreads(saved);
  }
}));
