// One rank of the dist tests (run as a child process; never a test file itself).
//   node rank_worker.js steps <out.json> <sbn 0|1> [sampleLo sampleHi]
//     A small SparK ResNet, a fixed batch of 8 images and masks. Distributed (torchrun variables set):
//     rank r takes samples [4r, 4r+4); alone: the samples [lo, hi) (default all 8). Two LAMB steps;
//     writes the losses (mean over ranks), the gradients after step 1, the BatchNorm running
//     statistics after step 1's forward and after step 2, and the parameters after step 2.
//   node rank_worker.js ftsteps <out.json> <sbn 0|1> <average 0|1> <sampleLo> <sampleHi> <valRoot>
//     The fine-tuning counterpart: a small resnet8 classifier (BatchNorms, LAMB with layer decay,
//     clipping, EMA), a fixed batch of 8 labelled images, no mixing, no drop path; rank r takes samples
//     [4r, 4r+4) (alone: [lo, hi)); two finetuneStep calls with the job's StepSync (average 0: gradients
//     not averaged, the mutation the test must catch). First evaluates the initial model on valRoot's
//     val split (each rank its share, counts summed). Writes the eval result, the losses and accuracies,
//     the gradients of step 1, the BN statistics after step 1 and 2, the parameters and the EMA after 2.
//   node rank_worker.js loop
//     Gradient allreduces forever, printing "step k" (for the fault tests to kill a rank).
import { writeFileSync } from 'node:fs';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { ResNet } from '../../src/models/resnet.js';
import { SparK } from '../../src/spark/index.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { initDistributed } from '../../src/dist/index.js';
import type { Module } from '../../src/torch/nn/index.js';
import { createClassifier } from '../../src/models/index.js';
import { openValFolder } from '../../src/data/index.js';
import { createFinetuneRecipe, finetuneStep } from '../../src/train/finetune/index.js';
import { stepSync } from '../../src/train/data_parallel.js';
import { ValSet } from '../../src/train/evaluate.js';

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

function bnStats(model: Module): Record<string, number[]> {
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

async function ftSteps(outFile: string, sbn: boolean, average: boolean, lo: number, hi: number, valRoot: string): Promise<void> {
  torch.setNumThreads(1);
  const dist = initDistributed();
  torch.manualSeed(0);
  const model = createClassifier('resnet8', { numClasses: 3 });
  const emaModule = createClassifier('resnet8', { numClasses: 3, skipInit: true });
  dist.prepareModel(model, { syncBatchNorm: sbn });
  const valSet = new ValSet(openValFolder(valRoot), { imgSize: 32, batchSize: 2, workers: 0, device: 'cpu', ranks: dist });
  const [evalResult] = await valSet.evaluate([model]);
  await valSet.close();
  const recipe = createFinetuneRecipe(model, { opt: 'lamb', lr: 0.05, wd: 0.02, lrScale: 0.7, clip: 0.5, mixup: 0, numClasses: 3, warmupIters: 1, maxIters: 10, seed: 0, rank: dist.rank },
    { module: emaModule, decay: 0.9 });
  const gen = new torch.Generator(4321);
  const x = torch.randn([B, 3, 32, 32], { generator: gen });
  const y = torch.tensor([0, 1, 2, 0, 1, 2, 2, 1], { dtype: 'int64' });
  const [a, b] = dist.distributed ? [dist.rank * (B / dist.worldSize), (dist.rank + 1) * (B / dist.worldSize)] : [lo, hi];
  const xs = x.narrow(0, a, b - a).keep(), ys = y.narrow(0, a, b - a).keep();
  x.dispose(); y.dispose();
  const full = stepSync(dist, () => recipe.trainable);
  const sync = average ? full : { ...full, averageGradients: () => {} };
  const rec = { evalResult, losses: [] as number[], accs: [] as number[], grads: {} as Record<string, number[]>, bnAfterForward1: {} as Record<string, number[]>,
    bnFinal: {} as Record<string, number[]>, params: {} as Record<string, number[]>, ema: {} as Record<string, number[]> };
  for (let step = 0; step < 2; step++) {
    const r = finetuneStep(recipe, { input: xs, target: ys }, step, {
      sync,
      observe: { gradients: (m) => { if (step === 0) for (const [n, p] of m.namedParameters()) rec.grads[n] = toList(p.grad!); } },
    });
    rec.losses.push(r.loss); rec.accs.push(r.acc);
    // one forward per step: after step 1 the running statistics are those of its forward
    if (step === 0) rec.bnAfterForward1 = bnStats(model);
  }
  rec.bnFinal = bnStats(model);
  for (const [n, p] of model.namedParameters()) rec.params[n] = torch.tidy(() => toList(p));
  for (const [n, t] of emaModule.stateDict()) if (t.dtype === 'float32') rec.ema[n] = torch.tidy(() => toList(t));
  if (dist.isMaster || dist.distributed) writeFileSync(outFile.replace('{rank}', String(dist.rank)), JSON.stringify(rec));
  xs.dispose(); ys.dispose(); recipe.optimizer.disposeState(); model.dispose(); emaModule.dispose();
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
  else if (mode === 'ftsteps') await ftSteps(args[0], args[1] === '1', args[2] === '1', Number(args[3]), Number(args[4]), args[5]);
  else if (mode === 'loop') loop();
  else throw new Error(`unknown mode ${mode}`);
} catch (e) {
  process.stderr.write(`worker: error: ${(e as Error).message.split('\n')[0]}\n`);
  process.exit(1);
}
