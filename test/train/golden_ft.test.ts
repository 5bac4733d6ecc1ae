// `spark verify` on the reference's fine-tuning fixtures (shared/golden/README.md "Fine-tuning
// fixtures") and layer-decay tables: every check made, each at the fixture's own tolerance or else the
// README's floor, all passing; an edited fixture fails exactly the edited checks. One intra-op thread,
// as the fixtures were made.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Check } from '../../src/train/golden.js';
import { verifyFinetuneFixture, isFinetuneFixture } from '../../src/train/golden_ft.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';
import { goldenPath } from './golden_meta.js';
import { editedFixture, runVerifyCommand } from './golden_support.js';

checkNoLeaks();
let savedThreads = 0;
before(() => { savedThreads = torch.getNumThreads(); torch.setNumThreads(1); });
after(() => { torch.setNumThreads(savedThreads); });

const FT_CASES = ['ft_resnet_lamb_64', 'ft_convnext_adam_64', 'ft_resnet_adam_nomix_48'];
const fixture = (c: string): string => goldenPath(`${c}.safetensors`);
const TABLES = goldenPath('ft_param_groups.json');
const EXTRA_TABLES = path.join(repoRoot(), 'test/fixtures/ft/param_groups_extra.json');

interface Header { meta: Record<string, string>; tensors: Map<string, { dtype: string; shape: number[] }> }
const headers = new Map<string, Header>();
function header(file: string): Header {
  const cached = headers.get(file);
  if (cached) return cached;
  const h = readHeader(file);
  headers.set(file, h);
  return h;
}
function readHeader(file: string): Header {
  const buf = fs.readFileSync(file);
  const n = Number(buf.readBigUInt64LE(0));
  const h = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const tensors = new Map<string, { dtype: string; shape: number[] }>();
  for (const [k, v] of Object.entries(h)) if (k !== '__metadata__') tensors.set(k, v as { dtype: string; shape: number[] });
  return { meta: h.__metadata__ as Record<string, string>, tensors };
}

/** Every check verify must make, from the fixture's own header (README "Check names"). */
function expectedChecks(file: string): string[] {
  const h = header(file);
  const keys = [...h.tensors.keys()];
  const params = JSON.parse(h.meta.param_names) as string[];
  const its = [0, 1].flatMap((i) => ['mixed_input', 'soft_target', 'lr', 'wd', 'loss'].map((q) => `it${i}.${q}`));
  return ['param_groups', ...its, ...params.map((p) => `it0.grad.${p}`), ...keys.filter((k) => k.startsWith('after.'))].sort();
}

/** The README's floor for each kind of check (integer buffers: exactly). */
function readmeFloor(file: string, name: string): number {
  if (name === 'param_groups' || /^it\d\.(lr|wd)$/.test(name)) return 1e-12;
  if (/^it\d\.(mixed_input|soft_target)$/.test(name)) return 1e-6;
  if (/^it\d\.loss$/.test(name)) return 1e-5;
  const t = header(file).tensors.get(name);
  return t && t.dtype !== 'F32' ? 0 : 1e-4;
}

function assertComplete(file: string, checks: Check[]): void {
  assert.deepEqual(checks.map((c) => c.name).sort(), expectedChecks(file), `${file}: verify must check every quantity`);
  const listed = JSON.parse(header(file).meta.tolerances ?? '{}') as Record<string, number>;
  for (const c of checks) {
    const want = listed[c.name] ?? readmeFloor(file, c.name);
    assert.equal(c.tolerance, want, `${c.name}: tolerance ${c.tolerance} is neither the fixture's nor the README's (${want})`);
    assert.equal(c.pass, Number.isFinite(c.error) && c.error <= c.tolerance, `${c.name}: pass flag disagrees with its error`);
  }
}

const failures = (checks: Check[]): string =>
  checks.filter((c) => !c.pass).map((c) => `${c.name} ${c.error.toExponential(2)} > ${c.tolerance}`).join('\n');

