// The caching CPU allocator (native/src/cpu_allocator.cc): freed blocks of 1 MiB and more are reused
// (exact size, best fit with the rest kept, coalesced again when both halves come back), given back on
// emptyCpuCache, and a training step computes the same bits with it as with libtorch's malloc.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';
import { repoRoot } from '../../src/torch/repo.js';

checkNoLeaks();
const MiB = 2 ** 20;
const floats = (bytes: number): number => bytes / 4;

test('a freed large block is handed out again for the same size, holding the new values', () => {
  torch.emptyCpuCache();
  const s0 = torch.cpuAllocatorStats();
  assert.equal(s0.caching, true, 'the caching allocator is installed when the addon loads');
  assert.equal(s0.cachedBytes, 0);
  const a = torch.full([floats(4 * MiB)], 1.5);
  const s1 = torch.cpuAllocatorStats();
  assert.equal(s1.freshMaps, s0.freshMaps + 1);
  assert.equal(s1.liveBytes - s0.liveBytes, 4 * MiB);
  a.dispose();
  assert.equal(torch.cpuAllocatorStats().cachedBytes, 4 * MiB);
  const b = torch.full([floats(4 * MiB)], 2.5);
  const s2 = torch.cpuAllocatorStats();
  assert.equal(s2.freshMaps, s1.freshMaps, 'no new mapping');
  assert.equal(s2.reuses, s1.reuses + 1);
  assert.equal(torch.tidy(() => b.sum().item()), 2.5 * floats(4 * MiB));
  b.dispose();
});

test('best fit splits a larger cached range, and the halves coalesce when both are freed', () => {
  torch.emptyCpuCache();
  const big = torch.zeros([floats(8 * MiB)]);
  big.dispose();
  const s0 = torch.cpuAllocatorStats();
  const h1 = torch.ones([floats(4 * MiB)]);
  const h2 = torch.ones([floats(4 * MiB)]);
  const s1 = torch.cpuAllocatorStats();
  assert.equal(s1.freshMaps, s0.freshMaps, 'both halves come out of the cached 8 MiB');
  assert.equal(s1.cachedBytes, 0);
  h2.fill_(2);
  assert.equal(torch.tidy(() => h1.sum().item()), floats(4 * MiB), 'the halves do not overlap');
  torch.dispose([h1, h2]);
  const whole = torch.zeros([floats(8 * MiB)]);
  assert.equal(torch.cpuAllocatorStats().freshMaps, s0.freshMaps, 'the coalesced range serves 8 MiB again');
  whole.dispose();
});

test('small tensors stay with malloc; emptyCpuCache unmaps every cached range', () => {
  const s0 = torch.cpuAllocatorStats();
  const small = torch.zeros([1000]);
  assert.equal(torch.cpuAllocatorStats().liveBytes, s0.liveBytes);
  small.dispose();
  torch.dispose([torch.zeros([floats(2 * MiB)]), torch.zeros([floats(3 * MiB)])]);
  assert.ok(torch.cpuAllocatorStats().cachedBytes >= 5 * MiB);
  torch.emptyCpuCache();
  const s1 = torch.cpuAllocatorStats();
  assert.equal(s1.cachedBytes, 0);
  assert.ok(s1.unmaps > s0.unmaps);
  assert.equal(s1.highWaterBytes, s1.liveBytes, 'the high-water mark starts again from what is live');
});

// Two SparK steps of a ResNet-18 at 64 px, batch 4 (activations of 1 MiB and more, so the cache is exercised), in a
// fresh process per allocator: loss and every parameter must be bit-identical.
const STEP_SCRIPT = `
import * as torch from './dist/src/torch/index.js';
import { createPretrainEncoder, modelRecord } from './dist/src/models/index.js';
import { SparK } from './dist/src/spark/index.js';
import { buildOptimizer } from './dist/src/train/pretrain.js';
import { pretrainStep } from './dist/src/train/pretrain_step.js';
import { createHash } from 'node:crypto';
torch.setNumThreads(1); torch.manualSeed(0);
const facts = modelRecord('resnet18').pretrain;
const spark = new SparK(createPretrainEncoder('resnet18', { dropPathRate: 0 }), { inputSize: 64, maskRatio: 0.6, densifyNorm: facts.densifyNorm });
spark.train();
const opt = buildOptimizer({ opt: 'lamb', clip: 5 }, spark, 1e-3, facts.adamBeta2);
const gen = new torch.Generator(1), x = torch.randn([4, 3, 64, 64]).keep();
const losses = [];
for (let it = 0; it < 2; it++) losses.push(pretrainStep(spark, opt, x, gen, it, { peakLr: 1e-3, wd: 0.04, wdEnd: 0.2, warmupIters: 1, totalIters: 10, clip: 5 }).loss);
const h = createHash('sha256');
for (const p of spark.parameters()) h.update(p.toTypedArray());
console.log(JSON.stringify({ caching: torch.cpuAllocatorStats().caching, reuses: torch.cpuAllocatorStats().reuses, losses, params: h.digest('hex') }));
`;

function runStep(allocator: 'caching' | 'system'): { caching: boolean; reuses: number; losses: number[]; params: string } {
  const env = { ...process.env, SPARKTS_CPU_ALLOCATOR: allocator === 'system' ? 'system' : '' };
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', STEP_SCRIPT], { cwd: repoRoot(), env, encoding: 'utf8', timeout: 300_000 });
  assert.equal(r.status, 0, r.stderr);
  return JSON.parse(r.stdout.trim().split('\n').pop()!);
}

test('a SparK training step gives the same bits with the caching allocator as with malloc', () => {
  const cached = runStep('caching'), system = runStep('system');
  assert.equal(cached.caching, true);
  assert.equal(system.caching, false, 'SPARKTS_CPU_ALLOCATOR=system keeps libtorch\'s allocator');
  assert.ok(cached.reuses > 0, 'the step reused cached blocks');
  assert.equal(system.reuses, 0);
  assert.deepEqual(cached.losses, system.losses);
  assert.equal(cached.params, system.params);
});
