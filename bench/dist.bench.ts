// Data parallelism on one machine: is 2 processes × 1 thread faster than 1 process × 2 threads, and
// what does one step's gradient allreduce cost?
//   (1) images/s of SparK training steps (forward, backward, gradient averaging, LAMB) with the same
//       global batch: 1 process × T threads (the baseline) vs P processes × T/P threads over loopback
//       gloo, SyncBN on (the default when distributed);
//   (2) the gradient allreduce of ResNet-50's SparK encoder (its parameters' shapes, 25.6M floats) between
//       2 processes: ours (bucketed, 25 MB buckets, averaged) beside Python torch.distributed's gloo
//       all_reduce of one flat tensor of the same size (when python3 has torch), same run.
//
//   node dist/bench/dist.bench.js [--model resnet18] [--size 128] [--bs 8] [--steps 6] [--procs 2] [--threads 2] [--reps 7]
import os from 'node:os';
import net from 'node:net';
import { spawn, spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { createPretrainEncoder } from '../src/models/index.js';
import { SparK } from '../src/spark/index.js';
import { LAMB } from '../src/torch/optim/index.js';
import { getParamGroups } from '../src/train/param_groups.js';
import { initDistributed } from '../src/dist/index.js';
import { benchArgs } from './args.js';

const { flags: f } = benchArgs('dist.bench', 'usage: node dist/bench/dist.bench.js [flags]', {
  model: { type: 'string', default: 'resnet18', help: 'encoder of the SparK training steps (1)' },
  size: { type: 'int', default: 128, help: 'image side for (1)' },
  bs: { type: 'int', default: 8, help: 'global batch of (1), split over the processes' },
  steps: { type: 'int', default: 6, help: 'timed steps of (1), after 2 warm-up' },
  procs: { type: 'int', default: 2, help: 'processes of (1)' },
  threads: { type: 'int', default: 2, help: 'threads of the one-process baseline; each process gets threads/procs' },
  reps: { type: 'int', default: 7, help: 'timed allreduces of (2), after 2 warm-up' },
  role: { type: 'string', default: 'main', help: '(internal) main, train or allreduce' },
});
const model = f.model as string, size = f.size as number, bs = f.bs as number, steps = f.steps as number;
const procs = f.procs as number, threads = f.threads as number, reps = f.reps as number, role = f.role as string;
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[Math.floor(a.length / 2)];

/** Training steps in this process (a rank when the torchrun variables are set); prints JSON on rank 0. */
function trainRole(): void {
  const dist = initDistributed();
  const local = dist.localBatchSize(bs);
  const m = new SparK(createPretrainEncoder(model), { inputSize: size, densifyNorm: 'bn' });
  dist.prepareModel(m, { syncBatchNorm: true });
  const opt = new LAMB(getParamGroups(m), { lr: 1e-4, betas: [0.9, 0.95], max_grad_norm: 5 });
  const gen = new torch.Generator(1 + dist.rank);
  const x = torch.randn([local, 3, size, size]).keep();
  let reduceMs = 0;
  const step = (): void => torch.tidy(() => {
    const l = m.forward(x, { generator: gen });
    opt.zeroGrad();
    l.backward();
    const t = performance.now();
    dist.averageGradients(m.parameters());
    reduceMs += performance.now() - t;
    opt.step();
  });
  step(); step();                        // warm-up: first-touch memory, the allreduce buffers
  reduceMs = 0;
  dist.barrier();
  const t0 = performance.now();
  for (let i = 0; i < steps; i++) step();
  dist.barrier();
  const sec = (performance.now() - t0) / 1000;
  if (dist.isMaster) console.log(JSON.stringify({ imgPerSec: bs * steps / sec, stepMs: 1000 * sec / steps, reduceMsPerStep: reduceMs / steps, threads: torch.getNumThreads(), world: dist.worldSize }));
  x.dispose(); opt.disposeState(); m.dispose(); dist.close();
}

/** Allreduce of ResNet-50's encoder gradients (shapes of its parameters), timed per call. */
function allreduceRole(): void {
  const dist = initDistributed();
  const enc = createPretrainEncoder('resnet50');
  const grads = enc.parameters().map((p) => torch.ones(p.shape).keep());
  enc.dispose();
  const numel = grads.reduce((a, g) => a + g.numel, 0);
  const times: number[] = [];
  const params = grads.map((g) => { const p = torch.zeros(g.shape).requiresGrad_(true).keep(); p.grad = g; return p; });
  for (let i = 0; i < reps + 2; i++) {
    dist.barrier();
    const t = performance.now();
    dist.averageGradients(params);
    if (i >= 2) times.push(performance.now() - t);
  }
  if (dist.isMaster) console.log(JSON.stringify({ numel, medianMs: median(times), minMs: Math.min(...times) }));
  torch.dispose([...grads, ...params]); dist.close();
}

function freePort(): Promise<number> {
  return new Promise((resolve) => { const s = net.createServer(); s.listen(0, '127.0.0.1', () => { const p = (s.address() as net.AddressInfo).port; s.close(() => resolve(p)); }); });
}

/** Run this bench file in `n` processes with the torchrun variables; rank 0's JSON line. */
async function ranks(n: number, roleName: string, threadsEach: number, cmd: string[] = [process.execPath, fileURLToPath(import.meta.url)]): Promise<Record<string, number>> {
  const port = await freePort();
  const outs = await Promise.all(Array.from({ length: n }, (_, r) => new Promise<string>((resolve, reject) => {
    const env = { ...process.env, SPARKTS_NUM_THREADS: String(threadsEach), OMP_NUM_THREADS: String(threadsEach), ...(n > 1 ? { RANK: String(r), WORLD_SIZE: String(n), LOCAL_RANK: String(r), MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port) } : { WORLD_SIZE: '1' }) };
    const p = spawn(cmd[0], [...cmd.slice(1), ...process.argv.slice(2).filter((a, i, all) => a !== '--role' && all[i - 1] !== '--role'), '--role', roleName], { env, stdio: ['ignore', 'pipe', 'inherit'] });
    let out = '';
    p.stdout.on('data', (d) => { out += String(d); });
    p.on('close', (code) => (code === 0 ? resolve(out) : reject(new Error(`${roleName} rank ${r} exited ${code}`))));
  })));
  return JSON.parse(outs[0].trim().split('\n').pop()!);
}

