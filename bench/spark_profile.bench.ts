// Where one SparK pretraining step spends its time, by ATen op category: sparkts (with its caching CPU
// allocator, and with SPARKTS_CPU_ALLOCATOR=system as the "before") beside the reference under
// torch.profiler. Both sides are profiled by libtorch's own RecordFunction machinery, so the op names
// and what counts as an op's self time are the same.
//
//   REF=/path/with/SparK+timm node dist/bench/spark_profile.bench.js [--models resnet50,convnext_small]
//     [--size 224] [--bs 8] [--warmup 1] [--threads 2] [--no-ref] [--sides caching,system]
//
// Each side runs in its own process: W warm-up steps, then one profiled step (schedule, masked forward,
// backward, optimizer). Reported per category: seconds of self time and share of the step's wall
// time; "outside ATen ops" is wall time minus every op's self time (JS, the glue, Python).
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as torch from '../src/torch/index.js';
import type { OpTime } from '../src/torch/profiler.js';
import { buildPretrainStep } from './steps.js';
import { machineLine } from './paired.js';
import { benchArgs } from './args.js';
import { runJsonChild } from './child.js';

const { flags } = benchArgs('spark_profile.bench', 'usage: REF=<folder with SparK/ and timm/> node dist/bench/spark_profile.bench.js [flags]', {
  models: { type: 'string', default: 'resnet50,convnext_small', help: 'comma-separated registered models' },
  size: { type: 'int', default: 224, min: 32, help: 'input size' },
  bs: { type: 'int', default: 8, min: 1, help: 'batch size' },
  warmup: { type: 'int', default: 1, min: 0, help: 'steps before the profiled one' },
  threads: { type: 'int', default: torch.defaultNumThreads(), min: 1, help: 'intra-op threads of every side' },
  sides: { type: 'string', default: 'caching,system', help: 'sparkts sides: caching (the default allocator), system (SPARKTS_CPU_ALLOCATOR=system)' },
  no_ref: { type: 'bool', default: false, help: 'profile sparkts alone' },
  child: { type: 'string', default: '', help: '(internal) profile our step for one model and print one JSON line' },
});
const size = flags.size as number, bs = flags.bs as number, warmup = flags.warmup as number, threads = flags.threads as number;
const sideNames = (flags.sides as string).split(',').filter(Boolean);
const badSide = sideNames.find((side) => side !== 'caching' && side !== 'system');
if (badSide !== undefined) {
  console.error(`spark_profile.bench: --sides takes caching and/or system, got '${badSide}'`);
  process.exit(2);
}

interface Profiled { wall_s: number; ops: OpTime[] }

/** Categories of PROFILE.md, first match wins; "[optimizer] ..." names go to the optimizer. */
const CATEGORIES: [string, RegExp][] = [
  ['optimizer step (LAMB)', /^(\[optimizer\] |Optimizer\.step#)/],
  ['convolutions, forward (incl. upsamplers)', /^(aten::mkldnn_convolution|aten::slow_conv_transpose2d|aten::_slow_conv2d_forward|aten::thnn_conv2d)$/],
  ['convolutions, backward', /^(aten::convolution_backward|aten::mkldnn_convolution_backward.*|aten::slow_conv_transpose2d_backward.*|.*ConvolutionBackward.*|.*ConvTranspose2dOneDNN.*)$/],
  ['batch/layer norm (fwd + bwd)', /(batch_norm|layer_norm|BatchNorm|LayerNorm)/],
  ['sparse gather/scatter, masking', /^(aten::index|aten::index_put_|aten::_index_put_impl_|aten::nonzero|aten::masked_fill_?|aten::where|sparkts::masked_rows|sparkts::rows_to_masked|.*MaskedRows.*|.*RowsToMasked.*|.*IndexBackward.*|.*IndexPutBackward.*)$/],
  ['copy, fill, allocation', /^(aten::copy_|aten::fill_|aten::zero_|aten::empty.*|aten::clone|aten::contiguous|aten::_to_copy|aten::to|aten::resize_)$/],
  ['everything else (elementwise, pooling, loss, autograd)', /./],
];

function categorize(p: Profiled): Map<string, number> {
  const out = new Map<string, number>(CATEGORIES.map(([c]) => [c, 0]));
  let inOps = 0;
  for (const op of p.ops) {
    const [cat] = CATEGORIES.find(([, re]) => re.test(op.name))!;
    out.set(cat, out.get(cat)! + op.selfUs / 1e6);
    inOps += op.selfUs / 1e6;
  }
  out.set('outside ATen ops (JS, glue, Python)', Math.max(0, p.wall_s - inOps));
  return out;
}

function profileOurs(model: string): Profiled {
  const step = buildPretrainStep(model, size, bs);
  for (let it = 0; it < warmup; it++) step(it);
  const t0 = performance.now();
  const { ops } = torch.profiler.profile(() => step(warmup));
  return { wall_s: (performance.now() - t0) / 1000, ops };
}

if (flags.child) {
  torch.setNumThreads(threads);
  torch.manualSeed(0);
  console.log(JSON.stringify(profileOurs(flags.child as string)));
} else {
  const here = path.dirname(fileURLToPath(import.meta.url));
  const refScript = path.resolve(here, '../../bench/baseline/ref_profile.py');
  const useRef = !flags.no_ref;
  if (useRef && !process.env.REF) {
    console.error('spark_profile.bench: set REF to a folder holding the reference SparK/ and timm/, or pass --no-ref');
    process.exit(2);
  }
  const python = process.env.PYTHON ?? '/usr/bin/python3';
  const self = fileURLToPath(import.meta.url);
  const common = ['--size', String(size), '--bs', String(bs), '--warmup', String(warmup), '--threads', String(threads)];
  torch.setNumThreads(threads);
  console.log(machineLine());
  console.log(`one SparK step at ${size}×${size}, batch ${bs}, ${threads} threads, after ${warmup} warm-up step(s); self time per category, seconds (share of the step)`);
  for (const model of (flags.models as string).split(',')) {
    const results: [string, Profiled][] = [];
    for (const side of sideNames) {
      const env = { ...process.env, SPARKTS_CPU_ALLOCATOR: side === 'system' ? 'system' : '' };
      results.push([`sparkts (${side === 'system' ? 'malloc' : 'caching allocator'})`, runJsonChild<Profiled>('spark_profile.bench', `sparkts ${side}`, process.execPath, [self, '--child', model, ...common], env)]);
    }
    if (useRef) results.push(['reference', runJsonChild<Profiled>('spark_profile.bench', 'reference', python, [refScript, '--model', model, ...common])]);
    const cats = results.map(([, p]) => categorize(p));
    console.log(`\n${model}:`);
    console.log(`| category | ${results.map(([n]) => n).join(' | ')} |`);
    console.log(`| --- | ${results.map(() => '---').join(' | ')} |`);
    for (const cat of cats[0]!.keys()) {
      console.log(`| ${cat} | ${results.map(([, p], i) => `${cats[i]!.get(cat)!.toFixed(2)} s (${(100 * cats[i]!.get(cat)! / p.wall_s).toFixed(1)}%)`).join(' | ')} |`);
    }
    console.log(`| **whole step (wall, profiled)** | ${results.map(([, p]) => `**${p.wall_s.toFixed(2)} s**`).join(' | ')} |`);
    for (const [name, p] of results) {
      const top = p.ops.slice().sort((x, y) => y.selfUs - x.selfUs).slice(0, 6);
      console.log(`  ${name} top ops: ${top.map((o) => `${o.name} ${(o.selfUs / 1e6).toFixed(2)} s ×${o.calls}`).join('; ')}`);
    }
  }
}