test('spark verify: the three fine-tuning fixtures pass every check at their own tolerances (floors where none is listed)', async () => {
  const { code, out } = await runVerifyCommand([...FT_CASES.map(fixture), '--json', '--threads', '1']);
  const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
  const of = (c: string): Check[] => r.checks.filter((k) => k.name.startsWith(`${c}:`)).map((k) => ({ ...k, name: k.name.slice(c.length + 1) }));
  for (const c of FT_CASES) {
    assertComplete(fixture(c), of(c));
    assert.equal(failures(of(c)), '', `${c} failing checks`);
  }
  // the integer buffers are compared exactly, the mixing to 1e-6: not loosened anywhere
  assert.ok(of('ft_resnet_lamb_64').some((k) => k.name === 'after.ema.bn1.num_batches_tracked' && k.tolerance === 0 && k.error === 0));
  assert.ok(of('ft_convnext_adam_64').every((k) => k.tolerance <= 1e-4));
  assert.equal(r.checks.length, FT_CASES.reduce((n, c) => n + of(c).length, 0));
  assert.equal(r.pass, true);
  assert.equal(code, 0);
});

test('spark verify ft_param_groups.json: every registered model\'s layer-decay table equals the reference\'s (and convnext_tiny/resnet34 from our generator)', async () => {
  const { code, out } = await runVerifyCommand([TABLES, EXTRA_TABLES, '--json']);
  const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
  assert.deepEqual(r.checks.map((c) => c.name).sort(), [
    'param_groups:param_groups.convnext_base', 'param_groups:param_groups.convnext_large', 'param_groups:param_groups.convnext_small',
    'param_groups:param_groups.resnet101', 'param_groups:param_groups.resnet152', 'param_groups:param_groups.resnet200', 'param_groups:param_groups.resnet50',
    'param_groups:param_groups.convnext_tiny', 'param_groups:param_groups.resnet34',
  ].sort());
  assert.equal(failures(r.checks), '');
  assert.ok(r.checks.every((c) => c.tolerance === 1e-12));
  assert.equal(code, 0);
});

const scale = (f: number) => (v: Float32Array): void => { for (let i = 0; i < v.length; i++) v[i] *= f; };