const PY_ALLREDUCE = `
import os, sys, time, json, torch, torch.distributed as d
torch.set_num_threads(1)
d.init_process_group('gloo')
n, reps = int(sys.argv[1]), int(sys.argv[2])
t = torch.ones(n); ts = []
for i in range(reps + 2):
    d.barrier(); t0 = time.perf_counter(); d.all_reduce(t); t.div_(d.get_world_size())
    if i >= 2: ts.append((time.perf_counter() - t0) * 1000)
if d.get_rank() == 0: print(json.dumps(dict(medianMs=sorted(ts)[len(ts) // 2], minMs=min(ts))))
`;

async function main(): Promise<void> {
  console.log(`machine: ${os.cpus().length} CPUs (${os.availableParallelism()} available), ${os.cpus()[0]?.model}; libtorch ${torch.buildInfo().torchVersion}; load ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
  console.log(`(1) SparK ${model} at ${size}, global batch ${bs}, ${steps} timed steps after 2 warm-up`);
  const one = await ranks(1, 'train', threads);
  console.log(`  1 process × ${one.threads} threads: ${one.imgPerSec.toFixed(2)} images/s (${one.stepMs.toFixed(0)} ms/step)  [baseline]`);
  const many = await ranks(procs, 'train', Math.max(1, Math.floor(threads / procs)));
  console.log(`  ${procs} processes × ${many.threads} thread(s): ${many.imgPerSec.toFixed(2)} images/s (${many.stepMs.toFixed(0)} ms/step, gradient allreduce ${many.reduceMsPerStep.toFixed(1)} ms/step) = ${(many.imgPerSec / one.imgPerSec).toFixed(2)}× the baseline`);
  console.log(`(2) gradient allreduce between 2 processes (1 thread each), ResNet-50 encoder, ${reps} timed calls`);
  const ours = await ranks(2, 'allreduce', 1);
  const mb = ours.numel * 4 / 1e6;
  console.log(`  sparkts averageGradients: ${ours.numel} floats (${mb.toFixed(1)} MB), median ${ours.medianMs.toFixed(1)} ms (min ${ours.minMs.toFixed(1)}) = ${(mb / ours.medianMs).toFixed(2)} GB/s of gradients`);
  const py = spawnSync('/usr/bin/python3', ['-c', 'import torch.distributed'], { stdio: 'ignore' }).status === 0 ? 'python3' : null;
  if (py) {
    const ref = await ranks(2, 'py', 1, ['/usr/bin/python3', '-c', PY_ALLREDUCE, String(ours.numel), String(reps), '--']);
    console.log(`  Python torch.distributed all_reduce (gloo) of one ${ours.numel}-float tensor: median ${ref.medianMs.toFixed(1)} ms (min ${ref.minMs.toFixed(1)})  → sparkts/python time ratio ${(ours.medianMs / ref.medianMs).toFixed(2)}`);
  } else console.log('  (python3 with torch not found: no Python baseline)');
}

if (role === 'train') trainRole();
else if (role === 'allreduce') allreduceRole();
else await main();
