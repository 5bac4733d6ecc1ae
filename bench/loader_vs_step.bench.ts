// Is the ResNet-50 SparK step starved by the data loader on this machine?
// Measures (1) the step's own consumption: images/s of forward+backward+LAMB at 224 on random data,
// all cores to libtorch; (2) the loader's delivery at 224 for 1..N workers, alone; (3) both together:
// real steps fed by the loader (workers decode while libtorch computes), reporting the fraction of
// wall time the step spent waiting for data. The step is not starved when (3)'s wait is ~0.
//
//   node dist/bench/loader_vs_step.bench.js [folder] [--bs 8] [--steps 4] [--workers 1,2]
import os from 'node:os';
import * as torch from '../src/torch/index.js';
import { createPretrainEncoder } from '../src/models/index.js';
import { SparK } from '../src/spark/index.js';
import { LAMB } from '../src/torch/optim/index.js';
import { getParamGroups } from '../src/train/param_groups.js';
import { createLoader, demoDataPath, listImages, measureLoaderThroughput } from '../src/data/index.js';
import { benchArgs } from './args.js';

const { flags, positional } = benchArgs('loader_vs_step.bench', 'usage: node dist/bench/loader_vs_step.bench.js [folder] [flags]', {
  bs: { type: 'int', default: 8, min: 1, help: 'batch size' },
  steps: { type: 'int', default: 4, min: 1, help: 'timed steps' },
  workers: { type: 'ints', default: [1, 2], min: 1, help: 'loader worker counts to measure' },
}, 1);
const root = positional[0] ?? demoDataPath();
const bs = flags.bs as number;
const steps = flags.steps as number;
const workerCounts = flags.workers as number[];
const size = 224;

console.log(`machine: ${os.cpus().length} CPUs, ${os.cpus()[0]?.model}; libtorch ${torch.buildInfo().torchVersion}, ${torch.getNumThreads()} threads`);
console.log(`data: ${root} (${listImages(root).length} images); ResNet-50 SparK at ${size}, batch ${bs}`);

const model = new SparK(createPretrainEncoder('resnet50'), { inputSize: size });
const opt = new LAMB(getParamGroups(model), { lr: 1e-4, betas: [0.9, 0.95], max_grad_norm: 5 });
const gen = new torch.Generator(0);
const step = (x: torch.Tensor): void => torch.tidy(() => { const l = model.forward(x, { generator: gen }); opt.zeroGrad(); l.backward(); opt.step(); });

// (1) the step alone
const x = torch.randn([bs, 3, size, size]).keep();
step(x);
let t = performance.now();
for (let i = 0; i < steps; i++) step(x);
const stepImgPerSec = bs * steps / ((performance.now() - t) / 1000);
console.log(`step alone: ${stepImgPerSec.toFixed(2)} images/s consumed`);

// (2) the loader alone
for (const workers of workerCounts) {
  const ips = await measureLoaderThroughput({ root, inputSize: size, batchSize: bs, workers, batches: 4 });
  console.log(`loader alone, ${workers} worker(s): ${ips.toFixed(1)} images/s delivered = ${(ips / stepImgPerSec).toFixed(1)}x the step's consumption`);
}

// (3) together
for (const workers of workerCounts) {
  const loader = createLoader({ root, inputSize: size, batchSize: bs, workers, seed: 0, onWarning: () => undefined });
  await loader.next();
  let wait = 0;
  t = performance.now();
  for (let i = 0; i < steps; i++) {
    const w0 = performance.now();
    const b = await loader.next();
    wait += performance.now() - w0;
    torch.tidy(() => step(torch.tensor(b.data, { shape: b.shape })));
  }
  const total = performance.now() - t;
  await loader.close();
  console.log(`training with ${workers} worker(s): ${(bs * steps / (total / 1000)).toFixed(2)} images/s, waiting for data ${(100 * wait / total).toFixed(1)}% of the time → ${wait / total < 0.05 ? 'not starved' : 'STARVED'}`);
}
x.dispose();
