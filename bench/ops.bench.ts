// Op throughput against libtorch itself (issue 2): a 3×3 conv2d forward+backward and a 1024³ float32
// matmul, our GFLOP/s beside the same work done by libtorch directly in the same run.
//
//   node dist/bench/ops.bench.js [--threads N] [--repeats K] [--warmup W] [--settle-ms S] [--no-python] [--json]
//
// Baselines, each a long-lived child process doing the identical work with the same thread count:
//   - C++ (bench/baseline/ops_baseline.cc, compiled on the fly by bench/baseline/build.sh against the
//     libtorch that scripts/libtorch.mjs resolves — the one our addon links);
//   - Python torch (bench/baseline/ops_baseline.py), when `python3 -c 'import torch'` works.
// Reps are interleaved (ours, C++, Python, rotating the order each round) so that the noise of a shared
// machine lands on all of them alike; each side reports the median of K reps. The verdict compares us
// with the C++ baseline: ratio = our GFLOP/s / libtorch's, and the issue asks for ≥ 0.95.

import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import * as torch from '../src/torch/index.js';
import { repoRoot } from '../src/torch/repo.js';
import { pythonWithTorch } from '../test/python.js';
import { benchArgs } from './args.js';

// ---- arguments ----
const { flags } = benchArgs('ops.bench', 'usage: node dist/bench/ops.bench.js [flags]', {
  threads: { type: 'int', default: torch.defaultNumThreads(), min: 1, help: 'intra-op threads (all sides)' },
  repeats: { type: 'int', default: 21, min: 1, help: 'timed reps per side; each side reports the median' },
  warmup: { type: 'int', default: 2, min: 0, help: 'untimed reps first' },
  // OpenMP and OpenBLAS worker threads busy-wait for a while after their last job (OpenBLAS ~0.1 s);
  // without a pause one side's spinning threads would eat the next side's cores.
  settle_ms: { type: 'int', default: 150, min: 0, help: 'pause between switching sides (ms)' },
  no_python: { type: 'bool', default: false, help: 'skip the Python torch baseline' },
  json: { type: 'bool', default: false, help: 'print one JSON object' },
});
const threads = flags.threads as number;
const repeats = flags.repeats as number;
const warmup = flags.warmup as number;
const settleMs = flags.settle_ms as number;
const usePython = !flags.no_python;
const asJson = flags.json as boolean;

// ---- the work (shapes must match bench/baseline/ops_baseline.{cc,py}) ----
interface Op { name: string; label: string; flops: number; inner: number; run: () => void }

torch.setNumThreads(threads);
torch.manualSeed(0);
const [N, C, H, W, K] = [8, 64, 56, 56, 3];
const x = torch.randn([N, C, H, W]).keep();
const w = torch.randn([C, C, K, K]).mul_(0.05).keep();
x.requiresGrad = true;
w.requiresGrad = true;
const gy = torch.randn([N, C, H, W]).keep();
const M = 1024;
const a = torch.randn([M, M]).keep();
const b = torch.randn([M, M]).keep();

const convForwardFlops = 2 * N * C * H * W * C * K * K; // stride 1, padding 1: output is H×W
const ops: Op[] = [
  {
    name: 'conv2d_fb',
    label: `conv2d 3×3 fwd+bwd (N=${N}, C ${C}→${C}, ${H}×${W}, pad 1; grads to input and weight)`,
    // forward, grad-input and grad-weight are each one convolution's worth of multiply-adds
    flops: 3 * convForwardFlops,
    inner: 1,
    run: () => torch.tidy(() => {
      x.grad = null; // fresh gradients each run, no accumulation: the baselines do the same
      w.grad = null;
      torch.conv2d(x, w, null, 1, 1).backward(gy);
    }),
  },
  {
    name: 'matmul',
    label: `matmul ${M}×${M}×${M} float32`,
    flops: 2 * M * M * M,
    inner: 10,
    run: () => torch.tidy(() => { torch.matmul(a, b); }),
  },
];

// ---- baselines: children speaking one JSON line per request ----
class Baseline {
  readonly info: { torchVersion: string; threads: number; parallelInfo: string };
  private constructor(readonly name: string, private child: ChildProcessWithoutNullStreams,
    private lines: AsyncIterator<string>, info: Baseline['info']) { this.info = info; }

  static async start(name: string, cmd: string, args: string[]): Promise<Baseline> {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => { stderr += d; });
    const lines = createInterface({ input: child.stdout })[Symbol.asyncIterator]();
    const first = await lines.next();
    if (first.done) throw new Error(`${name} baseline (${cmd} ${args.join(' ')}) exited before starting: ${stderr.trim()}`);
    return new Baseline(name, child, lines, JSON.parse(first.value));
  }

  /** Seconds for one rep of `inner` runs of op. */
  async time(op: Op): Promise<number> {
    this.child.stdin.write(`${op.name} ${op.inner}\n`);
    const r = await this.lines.next();
    if (r.done) throw new Error(`${this.name} baseline exited during ${op.name}`);
    const msg = JSON.parse(r.value) as { seconds?: number; error?: string };
    if (msg.error !== undefined || msg.seconds === undefined) throw new Error(`${this.name} baseline: ${msg.error ?? r.value}`);
    return msg.seconds;
  }

  stop(): void { this.child.stdin.end('quit\n'); }
}