test('an edited fine-tuning fixture fails exactly the edited checks (exit 1)', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-ft-golden-'));
  try {
    // ft_convnext_adam_64 lists no tolerances: every check is at its floor
    const cnx = path.join(dir, 'ft_convnext_adam_64.safetensors');
    editedFixture(fixture('ft_convnext_adam_64'), cnx, {
      'it0.grad.stages.2.1.pwconv1.weight': scale(1.001),            // 1e-3 > 1e-4
      'it1.soft_target': (v: Float32Array) => { v[3] += 1e-5; },     // 1e-5 > 1e-6
      'after.ema.head.bias': scale(1.01),                            // 1e-2 > 1e-4
      'it0.mixed_input': (v: Float32Array) => { v[100] += 1e-4; },   // 1e-4 > 1e-6
    }, (m) => {
      const its = JSON.parse(m.iterations) as { loss: number; lr: number[] }[];
      its[1].loss *= 1 + 1e-4;                                       // 1e-4 > 1e-5
      its[0].lr[0] *= 1 + 1e-9;                                      // 1e-9 > 1e-12
      m.iterations = JSON.stringify(its);
      const groups = JSON.parse(m.param_groups) as Record<string, [number, number]>;
      groups['stages.1.0.pwconv1.weight'][1] = 0;                    // a wd scale
      m.param_groups = JSON.stringify(groups);
    });
    const r1 = await runVerifyCommand([cnx, '--json']);
    const j1 = JSON.parse(r1.out) as { pass: boolean; checks: Check[] };
    assertComplete(cnx, j1.checks);
    assert.deepEqual(j1.checks.filter((c) => !c.pass).map((c) => c.name).sort(), [
      'after.ema.head.bias', 'it0.grad.stages.2.1.pwconv1.weight', 'it0.lr', 'it0.mixed_input', 'it1.loss', 'it1.soft_target', 'param_groups',
    ]);
    const at = (n: string): Check => j1.checks.find((c) => c.name === n)!;
    assert.ok(Math.abs(at('it1.soft_target').error - 1e-5) < 1e-7, `${at('it1.soft_target').error}`);
    assert.equal(at('param_groups').error, 1);
    assert.equal(r1.code, 1);

    // ft_resnet_lamb_64: an integer buffer is compared exactly; a listed tolerance is the one applied
    const res = path.join(dir, 'ft_resnet_lamb_64.safetensors');
    const listed = JSON.parse(header(fixture('ft_resnet_lamb_64')).meta.tolerances) as Record<string, number>;
    const LISTED = 'after.state.layer2.3.bn3.weight';
    assert.ok(listed[LISTED] >= 5e-4, `${LISTED} is listed (${listed[LISTED]})`);
    editedFixture(fixture('ft_resnet_lamb_64'), res, {
      'after.state.layer3.0.bn1.num_batches_tracked': (v: BigInt64Array) => { v[0] += 1n; },
      [LISTED]: scale(1 + listed[LISTED] / 10),                      // within the listed tolerance, above the floor
      'it0.grad.fc.weight': scale(1.01),
    });
    const r2 = await runVerifyCommand([res, '--json']);
    const j2 = JSON.parse(r2.out) as { pass: boolean; checks: Check[] };
    assertComplete(res, j2.checks);
    assert.deepEqual(j2.checks.filter((c) => !c.pass).map((c) => c.name).sort(), ['after.state.layer3.0.bn1.num_batches_tracked', 'it0.grad.fc.weight']);
    const nbt = j2.checks.find((c) => c.name === 'after.state.layer3.0.bn1.num_batches_tracked')!;
    assert.deepEqual([nbt.error, nbt.tolerance], [1, 0]);
    const within = j2.checks.find((c) => c.name === LISTED)!;
    assert.ok(within.pass && within.error > 1e-4, JSON.stringify(within));
    assert.equal(r2.code, 1);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('an edited layer-decay table fails exactly the edited model', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-ft-golden-'));
  try {
    const t = JSON.parse(fs.readFileSync(EXTRA_TABLES, 'utf8')) as Record<string, { lr_scale: number; groups: Record<string, [number, number]> }>;
    t.resnet34.groups['layer3.2.conv1.weight'][0] *= 1 + 1e-9;
    const file = path.join(dir, 'tables.json');
    fs.writeFileSync(file, JSON.stringify(t));
    const r = await runVerifyCommand([file, '--json']);
    const j = JSON.parse(r.out) as { pass: boolean; checks: Check[] };
    assert.deepEqual(j.checks.map((c) => [c.name, c.pass]), [['param_groups.convnext_tiny', true], ['param_groups.resnet34', false]]);
    assert.equal(r.code, 1);
    // a missing parameter is a failure too, not a skip
    delete t.resnet34.groups['fc.bias'];
    t.resnet34.groups['layer3.2.conv1.weight'][0] /= 1 + 1e-9;
    fs.writeFileSync(file, JSON.stringify(t));
    const j2 = JSON.parse((await runVerifyCommand([file, '--json'])).out) as { checks: Check[] };
    assert.equal(j2.checks.find((c) => c.name === 'param_groups.resnet34')!.error, null);   // Infinity in JSON
    // an unregistered model is one clear error
    fs.writeFileSync(file, JSON.stringify({ vit_base: { lr_scale: 0.7, groups: {} } }));
    await assert.rejects(runVerifyCommand([file]), /model 'vit_base' is not registered; known models: resnet18/);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('the kind is read from the metadata: pretraining fixtures are not fine-tuning ones', () => {
  assert.equal(isFinetuneFixture(fixture('ft_resnet_adam_nomix_48')), true);
  assert.equal(isFinetuneFixture(goldenPath('resnet_basic_96.safetensors')), false);
  assert.throws(() => verifyFinetuneFixture(goldenPath('resnet_basic_96.safetensors')), /is not a fine-tuning fixture: its metadata lacks kind "finetune"/);
});
