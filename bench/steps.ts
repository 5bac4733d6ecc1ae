// The training steps the step benches time, built as the jobs build them: each returns `step(it)`,
// which runs global iteration `it` on a fixed random batch and returns the loss.
import * as torch from '../src/torch/index.js';
import { createClassifier, createPretrainEncoder, modelRecord } from '../src/models/index.js';
import { SparK } from '../src/spark/index.js';
import { buildOptimizer } from '../src/train/pretrain.js';
import { pretrainStep } from '../src/train/pretrain_step.js';
import { createFinetuneRecipe, finetuneStep } from '../src/train/finetune/index.js';

/** The SparK pretraining step (src/train/pretrain_step.ts) with the reference's refbench settings: LAMB, peak lr 2e-4·bs/256, wd 0.04→0.2, clip 5, drop path 0. */
export function buildPretrainStep(model: string, size: number, bs: number): (it: number) => number {
  const facts = modelRecord(model).pretrain;
  const spark = new SparK(createPretrainEncoder(model, { dropPathRate: 0 }), {
    inputSize: size, maskRatio: 0.6, densifyNorm: facts.densifyNorm,
  });
  spark.train();
  const peakLr = 2e-4 * bs / 256;
  const optimizer = buildOptimizer({ opt: 'lamb', clip: 5 }, spark, peakLr, facts.adamBeta2);
  const maskGen = new torch.Generator(1);
  const x = torch.randn([bs, 3, size, size]).keep();
  return (it) => pretrainStep(spark, optimizer, x, maskGen, it, { peakLr, wd: 0.04, wdEnd: 0.2, warmupIters: 1, totalIters: 100, clip: 5 }).loss;
}

/** The fine-tuning step (src/train/finetune/step.ts) with the model's registry defaults, 1000 classes, EMA on (as bench/baseline/ft_ref_step.py). */
export function buildFinetuneStep(model: string, size: number, bs: number): (it: number) => number {
  const hp = modelRecord(model).finetune;
  const classifier = createClassifier(model, { numClasses: 1000, dropPathRate: hp.drop_path });
  const emaModule = createClassifier(model, { numClasses: 1000, dropPathRate: hp.drop_path, skipInit: true });
  const recipe = createFinetuneRecipe(classifier, {
    opt: hp.opt, lr: hp.base_lr * bs / 256, wd: hp.wd, lrScale: hp.lr_scale, clip: 0, mixup: hp.mixup,
    numClasses: 1000, warmupIters: 1, maxIters: 100, seed: 0,
  }, { module: emaModule, decay: hp.ema });
  const batch = { input: torch.randn([bs, 3, size, size]).keep(), target: torch.arange(bs).remainder(1000).keep() };
  return (it) => finetuneStep(recipe, batch, it).loss;
}