function buildCppBaseline(root: string): string {
  const r = spawnSync('bash', [path.join(root, 'bench/baseline/build.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] });
  if (r.status !== 0) throw new Error('ops.bench: building the C++ baseline failed (bench/baseline/build.sh); see the compiler output above');
  return r.stdout.trim().split('\n').pop()!;
}

// ---- statistics ----
const median = (v: number[]): number => {
  const s = v.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

// ---- run ----
const root = repoRoot();
const cppBin = buildCppBaseline(root);
const baselines: Baseline[] = [await Baseline.start('libtorch C++', cppBin, [String(threads)])];
const py = usePython ? pythonWithTorch() : null;
if (py) baselines.push(await Baseline.start('python torch', py, [path.join(root, 'bench/baseline/ops_baseline.py'), String(threads)]));

const info = torch.buildInfo();
const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical CPUs (${os.availableParallelism()} available), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, load avg ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
console.log(`libtorch ${info.torchVersion} (${/ATen parallel backend: (\S+)/.exec(info.parallelInfo)?.[1] ?? '?'} backend), node ${process.version}`);
console.log(`threads: sparkts ${torch.getNumThreads()}, ${baselines.map((bl) => `${bl.name} ${bl.info.threads} (torch ${bl.info.torchVersion})`).join(', ')}`);
for (const bl of baselines) {
  if (bl.info.threads !== torch.getNumThreads()) throw new Error(`ops.bench: ${bl.name} runs ${bl.info.threads} threads but sparkts ${torch.getNumThreads()}; the comparison would be unfair`);
}
console.log(`method: ${warmup} warm-up + ${repeats} timed reps per side, interleaved (order rotates each round), ${settleMs} ms settle between sides; median\n`);

type Side = { name: string; time: (op: Op) => Promise<number> };
const ours: Side = {
  name: 'sparkts',
  time: async (op) => {
    const t0 = process.hrtime.bigint();
    for (let i = 0; i < op.inner; i++) op.run();
    return Number(process.hrtime.bigint() - t0) / 1e9;
  },
};
const sides: Side[] = [ours, ...baselines.map((bl) => ({ name: bl.name, time: (op: Op) => bl.time(op) }))];

interface Result {
  op: string; side: string; medianSeconds: number; gflops: number; bestGflops: number;
  /** sparkts GFLOP/s ÷ this side's, from the medians (null for sparkts itself) */
  ratio: number | null;
  /** median over rounds of the same quotient taken within each round (pairs measured seconds apart) */
  pairedRatio: number | null;
}
const results: Result[] = [];
let failed = false;
const leakStart = torch.liveTensorCount();
for (const op of ops) {
  const times = new Map<string, number[]>(sides.map((s) => [s.name, []]));
  for (let r = 0; r < warmup + repeats; r++) {
    for (let k = 0; k < sides.length; k++) {
      const side = sides[(r + k) % sides.length]!;
      if (settleMs) await sleep(settleMs);
      const sec = (await side.time(op)) / op.inner;
      if (r >= warmup) times.get(side.name)!.push(sec);
    }
  }
  console.log(op.label);
  const oursMedian = median(times.get(ours.name)!);
  for (const side of sides) {
    const t = times.get(side.name)!;
    const med = median(t);
    const res: Result = {
      op: op.name, side: side.name, medianSeconds: med, gflops: op.flops / med / 1e9,
      bestGflops: op.flops / Math.min(...t) / 1e9, ratio: side === ours ? null : med / oursMedian,
      pairedRatio: side === ours ? null : median(t.map((s, r) => s / times.get(ours.name)![r]!)),
    };
    results.push(res);
    const ratio = res.ratio === null ? '' : `   sparkts/this = ${res.ratio.toFixed(3)} (paired ${res.pairedRatio!.toFixed(3)})`;
    console.log(`  ${side.name.padEnd(14)} ${(med * 1e3).toFixed(1).padStart(8)} ms  ${res.gflops.toFixed(1).padStart(7)} GFLOP/s (best ${res.bestGflops.toFixed(1)})${ratio}`);
  }
  const cpp = results.find((r) => r.op === op.name && r.side === 'libtorch C++')!;
  const pass = cpp.ratio! >= 0.95;
  failed ||= !pass;
  console.log(`  ${pass ? 'PASS' : 'FAIL'}: sparkts at ${(cpp.ratio! * 100).toFixed(1)}% of libtorch C++ (need ≥ 95%)\n`);
}
for (const bl of baselines) bl.stop();
if (torch.liveTensorCount() !== leakStart) throw new Error(`ops.bench: ${torch.liveTensorCount() - leakStart} tensors leaked by the timed loops`);
if (asJson) {
  console.log(JSON.stringify({ machine: cpus[0]?.model, cpus: cpus.length, threads, torch: info.torchVersion, repeats, warmup, results }));
}
process.exitCode = failed ? 1 : 0;
