// `spark verify` / verifyGolden against the reference's golden fixtures (shared/golden/README.md), on one
// intra-op thread (the conditions the fixtures were made under: Debian's libtorch defaults to 1 thread,
// and more threads reorder float32 sums). Every check is held to the fixture's own tolerance for it
// (`__metadata__.tolerances`, the reference's measured float32 spread) or else to the README's floor,
// and all four shared fixtures must pass every check.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import { writeSafetensors } from '../../src/torch/io/index.js';
import { verifyGolden, TOLERANCE, CheckList, parseTolerances, toleranceFor, type Check } from '../../src/train/golden.js';
import { verifyCommand } from '../../src/cli/verify.js';
import { UsageError } from '../../src/cli/args.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';
import { GOLDEN_CASES, goldenPath, readGoldenHeader } from './golden_meta.js';

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

/** The floor the README gives each kind of check. */
function readmeFloor(name: string): number {
  if (name === 'loss' || /^opt\.loss\[/.test(name)) return 1e-5;
  if (name.startsWith('vis.')) return 1e-4;
  if (/^opt\.(lr|wd)\[/.test(name)) return 1e-5;
  return 1e-4;   // gradients, state tensors, the global grad norm
}

/** The fixture's own tolerances, read straight from its header (not through the code under test). */
function fixtureTolerances(caseName: string): Record<string, number> {
  const raw = readGoldenHeader(caseName).meta.tolerances;
  return raw === undefined ? {} : JSON.parse(raw) as Record<string, number>;
}

/** verify made every check of the fixture, each at the fixture's listed tolerance or else the README floor. */
function assertComplete(caseName: string, checks: Check[]): void {
  assert.deepEqual(checks.map((c) => c.name).sort(), expectedChecks(caseName), `${caseName}: verify must check every quantity of the fixture`);
  const listed = fixtureTolerances(caseName);
  for (const name of Object.keys(listed)) assert.ok(checks.some((c) => c.name === name), `${caseName}: listed tolerance ${name} names no check`);
  for (const c of checks) {
    const want = listed[c.name] ?? readmeFloor(c.name);
    assert.equal(c.tolerance, want, `${c.name}: tolerance ${c.tolerance} is neither the fixture's nor the README's (${want})`);
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

test('spark verify: all four shared fixtures pass every check at their own tolerances (floors where none is listed)', async () => {
  const { code, out } = await runVerifyCommand([...GOLDEN_CASES.map(fixture), '--json', '--threads', '1']);
  const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
  const of = (c: string): Check[] => r.checks.filter((k) => k.name.startsWith(`${c}:`)).map((k) => ({ ...k, name: k.name.slice(c.length + 1) }));
  for (const c of GOLDEN_CASES) {
    assertComplete(c, of(c));
    assert.equal(failures(of(c)), '', `${c} failing checks`);
  }
  assert.equal(r.checks.length, GOLDEN_CASES.reduce((n, c) => n + of(c).length, 0));
  // the fixtures list tolerances for the ill-conditioned quantities, and one lists none at all
  assert.ok(Object.keys(fixtureTolerances('resnet_basic_96')).length > 0);
  assert.ok(of('resnet_basic_96').some((k) => k.tolerance > 1e-4 && k.name.startsWith('opt.state_after.')));
  assert.deepEqual(fixtureTolerances('convnext_128_m75'), {});
  assert.equal(r.pass, true);
  assert.equal(code, 0);
});

/**
 * A copy of a fixture with some float32 tensors changed by `edits` and its metadata passed through
 * `meta` (the header is rewritten, data offsets are relative to the data section so they stay valid).
 */
function editedFixture(src: string, dst: string, edits: Record<string, (v: Float32Array) => void>,
  meta: (m: Record<string, string>) => void = () => {}): void {
  const buf = fs.readFileSync(src);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const data = Buffer.from(buf.subarray(8 + n));
  for (const [name, edit] of Object.entries(edits)) {
    const e = header[name] as { dtype: string; data_offsets: [number, number] };
    assert.equal(e.dtype, 'F32', name);
    const [s, t] = e.data_offsets;
    const v = new Float32Array(data.buffer.slice(data.byteOffset + s, data.byteOffset + t));
    edit(v);
    Buffer.from(v.buffer).copy(data, s);
  }
  meta(header.__metadata__ as Record<string, string>);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.writeFileSync(dst, Buffer.concat([len, Buffer.from(json, 'utf8'), data]));
}

// resnet_basic_96 lists tolerances for the LAMB state only: the gradients and the visualisation keep
// their floors, `opt.state_after.sparse_encoder.sp_cnn.conv1.weight` has 3.1e-4 and `…bn1.bias` 3.2e-3.
const LISTED_FAIL = 'opt.state_after.sparse_encoder.sp_cnn.conv1.weight';
const LISTED_WITHIN = 'opt.state_after.sparse_encoder.sp_cnn.bn1.bias';
const scale = (f: number) => (v: Float32Array): void => { for (let i = 0; i < v.length; i++) v[i] *= f; };
const EDITS = {
  'grad.dense_decoder.proj.bias': scale(1.001),       // unlisted: 1e-3 > floor 1e-4
  'vis.rec_or_inp': (v: Float32Array) => { v[1234] += 1e-3; },   // unlisted: 1e-3 > floor 1e-4
  [LISTED_FAIL]: scale(1.01),                         // listed: 1e-2 > 3.1e-4
  [LISTED_WITHIN]: scale(1.0015),                     // listed: 1.5e-3 < 3.2e-3, though > the floor
};

test('verify reports a difference: an edited fixture fails exactly the edited checks beyond their tolerance, listed or not (exit 1)', async () => {
  const listed = fixtureTolerances('resnet_basic_96');
  assert.equal(listed[LISTED_FAIL], 0.00031);
  assert.equal(listed[LISTED_WITHIN], 0.0032);
  assert.equal(listed['grad.dense_decoder.proj.bias'], undefined);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-golden-'));
  try {
    const file = path.join(dir, 'resnet_basic_96.safetensors');
    editedFixture(fixture('resnet_basic_96'), file, EDITS);
    const { code, out } = await runVerifyCommand([file, '--json']);
    const r = JSON.parse(out) as { pass: boolean; checks: Check[] };
    assertComplete('resnet_basic_96', r.checks);
    assert.deepEqual(r.checks.filter((c) => !c.pass).map((c) => c.name), ['grad.dense_decoder.proj.bias', 'vis.rec_or_inp', LISTED_FAIL]);
    const at = (n: string): Check => r.checks.find((c) => c.name === n)!;
    assert.ok(Math.abs(at('grad.dense_decoder.proj.bias').error - 1e-3 / 1.001) < 1e-6, `relative error ${at('grad.dense_decoder.proj.bias').error}`);   // ‖g − 1.001g‖ / ‖1.001g‖
    assert.equal(at('grad.dense_decoder.proj.bias').tolerance, 1e-4);
    assert.ok(Math.abs(at('vis.rec_or_inp').error - 1e-3) < 1e-6);
    assert.ok(at(LISTED_FAIL).error > 5e-3, `${LISTED_FAIL}: ${at(LISTED_FAIL).error}`);
    assert.equal(at(LISTED_FAIL).tolerance, 0.00031);
    // the listed tolerance is the one applied: this check passes although it is 10× above the floor
    assert.ok(at(LISTED_WITHIN).error > 1e-3 && at(LISTED_WITHIN).pass, `${LISTED_WITHIN}: ${JSON.stringify(at(LISTED_WITHIN))}`);
    assert.equal(at(LISTED_WITHIN).tolerance, 0.0032);
    assert.equal(r.pass, false);
    assert.equal(code, 1);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('a fixture without `tolerances` (an older file, a user\'s own) is verified at the floors', async () => {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-golden-'));
  try {
    const file = path.join(dir, 'resnet_basic_96.safetensors');
    editedFixture(fixture('resnet_basic_96'), file, EDITS, (m) => { delete m.tolerances; });
    const text = await runVerifyCommand([file]);
    assert.equal(text.code, 1);
    const lines = text.out.split('\n').filter((l) => /^\s+(ok|FAIL)\s/.test(l));
    assert.equal(lines.length, 363);
    for (const l of lines) assert.match(l, /tolerance 1e-(4|5)$/, l);   // floors only
    // now the LAMB state of the within-tolerance edit fails at the floor, and so do the edited ones
    for (const n of ['grad.dense_decoder.proj.bias', 'vis.rec_or_inp', LISTED_FAIL, LISTED_WITHIN]) {
      assert.match(text.out, new RegExp(`FAIL\\s+${n.replace(/\./g, '\\.')}\\s+error \\S+\\s+tolerance 1e-4`), n);
    }
    assert.match(text.out, /FAIL: \d+\/363 checks within tolerance/);
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});

test('tolerance lookup: listed value, else the floor; malformed or stray tolerances are refused', () => {
  const tol = parseTolerances({ tolerances: '{"grad.a": 0.0003}' }, 'f.safetensors');
  assert.equal(toleranceFor(tol, 'grad.a', 1e-4), 0.0003);
  assert.equal(toleranceFor(tol, 'grad.b', 1e-4), 1e-4);
  assert.equal(parseTolerances({}, 'f.safetensors').size, 0);
  assert.throws(() => parseTolerances({ tolerances: '[1]' }, 'f.safetensors'), /^Error: f\.safetensors: metadata 'tolerances' is not a JSON object/);
  assert.throws(() => parseTolerances({ tolerances: '{"loss": "1e-3"}' }, 'f.safetensors'), /tolerance of 'loss' is "1e-3", not a positive finite number/);
  assert.throws(() => parseTolerances({ tolerances: '{"loss": -1}' }, 'f.safetensors'), /tolerance of 'loss' is -1/);
  const list = new CheckList(tol, 'f.safetensors');
  list.add('grad.a', 2e-4, 1e-4);
  list.add('grad.b', 2e-4, 1e-4);
  list.add('grad.c', NaN, 1e-4);
  assert.deepEqual(list.finish(), [
    { name: 'grad.a', error: 2e-4, tolerance: 3e-4, pass: true },
    { name: 'grad.b', error: 2e-4, tolerance: 1e-4, pass: false },
    { name: 'grad.c', error: NaN, tolerance: 1e-4, pass: false },
  ]);
  const stray = new CheckList(parseTolerances({ tolerances: '{"grad.typo": 1e-3}' }, 'f.safetensors'), 'f.safetensors');
  stray.add('grad.a', 0, 1e-4);
  assert.throws(() => stray.finish(), /f\.safetensors: 'tolerances' lists 1 check\(s\) that verify does not make \(grad\.typo\)/);
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
  // the text shows the tolerance applied: the fixture's own where listed
  assert.match(ok.stdout, /ok\s+opt\.state_after\.sparse_encoder\.sp_cnn\.conv1\.weight\s+error \S+\s+tolerance 3\.1e-4\n/);
  assert.match(ok.stdout, /ok\s+grad\.dense_decoder\.proj\.bias\s+error \S+\s+tolerance 1e-4\n/);
  const bad = spawnSync(process.execPath, [cli, 'verify', 'nope.safetensors'], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.equal(bad.stderr.trim().split('\n').length, 1, bad.stderr);
  assert.match(bad.stderr, /^spark: error: fixture nope\.safetensors does not exist/);
});
