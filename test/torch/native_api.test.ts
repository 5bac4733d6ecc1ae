// The addon's TypeScript type (src/torch/generated/native_api.ts, generated from native/ops.table.mjs
// and native/core.table.mjs) matches what the built addon exports, and is enforced at compile time.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { native } from '../../src/torch/native.js';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';

checkNoLeaks();

const table = async <T>(file: string, name: string): Promise<T> =>
  (await import(pathToFileURL(path.join(repoRoot(), 'native', file)).href) as Record<string, T>)[name];

test('every core entry and every op of the tables is a function of the built addon, and nothing else is', async () => {
  const core = (await table<[string][]>('core.table.mjs', 'CORE')).map(([n]) => n);
  const ops = (await table<[string][]>('ops.table.mjs', 'OPS')).map(([sig]) => /^(\w+)\(/.exec(sig)![1]);
  const addon = native as unknown as Record<string, unknown> & { ops: Record<string, unknown> };
  assert.deepEqual(Object.keys(addon).filter((k) => k !== 'ops').sort(), [...core].sort());
  for (const n of core) assert.equal(typeof addon[n], 'function', n);
  assert.deepEqual(Object.keys(addon.ops).sort(), [...ops].sort());
  for (const n of ops) assert.equal(typeof addon.ops[n], 'function', n);
});

test('hand-written calls are type-checked: wrong arguments do not compile', () => {
  // Never called: these lines exist for the compiler. If `native` were `any`, the directives would be
  // unused and `tsc` (npm run build:ts) would fail with "Unused '@ts-expect-error' directive".
  const neverRun = (): void => {
    // @ts-expect-error a tensor op takes handles, not numbers
    native.ops.add(1, 2, 1);
    // @ts-expect-error a generator handle is not a tensor handle
    native.setGeneratorState(torch.zeros([1]).handle, torch.zeros([1]).handle);
    // @ts-expect-error no such entry
    native.noSuchEntry();
  };
  void neverRun;
  // a real call through the typed surface: meta gives [shape, dtype, device, requiresGrad]
  torch.tidy(() => {
    const [shape, dtype, device, rg] = native.meta(torch.ones([2, 3]).handle);
    assert.deepEqual([shape, dtype, device, rg], [[2, 3], 'float32', 'cpu', false]);
  });
});

test('npm run gen:check: the generated files, the addon type included, are up to date with the tables', () => {
  const r = spawnSync(process.execPath, [path.join(repoRoot(), 'scripts/gen-ops.mjs'), '--check'], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
});
