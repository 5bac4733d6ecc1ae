// sparkts as a dependency of another project: `npm pack` this repository, install the tarball into a
// fresh temporary project offline (`npm ci --offline` from npm's cache, which this repo's own `npm ci`
// filled: the consumer's lock file takes sparkts's dependencies' entries from ours, so npm needs no
// registry metadata), type-check a
// script that uses the public surface against the shipped declarations, and run it: a model from the
// registry, a few SparK steps, and a two-iteration pretrain() on a tiny image folder.
// The install reuses this repository's built addon (SPARKTS_PREBUILT_ADDON, one of the install hook's
// cases) instead of compiling it again for minutes; the compiling path (no such variable: node-gyp
// through scripts/libtorch.mjs) is the same hook, exercised by hand (see the report of issue 13).
// That the hook refuses to build without libtorch, with the three ways to get it, is checked here.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, checkNoLeaks } from '../helpers.js';
import { run, compile, writeConsumerTsconfig, photos } from './support.js';

checkNoLeaks();

const NPM_QUIET = ['--no-audit', '--no-fund', '--loglevel=error'];

type LockEntry = { version?: string; resolved?: string; integrity?: string; dependencies?: Record<string, string>; optionalDependencies?: Record<string, string>; dev?: boolean; devOptional?: boolean; peer?: boolean };

/**
 * A package-lock.json for a project depending on the tarball and on `extra` (names in our lock): our
 * lock's entries for the dependency closure (so `npm ci --offline` installs from the cache our own
 * `npm ci` filled), sparkts itself as the local tarball.
 */
function consumerLock(ours: { packages: Record<string, LockEntry> }, pkg: { version: string; dependencies: Record<string, string> }, tgz: string, extra: Record<string, string>): object {
  const packages: Record<string, LockEntry> = {};
  const todo = [...Object.keys(pkg.dependencies), ...Object.keys(extra)];
  while (todo.length) {
    const name = todo.pop()!;
    const key = `node_modules/${name}`;
    if (packages[key] || !ours.packages[key]) continue;   // optional platform packages absent from our lock are skipped by npm too
    const { dev, devOptional, peer, ...e } = ours.packages[key]!;
    void dev; void devOptional; void peer;
    packages[key] = e;
    todo.push(...Object.keys(e.dependencies ?? {}), ...Object.keys(e.optionalDependencies ?? {}));
  }
  return {
    name: 'consumer', version: '1.0.0', lockfileVersion: 3, requires: true,
    packages: {
      '': { name: 'consumer', version: '1.0.0', dependencies: { sparkts: `file:${tgz}`, ...extra } },
      'node_modules/sparkts': { version: pkg.version, resolved: `file:${tgz}`, hasInstallScript: true, dependencies: pkg.dependencies, license: 'MIT' },
      ...packages,
    },
  };
}

const SCRIPT = `
import { torch, SparK, createModel, listModels, pretrain, type PretrainProgress } from 'sparkts';
import { nn } from 'sparkts/torch';

const encoder = createModel('resnet18');
const spark = new SparK(encoder, { inputSize: 64, decoderWidth: 32 });
const opt = new torch.optim.AdamW(spark.parameters(), { lr: 1e-3 });
const x = torch.randn([2, 3, 64, 64]);
const sparkLosses: number[] = [];
for (let i = 0; i < 3; i++) torch.tidy(() => {
  const loss = spark.forward(x, { generator: new torch.Generator(i) });
  opt.zeroGrad(); loss.backward(); opt.step();
  sparkLosses.push(loss.item());
});
const isModule = spark instanceof nn.Module;
x.dispose();
opt.disposeState();
for (const t of [...spark.parameters(), ...spark.buffers()]) t.dispose();

const events: PretrainProgress[] = [];
const r = await pretrain({
  dataPath: 'photos', expDir: 'exp', model: 'resnet18', inputSize: 32, bs: 2, ep: 1, wpEp: 0, decoderWidth: 32,
  threads: 1, workers: 0, maxIters: 2, verbose: false, onProgress: (p) => { events.push(p); },
});
console.log(JSON.stringify({
  models: listModels(), sparkLosses, isModule, iters: r.iters, losses: r.losses, files: r.files,
  steps: events.filter((e) => e.kind === 'step').length, live: torch.liveTensorCount(),
}));
`;

