// Memory soak (issue 2): a small conv net trains for 2000 steps, each step inside one torch.tidy; the
// resident set size at the last step must be within 5% of the RSS at step 200 (the baseline, measured in
// the same run once allocator pools, V8's heap and libtorch's caches have warmed up).
//
//   node dist/bench/memory_soak.bench.js [--steps 2000] [--threads N] [--every 200] [--yield]
//
// By default the loop is synchronous (the strictest case: nothing but tidy/dispose releases memory).
// --yield awaits one macrotask after every step, as a loop fed by an async data loader does, which
// lets Node run deferred work such as N-API finalizers.
//
// The net: (conv3×3-BN-ReLU) ×3 with stride 1, 2, 2 → global average pool → linear(10), on 16 fixed
// random batches of 8×3×32×32 with random labels (the loss falls as it memorises them: proof that
// the steps really train). Update: torch.optim.AdamW (SparK's optimizer family; two kept state
// tensors per parameter, updated in place).

import os from 'node:os';
import * as torch from '../src/torch/index.js';
import { nn, type Tensor } from '../src/torch/index.js';
import { benchArgs } from './args.js';

const { flags } = benchArgs('memory_soak.bench', 'usage: node dist/bench/memory_soak.bench.js [flags]', {
  steps: { type: 'int', default: 2000, min: 2, help: 'training steps' },
  every: { type: 'int', default: 200, min: 1, help: 'print RSS every N steps; the baseline is step min(every, steps)' },
  threads: { type: 'int', default: torch.defaultNumThreads(), min: 1, help: 'intra-op threads' },
  yield: { type: 'bool', default: false, help: 'await one macrotask after each step (as a loop fed by an async loader)' },
});
const steps = flags.steps as number;
const every = flags.every as number;
const threads = flags.threads as number;
const yieldEachStep = flags.yield as boolean;
const baselineStep = Math.min(every, steps);
const tolerance = 0.05;

class SmallNet extends nn.Module<[Tensor], Tensor> {
  readonly features: nn.Sequential;
  readonly head: nn.Linear;
  constructor() {
    super();
    const block = (cin: number, cout: number, stride: number): nn.Module[] =>
      [new nn.Conv2d(cin, cout, 3, { stride, padding: 1, bias: false }), new nn.BatchNorm2d(cout), new nn.ReLU()];
    this.features = this.registerModule('features', new nn.Sequential(
      ...block(3, 32, 1), ...block(32, 64, 2), ...block(64, 128, 2), new nn.AdaptiveAvgPool2d(1)));
    this.head = this.registerModule('head', new nn.Linear(128, 10));
  }
  forward(x: Tensor): Tensor {
    return this.head.forward(this.features.forward(x).flatten(1));
  }
}

torch.setNumThreads(threads);
torch.manualSeed(0);
const model = new SmallNet();
const params = model.parameters();
const optimizer = new torch.optim.AdamW(params, { lr: 2e-3, weight_decay: 0.05 });
const data = Array.from({ length: 16 }, () => ({
  x: torch.randn([8, 3, 32, 32]).keep(),
  y: torch.randint(0, 10, [8]).keep(),
}));

function step(i: number): number {
  return torch.tidy(() => {
    const { x, y } = data[i % data.length]!;
    optimizer.zeroGrad();
    const loss = nn.functional.crossEntropy(model.forward(x), y);
    loss.backward();
    optimizer.step();
    return loss.item();
  });
}

const info = torch.buildInfo();
const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical CPUs (${os.availableParallelism()} available), ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
console.log(`libtorch ${info.torchVersion}, threads ${torch.getNumThreads()}, node ${process.version}`);
console.log(`soak: ${steps} training steps of a ${model.numParameters()}-parameter conv net on 8×3×32×32, one tidy per step${yieldEachStep ? ', event loop turned after each' : ', synchronous loop'}; RSS sampled every ${every} steps, baseline = step ${baselineStep}\n`);
console.log('  step     RSS MiB   heap MiB   external MiB   live tensors   loss (mean of last block)   s/step');

const mib = (b: number): string => (b / 2 ** 20).toFixed(1);
const samples: { step: number; rss: number; live: number }[] = [];
const liveBefore = torch.liveTensorCount();
let lossSum = 0, lossN = 0;
let t0 = performance.now();
for (let i = 1; i <= steps; i++) {
  lossSum += step(i - 1); lossN++;
  if (yieldEachStep) await new Promise((resolve) => setImmediate(resolve));
  if (i % every === 0 || i === steps) {
    const m = process.memoryUsage();
    const live = torch.liveTensorCount();
    samples.push({ step: i, rss: m.rss, live });
    const secPerStep = (performance.now() - t0) / 1e3 / lossN;
    console.log(`${String(i).padStart(6)} ${mib(m.rss).padStart(11)} ${mib(m.heapUsed).padStart(10)} ${mib(m.external).padStart(14)} ${String(live).padStart(14)} ${(lossSum / lossN).toFixed(4).padStart(27)} ${secPerStep.toFixed(4).padStart(8)}`);
    lossSum = 0; lossN = 0; t0 = performance.now();
  }
}

const base = samples.find((s) => s.step === baselineStep)!;
const last = samples[samples.length - 1]!;
const ratio = last.rss / base.rss;
// (the optimizer creates its state tensors at the first step, so the count before the loop differs)
const liveFlat = last.live === base.live;
const pass = Math.abs(ratio - 1) <= tolerance && liveFlat;
console.log(`\nrss(step ${last.step}) / rss(step ${base.step}) = ${mib(last.rss)} / ${mib(base.rss)} MiB = ${ratio.toFixed(4)}` +
  ` (need within ±${tolerance * 100}%); live tensors ${base.live} → ${last.live} (before the loop ${liveBefore})`);
console.log(`${pass ? 'PASS' : 'FAIL'}: resident memory ${pass ? 'held flat' : 'did not hold flat'} over ${steps} steps`);
process.exitCode = pass ? 0 : 1;
