// The benches parse their flags with the CLI's parser (bench/args.ts over src/cli/args.ts): --help
// lists the flags and exits 0; a bad flag or value is one line naming the bench and the problem, exit 2,
// before any work starts. Each bench is started once (loading libtorch dominates its start-up).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { parseArgs, UsageError, helpText } from '../../src/cli/args.js';
import { parseBenchArgs } from '../../bench/args.js';
import { repoRoot } from '../helpers.js';

const bench = (name: string, args: string[]) =>
  spawnSync(process.execPath, [path.join(repoRoot(), 'dist/bench', `${name}.bench.js`), ...args], { encoding: 'utf8', timeout: 120_000 });

test('every bench answers --help with its usage and its flags, parsed by the CLI parser', () => {
  for (const [name, flag] of [['ops', '--settle_ms <int>'], ['memory_soak', '--yield'], ['loader_vs_step', '--workers <ints>']]) {
    const r = bench(name, ['--help']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: node dist/bench/${name}\\.bench\\.js`));
    assert.ok(r.stdout.includes(flag) && r.stdout.includes('--help'), `${name}: ${r.stdout}`);
  }
  // and a bad value is one line naming the bench, exit 2, nothing on stdout
  const bad = bench('loader', ['--workers', '1,,4']);
  assert.equal(bad.status, 2, bad.stderr + bad.stdout);
  assert.equal(bad.stdout, '');
  assert.equal(bad.stderr, "loader.bench: --workers must be comma-separated integers (e.g. 1,2,4), got '1,,4'\n");
});

test('the step benches refuse an unknown job or profile side in one line, before any work', () => {
  const job = bench('spark_step', ['--job', 'train', '--no-ref']);
  assert.equal(job.status, 2, job.stderr + job.stdout);
  assert.equal(job.stderr, "spark_step.bench: --job must be pretrain or finetune, got 'train'\n");
  const side = bench('spark_profile', ['--sides', 'caching,jemalloc', '--no-ref']);
  assert.equal(side.status, 2, side.stderr + side.stdout);
  assert.equal(side.stderr, "spark_profile.bench: --sides takes caching and/or system, got 'jemalloc'\n");
  const help = bench('spark_profile', ['--help']);
  assert.equal(help.status, 0, help.stderr);
  assert.ok(help.stdout.includes('--sides <string>'), help.stdout);
});

test('bench flags: spellings, bounds, positional arguments and help, in process', () => {
  const specs = {
    settle_ms: { type: 'int' as const, default: 150, min: 0, help: 'pause' },
    threads: { type: 'int' as const, default: 2, min: 1, help: 'threads' },
    no_python: { type: 'bool' as const, default: false, help: 'skip python' },
  };
  assert.deepEqual(parseBenchArgs(['--settle-ms', '5', '--no-python'], 'u', specs), { flags: { settle_ms: 5, threads: 2, no_python: true, help: false }, positional: [] });
  assert.deepEqual(parseBenchArgs(['dir'], 'u', specs, 1), { flags: { settle_ms: 150, threads: 2, no_python: false, help: false }, positional: ['dir'] });
  assert.throws(() => parseBenchArgs(['dir'], 'u', specs), (e: Error) => e instanceof UsageError && e.message === "unexpected argument 'dir' (this bench takes only flags); see --help");
  assert.throws(() => parseBenchArgs(['a', 'b'], 'u', specs, 1), (e: Error) => e instanceof UsageError && e.message === "unexpected argument 'b'; see --help");
  assert.throws(() => parseBenchArgs(['--threads', '0'], 'u', specs), (e: Error) => e instanceof UsageError && e.message === "--threads must be ≥ 1, got '0'");
  assert.throws(() => parseBenchArgs(['--settle-ms', 'x'], 'u', specs), /--settle-ms must be a number, got 'x'/);
  assert.throws(() => parseBenchArgs(['--thread', '3'], 'u', specs), /unknown flag --thread \(did you mean --threads\?\)/);
  const help = parseBenchArgs(['--help'], 'usage: x', specs);
  assert.ok('help' in help && help.help.startsWith('usage: x\n') && /--settle_ms <int>\s+pause \(default 150\)/.test(help.help));
});

test('the parser: min bounds and comma-separated integer lists', () => {
  const specs = { n: { type: 'int' as const, default: 1, min: 1, help: '' }, w: { type: 'ints' as const, default: [1, 2], min: 1, help: '' }, x: { type: 'float' as const, min: 0, help: '' } };
  assert.deepEqual(parseArgs(['--w', '4,8', '--n=3', '--x', '0.5'], specs).flags, { n: 3, w: [4, 8], x: 0.5 });
  assert.deepEqual(parseArgs([], specs).flags, { n: 1, w: [1, 2], x: undefined });
  assert.throws(() => parseArgs(['--n', '0'], specs), (e: Error) => e instanceof UsageError && e.message === "--n must be ≥ 1, got '0'");
  assert.throws(() => parseArgs(['--w', '1,0'], specs), /--w values must be ≥ 1, got '1,0'/);
  assert.throws(() => parseArgs(['--w', '1.5'], specs), /--w must be comma-separated integers/);
  assert.throws(() => parseArgs(['--x', '-1'], specs), /--x must be ≥ 0, got '-1'/);
  assert.match(helpText('u', specs), /--w <ints>\s+\(default 1,2\)/);
});