test('npm pack → npm install (offline) in a fresh project → tsc against the shipped declarations → a SparK run', { timeout: 120_000 }, async () => {
  const root = repoRoot();
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-consumer-'));
  try {
    // the tarball: dist is built already (this test runs from it), so no prepack
    const { stdout: packJson } = await run('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', dir, ...NPM_QUIET], { cwd: root });
    const [pack] = JSON.parse(packJson) as { filename: string; files: { path: string }[] }[];
    const shipped = pack!.files.map((f) => f.path);
    for (const f of ['package.json', 'dist/src/index.js', 'dist/src/index.d.ts', 'dist/src/torch/index.d.ts', 'dist/src/cli/main.js',
      'native/binding.gyp', 'native/src/glue.cc', 'native/generated/ops.cc', 'scripts/install.mjs', 'scripts/libtorch.mjs']) {
      assert.ok(shipped.includes(f), `the tarball lacks ${f}`);
    }
    const internal = shipped.filter((f) => /^(src|test|bench|dist\/test|dist\/bench|native\/build)\/|fixtures|\.map$/.test(f));
    assert.deepEqual(internal, [], 'the tarball ships sources, tests or build outputs');

    const ourPkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string; dependencies: Record<string, string> };
    const ourLock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, LockEntry> };
    const extra = { '@types/node': ourLock.packages['node_modules/@types/node']!.version! };   // a TypeScript user's own dependency
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'consumer', version: '1.0.0', type: 'module', private: true,
      dependencies: { sparkts: `file:${pack!.filename}`, ...extra } }));
    fs.writeFileSync(path.join(dir, 'package-lock.json'), JSON.stringify(consumerLock(ourLock, ourPkg, pack!.filename, extra), null, 1));
    const addon = path.join(root, 'native', 'build', 'Release', 'sparkts.node');
    await run('npm', ['ci', '--offline', ...NPM_QUIET], { cwd: dir, env: { ...process.env, SPARKTS_PREBUILT_ADDON: addon } });
    const installed = path.join(dir, 'node_modules', 'sparkts');
    assert.ok(!fs.lstatSync(installed).isSymbolicLink(), 'installed as a copy, not a link to this repository');
    assert.ok(fs.existsSync(path.join(installed, 'native', 'build', 'Release', 'sparkts.node')), 'the install hook put the addon in place');

    fs.writeFileSync(path.join(dir, 'main.ts'), SCRIPT);
    writeConsumerTsconfig(dir, ['main.ts'], { checkLibs: true });
    await compile(dir);
    await photos(path.join(dir, 'photos'), 4);
    const { stdout } = await run(process.execPath, [path.join(dir, 'out', 'main.js')], { cwd: dir, timeout: 60_000, env: { ...process.env, SPARKTS_NUM_THREADS: '1' } });
    const r = JSON.parse(stdout.trim().split('\n').pop()!) as {
      models: string[]; sparkLosses: number[]; isModule: boolean; iters: number; losses: [number, number][];
      files: { sparkStyle: string; timmStyle: string; log: string }; steps: number; live: number;
    };
    assert.ok(r.models.includes('resnet18') && r.models.includes('convnext_tiny'), r.models.join(','));
    assert.equal(r.sparkLosses.length, 3);
    assert.ok(r.sparkLosses.every((l) => Number.isFinite(l) && l > 0), `SparK losses ${r.sparkLosses}`);
    assert.ok(r.isModule, 'sparkts/torch is the same tensor library as sparkts’s torch');
    assert.equal(r.iters, 2);
    assert.deepEqual(r.losses.map(([i]) => i), [0, 1]);
    assert.equal(r.steps, 2, 'one progress event per iteration');
    for (const f of [r.files.sparkStyle, r.files.timmStyle, r.files.log]) {
      assert.ok(f.startsWith(path.join(fs.realpathSync(dir), 'exp')) || f.startsWith(path.join(dir, 'exp')), `${f} is in the exp dir`);
      assert.ok(fs.statSync(f).size > 0, `${f} was written`);
    }
    assert.equal(r.live, 0, 'the script freed every tensor (the jobs free theirs)');

    // without a prebuilt addon and with no libtorch, the hook refuses with the ways to get one
    const refused = await run(process.execPath, [path.join(installed, 'scripts', 'install.mjs')],
      { cwd: installed, env: { ...process.env, SPARKTS_PREBUILT_ADDON: '', LIBTORCH: path.join(dir, 'no-libtorch') } }).then(() => null, (e: { code: number; stderr: string }) => e);
    assert.ok(refused, 'the install hook built without libtorch');
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /^\[sparkts\] install failed: LIBTORCH=.*no-libtorch has no include\/ATen\/ATen\.h; point it at an unzipped libtorch folder\.$/m);
    assert.match(refused.stderr, /LIBTORCH_USE_PYTORCH=1/);
    assert.match(refused.stderr, /apt-get install libtorch-dev/);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
