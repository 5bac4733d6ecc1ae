// One rank of the dist tests (run as a child process; never a test file itself).
//   node rank_worker.js steps <out.json> <sbn 0|1> [sampleLo sampleHi]
//     A small SparK ResNet, a fixed batch of 8 images and masks. Distributed (torchrun variables set):
//     rank r takes samples [4r, 4r+4); alone: the samples [lo, hi) (default all 8). Two LAMB steps;
//     writes the losses (mean over ranks), the gradients after step 1, the BatchNorm running
//     statistics after step 1's forward and after step 2, and the parameters after step 2.
//   node rank_worker.js loop
//     Gradient allreduces forever, printing "step k" (for the fault tests to kill a rank).
import { writeFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { ResNet } from '../../src/models/resnet.js';
import { SparK } from '../../src/spark/index.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { initDistributed } from '../../src/dist/index.js';

export const B = 8, S = 64;

function buildModel(): SparK {
  torch.manualSeed(0);
  const enc = new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [8, 16, 24, 32], stemWidth: 8, numClasses: 0, globalPool: '', zeroInitLastBn: false });
  return new SparK(enc as never, { inputSize: S, maskRatio: 0.6, densifyNorm: 'bn', decoderWidth: 32 });
}

/** The fixed batch and masks (the same on every rank and run). */
function fixedBatch(model: SparK): { x: Tensor; active: Tensor } {
  const gen = new torch.Generator(1234);
  const x = torch.randn([B, 3, S, S], { generator: gen });
  const active = model.mask(B, { generator: gen });
  return { x, active };
}

const toList = (t: Tensor): number[] => Array.from(t.double().toTypedArray() as Float64Array);

function bnStats(model: SparK): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const [n, b] of model.namedBuffers()) if (/running_(mean|var)$/.test(n)) out[n] = torch.tidy(() => toList(b));
  return out;
}

function steps(outFile: string, sbn: boolean, lo: number, hi: number): void {
  torch.setNumThreads(1);
  const dist = initDistributed();
  const model = buildModel();
  dist.prepareModel(model, { syncBatchNorm: sbn });
  const { x, active } = fixedBatch(model);
  const [a, b] = dist.distributed ? [dist.rank * (B / dist.worldSize), (dist.rank + 1) * (B / dist.worldSize)] : [lo, hi];
  const xs = x.narrow(0, a, b - a).keep(), ms = active.narrow(0, a, b - a).keep();
  x.dispose(); active.dispose();
  const opt = new torch.optim.LAMB(getParamGroups(model), { lr: 1e-2, weight_decay: 0.04, betas: [0.9, 0.95], max_grad_norm: 5 });
  const rec: { losses: number[]; grads: Record<string, number[]>; bnAfterForward1: Record<string, number[]>; bnFinal: Record<string, number[]>; params: Record<string, number[]>; gradNorms: number[] } =
    { losses: [], grads: {}, bnAfterForward1: {}, bnFinal: {}, params: {}, gradNorms: [] };
  model.train();
  for (let step = 0; step < 2; step++) {
    torch.tidy(() => {
      const loss = model.forward(xs, { active: ms });
      if (step === 0) rec.bnAfterForward1 = bnStats(model);
      opt.zeroGrad();
      loss.backward();
      dist.averageGradients(model.parameters());
      rec.losses.push(dist.meanOverRanks([loss.item()])[0]);
      if (step === 0) for (const [n, p] of model.namedParameters()) rec.grads[n] = toList(p.grad!);
      opt.step();
      rec.gradNorms.push(opt.globalGradNorm);
    });
  }
  rec.bnFinal = bnStats(model);
  for (const [n, p] of model.namedParameters()) rec.params[n] = torch.tidy(() => toList(p));
  if (dist.isMaster || dist.distributed) writeFileSync(outFile.replace('{rank}', String(dist.rank)), JSON.stringify(rec));
  xs.dispose(); ms.dispose(); opt.disposeState(); model.dispose();
  dist.close();
}

function loop(): void {
  torch.setNumThreads(1);
  const dist = initDistributed();
  const params = [torch.randn([1000]).requiresGrad_(true).keep()];
  for (let k = 0; ; k++) {
    torch.tidy(() => { params[0].grad = torch.ones([1000]); dist.averageGradients(params); });
    process.stdout.write(`step ${k}\n`);
    const until = Date.now() + 20; while (Date.now() < until) { /* a step's work */ }
  }
}

const [mode, ...args] = process.argv.slice(2);
try {
  // `node --test dist/test/` runs every .js under a test/ folder, this one too, without arguments
  if (mode === undefined) process.exit(0);
  if (mode === 'steps') steps(args[0], args[1] === '1', Number(args[2] ?? 0), Number(args[3] ?? B));
  else if (mode === 'loop') loop();
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  process.stderr.write(`worker: error: ${(e as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}
