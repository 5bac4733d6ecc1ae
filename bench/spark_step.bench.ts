// The whole SparK pretraining step (or the fine-tuning step), sparkts beside the reference PyTorch code,
// on the same CPU.
//
//   REF=/path/with/SparK+timm node dist/bench/spark_step.bench.js [--job pretrain|finetune]
//     [--models resnet50,convnext_small] [--size 224] [--bs 8] [--rounds 3] [--iters 2] [--warmup 1]
//     [--threads 2] [--no-ref] [--base DIR] [--ref-tunables GLIBC_TUNABLES]
//
// --job pretrain: one iteration = what the pretraining loop does per batch (no data loading): lr/wd
// schedule, random mask, forward, backward, LAMB step. Ours is src/train/pretrain_step.ts's pretrainStep
// (the function the job calls); the reference's is ../shared/refbench/ref_step.py (REF_STEP to point
// elsewhere), which needs REF (a folder holding SparK/ and timm/; timm may come from PYTHONPATH instead).
// --job finetune: one iteration of the downstream recipe with the model's registry defaults (lr/wd
// schedule, BatchMixup, forward, backward, timm Lamb/AdamW, EMA update). Ours is
// src/train/finetune/step.ts's finetuneStep; the reference's is bench/baseline/ft_ref_step.py, which runs
// the reference's downstream_imagenet code on timm's model.
// Each side runs in its own process per round (so peak RSS is each process's own), both with the same
// thread count and the same loop: W warm-up + I timed iterations, median reported. Rounds alternate
// which side goes first; reported per side: median s/step over rounds, images/s, peak RSS, and
// speed-up = reference time ÷ ours, as the ratio of medians and as the paired ratio (median of the
// per-round quotients, which cancels load drifts on a shared machine), with its range.
// --ref-tunables S runs the reference with GLIBC_TUNABLES=S (ours untouched): with glibc told to keep
// freed memory the reference avoids most of the page faults our caching allocator avoids, which
// separates that gain from our kernels' in one command.
// --base DIR adds a third side: another sparkts checkout (built, with this bench in it), e.g. the commit
// before a change, to measure the change itself the same way.
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import { buildFinetuneStep, buildPretrainStep } from './steps.js';
import { machineLine, median } from './paired.js';
import { benchArgs } from './args.js';
import { runJsonChild } from './child.js';

interface SideResult { sec_per_iter: number; img_per_sec: number; loss: number; maxrss_mb: number; threads: number; torch?: string }

const { flags } = benchArgs('spark_step.bench', 'usage: REF=<folder with SparK/ and timm/> node dist/bench/spark_step.bench.js [flags]', {
  job: { type: 'string', default: 'pretrain', help: 'pretrain (the SparK step) or finetune (the downstream classification step)' },
  models: { type: 'string', default: 'resnet50,convnext_small', help: 'comma-separated registered models' },
  size: { type: 'int', default: 224, min: 32, help: 'input size' },
  bs: { type: 'int', default: 8, min: 1, help: 'batch size' },
  rounds: { type: 'int', default: 3, min: 1, help: 'rounds (each side once per round, alternating order)' },
  iters: { type: 'int', default: 2, min: 1, help: 'timed iterations per side and round (median)' },
  warmup: { type: 'int', default: 1, min: 0, help: 'warm-up iterations per side and round' },
  threads: { type: 'int', default: torch.defaultNumThreads(), min: 1, help: 'intra-op threads of every side' },
  base: { type: 'string', default: '', help: 'another built sparkts checkout to time as a third side' },
  no_ref: { type: 'bool', default: false, help: 'time sparkts alone' },
  ref_tunables: { type: 'string', default: '', help: 'GLIBC_TUNABLES for the reference side only (e.g. glibc.malloc.mmap_threshold=4294967295:glibc.malloc.trim_threshold=4294967295, which keeps freed memory)' },
  child: { type: 'string', default: '', help: '(internal) time our step for one model and print one JSON line' },
});
const size = flags.size as number, bs = flags.bs as number;
const iters = flags.iters as number, warmup = flags.warmup as number;
const threads = flags.threads as number;
const job = flags.job as string;
if (job !== 'pretrain' && job !== 'finetune') {
  console.error(`spark_step.bench: --job must be pretrain or finetune, got '${job}'`);
  process.exit(2);
}

/** Child mode: W warm-up + I timed runs of `step(it)` (which returns the loss); one JSON line's fields. */
function timeSteps(step: (it: number) => number): SideResult {
  const times: number[] = [];
  let loss = NaN;
  for (let it = 0; it < warmup + iters; it++) {
    const t0 = performance.now();
    loss = step(it);
    if (it >= warmup) times.push((performance.now() - t0) / 1000);
  }
  const s = median(times);
  return { sec_per_iter: s, img_per_sec: bs / s, loss, maxrss_mb: Math.round(process.resourceUsage().maxRSS / 1024), threads: torch.getNumThreads() };
}

