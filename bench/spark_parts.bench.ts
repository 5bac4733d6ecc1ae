// The parts of the SparK step that sparkts computes differently from libtorch's stock ops, each new
// kernel beside the stock formulation it replaces, at the shapes of a ResNet-50 SparK step (224, batch 8),
// interleaved rounds, medians and paired ratios (stock time ÷ new time, > 1 = faster):
//   upsample  the decoder's ConvTranspose2d(k4, s2, p1), forward + backward: ATen's conv_transpose2d
//             (slow_conv_transpose2d on CPU) vs conv_transpose2d_onednn
//   sparseBN  gather + BatchNorm + scatter of a sparse BatchNorm, forward + backward: the index /
//             index_put_ formulation vs the masked_rows / rows_to_masked kernels
//   lamb      one LAMB step over a SparK ResNet-50's parameters: the ATen ops vs the fused kernel
//
//   node dist/bench/spark_parts.bench.js [--parts upsample,sparseBN,lamb] [--rounds 5] [--threads 1] [--bs 8]
import * as torch from '../src/torch/index.js';
import type { Tensor } from '../src/torch/index.js';
import { createPretrainEncoder } from '../src/models/index.js';
import { SparK, randomMask, expandMask } from '../src/spark/index.js';
import { LAMB } from '../src/torch/optim/index.js';
import { getParamGroups } from '../src/train/param_groups.js';
import { pairedTiming, machineLine, type Variant } from './paired.js';
import { benchArgs } from './args.js';

const { flags } = benchArgs('spark_parts.bench', 'usage: node dist/bench/spark_parts.bench.js [flags]', {
  parts: { type: 'string', default: 'upsample,sparseBN,lamb', help: 'comma-separated: upsample, sparseBN, lamb' },
  rounds: { type: 'int', default: 5, min: 1, help: 'timed rounds after one warm-up' },
  threads: { type: 'int', default: 1, min: 1, help: 'intra-op threads' },
  bs: { type: 'int', default: 8, min: 1, help: 'batch size of the shapes' },
});
torch.setNumThreads(flags.threads as number);
const rounds = flags.rounds as number;
const B = flags.bs as number;
const parts = (flags.parts as string).split(',');
console.log(machineLine());
console.log(`${rounds} rounds after 1 warm-up, interleaved; ratio = stock time ÷ new time (> 1: the new kernel is faster)`);

async function report(label: string, variants: Variant[]): Promise<void> {
  const res = await pairedTiming(variants, { rounds });
  console.log(label);
  for (const r of res) {
    const rel = r === res[0] ? '' : `   ratio ${r.ratio.toFixed(2)}, paired ${r.paired.toFixed(2)} [${r.pairedRange.map((v) => v.toFixed(2)).join(', ')}]`;
    console.log(`  ${r.name.padEnd(24)} ${(r.median * 1e3).toFixed(1).padStart(8)} ms${rel}`);
  }
}

const leaf = (shape: number[], scale = 1): Tensor => { const t = torch.randn(shape).mul_(scale).keep(); t.requiresGrad = true; return t; };
const clearGrads = (ts: Tensor[]): void => { for (const t of ts) t.grad = null; };

if (parts.includes('upsample')) {
  for (const [C, H] of [[768, 7], [384, 14], [192, 28], [96, 56], [48, 112]] as const) {
    const x = leaf([B, C, H, H]), w = leaf([C, C, 4, 4], 0.02), b = leaf([C]);
    const gy = torch.randn([B, C, 2 * H, 2 * H]).keep();
    const fb = (f: typeof torch.convTranspose2d) => () => torch.tidy(() => { clearGrads([x, w, b]); f(x, w, b, 2, 1).backward(gy); });
    await report(`upsample ConvTranspose2d(${C}, ${C}, 4, 2, 1) at ${H}² → ${2 * H}², forward + backward`, [
      { name: 'ATen conv_transpose2d', run: fb(torch.convTranspose2d) },
      { name: 'conv_transpose2d_onednn', run: fb(torch.convTranspose2dOnednn) },
    ]);
    for (const t of [x, w, b, gy]) t.dispose();
  }
}

if (parts.includes('sparseBN')) {
  // the stock formulation: the (N, HW, C) view of the map indexed by the visible (sample, position) pairs
  const gather = (x: Tensor, n: Tensor, hw: Tensor): Tensor => x.reshape([x.size(0), x.size(1), -1]).transpose(1, 2).index([n, hw]);
  const scatter = (rows: Tensor, n: Tensor, hw: Tensor, shape: number[]): Tensor => {
    const out = torch.zeros(shape);
    out.view([shape[0]!, shape[1]!, -1]).transpose(1, 2).indexPut_([n, hw], rows);
    return out;
  };
  for (const [C, H] of [[64, 112], [256, 56], [512, 28], [1024, 14]] as const) {
    const x = leaf([B, C, H, H]);
    const active = randomMask(B, 7, 0.6, { generator: new torch.Generator(0) }).keep();
    const mask = expandMask(active, H, H).keep();
    const flat = mask.reshape([-1]).nonzero().squeeze(1).keep();
    const n = flat.div(H * H, 'floor').keep(), hw = flat.remainder(H * H).keep();
    const bn = new torch.nn.BatchNorm2d(C);
    const gy = torch.randn([B, C, H, H]).keep();
    const norm = (rows: Tensor): Tensor => torch.batchNorm(rows, bn.weight, bn.bias, null, null, true, 0.1, 1e-5);
    await report(`sparse BatchNorm(${C}) at ${H}², mask 0.6, forward + backward`, [
      { name: 'ATen index / index_put_', run: () => torch.tidy(() => { clearGrads([x]); scatter(norm(gather(x, n, hw)), n, hw, x.shape).backward(gy); }) },
      { name: 'masked_rows kernels', run: () => torch.tidy(() => { clearGrads([x]); torch.rowsToMasked(norm(torch.maskedRows(x, mask)), mask).backward(gy); }) },
    ]);
    for (const t of [x, active, mask, flat, n, hw, gy, ...bn.parameters(), ...bn.buffers()]) t.dispose();
  }
}

if (parts.includes('lamb')) {
  const model = new SparK(createPretrainEncoder('resnet50'), { inputSize: 224 });
  const params = model.parameters();
  torch.noGrad(() => { for (const p of params) p.grad = torch.randn(p.shape).mul_(1e-3); });
  const numel = params.reduce((a, p) => a + p.numel, 0);
  const opt = new LAMB(getParamGroups(model), { lr: 1e-4, betas: [0.9, 0.95], max_grad_norm: 5, weight_decay: 0.04 });
  opt.step();   // the states exist before timing
  const stepWith = (fused: boolean) => () => { const was = LAMB.fused; LAMB.fused = fused; opt.step(); LAMB.fused = was; };
  await report(`LAMB step over the SparK ResNet-50's ${params.length} parameters (${(numel / 1e6).toFixed(1)}M values)`, [
    { name: 'ATen ops', run: stepWith(false) },
    { name: 'fused lamb_step_', run: stepWith(true) },
  ]);
  opt.disposeState();
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
}