const spawnSide = (cmd: string, args: string[], who: string, env: NodeJS.ProcessEnv = process.env): SideResult =>
  runJsonChild<SideResult>('spark_step.bench', who, cmd, args, env);

if (flags.child) {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  const model = flags.child as string;
  console.log(JSON.stringify(timeSteps(job === 'finetune' ? buildFinetuneStep(model, size, bs) : buildPretrainStep(model, size, bs))));
} else {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const refStep = job === 'finetune'
    ? path.resolve(here, '../../bench/baseline/ft_ref_step.py')
    : process.env.REF_STEP ?? [path.resolve(here, '../../shared/refbench/ref_step.py'), path.resolve(here, '../../../shared/refbench/ref_step.py')].find(existsSync);
  const useRef = !flags.no_ref && !!process.env.REF && !!refStep;
  if (!useRef && !flags.no_ref) {
    console.error('spark_step.bench: set REF to a folder holding the reference SparK/ and timm/ (see ../shared/refbench/ref_step.py), or pass --no-ref to time sparkts alone');
    process.exit(2);
  }
  const models = (flags.models as string).split(',');
  const rounds = flags.rounds as number;
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  torch.setNumThreads(threads);
  console.log(machineLine());
  console.log(`${job === 'finetune' ? 'fine-tuning' : 'SparK'} step at ${size}×${size}, batch ${bs}, ${threads} threads; each side its own process per round: ${warmup} warm-up + ${iters} timed iterations (median); ${rounds} rounds, alternating order`);
  const self = fileURLToPath(import.meta.url);
  const common = ['--size', String(size), '--bs', String(bs), '--iters', String(iters), '--warmup', String(warmup), '--threads', String(threads)];
  const base = flags.base as string;
  const baseBench = base ? path.join(base, 'dist/bench/spark_step.bench.js') : '';
  if (base && !existsSync(baseBench)) { console.error(`spark_step.bench: --base ${base} has no ${baseBench}; build that checkout with this bench in it`); process.exit(2); }
  for (const model of models) {
    const sides: { name: string; run: () => SideResult; results: SideResult[] }[] = [
      { name: 'sparkts', run: () => spawnSide(process.execPath, [self, '--job', job, '--child', model, ...common], 'sparkts'), results: [] },
    ];
    if (base) sides.push({ name: 'base', run: () => spawnSide(process.execPath, [baseBench, '--job', job, '--child', model, ...common], 'base'), results: [] });
    const refTunables = flags.ref_tunables as string;
    const refEnv = refTunables ? { ...process.env, GLIBC_TUNABLES: refTunables } : process.env;
    if (useRef) sides.push({ name: refTunables ? 'reference (GLIBC_TUNABLES)' : 'reference', run: () => spawnSide(python, [refStep!, '--model', model, ...common], 'reference', refEnv), results: [] });
    for (let r = 0; r < rounds; r++) {
      for (let k = 0; k < sides.length; k++) {
        const side = sides[(r + k) % sides.length]!;
        side.results.push(side.run());
      }
      console.log(`  ${model} round ${r + 1}: ` + sides.map((sd) => `${sd.name} ${sd.results[r]!.sec_per_iter.toFixed(2)} s/step (${sd.results[r]!.maxrss_mb} MB)`).join(', '));
    }
    const med = (v: SideResult[]): number => median(v.map((x) => x.sec_per_iter));
    const rss = (v: SideResult[]): number => Math.max(...v.map((x) => x.maxrss_mb));
    console.log(`${model}:`);
    for (const sd of sides) {
      const s = med(sd.results);
      const ver = sd.name.startsWith('reference') ? ` (torch ${sd.results[0]!.torch})` : '';
      console.log(`  ${(sd.name + ver).padEnd(28)} ${s.toFixed(2)} s/step  ${(bs / s).toFixed(3)} img/s  peak RSS ${rss(sd.results)} MB`);
    }
    const ours = sides[0]!.results;
    for (const other of sides.slice(1)) {
      const q = other.results.map((p, i) => p.sec_per_iter / ours[i]!.sec_per_iter);
      console.log(`  speed-up vs ${other.name} (its time ÷ ours): ${(med(other.results) / med(ours)).toFixed(3)} (ratio of medians), ` +
        `paired ${median(q).toFixed(3)} [${Math.min(...q).toFixed(3)}, ${Math.max(...q).toFixed(3)}]; peak RSS ours ÷ ${other.name} ${(rss(ours) / rss(other.results)).toFixed(3)}`);
    }
  }
}
