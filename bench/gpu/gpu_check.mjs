// GPU checks of sparkts on a CUDA libtorch (2.x): device ops vs CPU, autograd and custom kernels on
// CUDA, golden verify on cuda, conv/matmul GFLOP/s (compare with gpu_ref.py), a SparK ResNet-50 step.
import * as torch from '../../dist/src/torch/index.js';
import { verifyGolden } from '../../dist/src/train/golden.js';
import { createPretrainEncoder } from '../../dist/src/models/index.js';
import { SparK } from '../../dist/src/spark/index.js';
import { LAMB } from '../../dist/src/torch/optim/index.js';
import { getParamGroups } from '../../dist/src/train/param_groups.js';
import { pretrainStep } from '../../dist/src/train/pretrain_step.js';
import { TensorBoardWriter, encodePng } from '../../dist/src/train/monitor/index.js';
import { saveSparkStyle, loadCheckpoint, loadIntoSpark } from '../../dist/src/train/checkpoint.js';

const out = (o) => console.log(JSON.stringify(o));
const step = async (name, fn) => { try { const t = Date.now(); const r = await fn(); out({ step: name, ok: true, ms: Date.now() - t, ...r }); } catch (e) { out({ step: name, ok: false, error: String(e.stack || e).slice(0, 800) }); } };

await step('info', () => ({ ...torch.buildInfo(), parallelInfo: undefined, cuda: torch.cuda.isAvailable(), devices: torch.cuda.deviceCount(), threads: torch.getNumThreads() }));

await step('ops_vs_cpu', () => torch.tidy(() => {
  torch.manualSeed(0);
  const x = torch.randn([4, 8, 16, 16], { dtype: 'float64' }), w = torch.randn([6, 4, 3, 3], { dtype: 'float64' });
  const cpu = torch.conv2d(x, w, null, 2, 1, 1, 2).sum([1]).relu();
  const gpu = torch.conv2d(x.cuda(), w.cuda(), null, 2, 1, 1, 2).sum([1]).relu();
  const mm = torch.matmul(x.reshape([64, 128]), x.reshape([128, 64]));
  const mmg = torch.matmul(x.cuda().reshape([64, 128]), x.cuda().reshape([128, 64]));
  const xr = x.cuda().requiresGrad_();
  const m = torch.bernoulli(0.5, [4, 1, 16, 16]).bool().cuda();
  const rows = torch.maskedRows(xr, m); const back = torch.rowsToMasked(rows.mul(2), m); back.sum().backward();
  return {
    conv_max_abs_diff: cpu.sub(gpu.cpu()).abs().maxAll().item(), matmul_max_abs_diff: mm.sub(mmg.cpu()).abs().maxAll().item(),
    custom_op_grad_ok: xr.grad.cpu().equal(m.cpu().expand([4, 8, 16, 16]).to({ dtype: 'float64' }).mul(2)), device: gpu.device,
  };
}));

await step('error_on_cuda', () => { try { torch.matmul(torch.ones([2, 3]).cuda(), torch.ones([2, 3]).cuda()); return { threw: false }; } catch (e) { return { threw: true, message: e.message }; } });

await step('verify_golden_cuda', () => {
  const r = verifyGolden('.device/resnet_basic_96.safetensors', { device: 'cuda' });
  const failed = r.checks.filter((c) => !c.pass);
  const worst = [...r.checks].sort((a, b) => b.error / b.tolerance - a.error / a.tolerance).slice(0, 6);
  return { pass: r.pass, checks: r.checks.length, failed: failed.length, worst };
});

const time = (fn, reps = 20) => { for (let i = 0; i < 3; i++) torch.tidy(fn); torch.cuda.synchronize(); const ts = []; for (let i = 0; i < reps; i++) { const t = performance.now(); torch.tidy(fn); torch.cuda.synchronize(); ts.push(performance.now() - t); } ts.sort((a, b) => a - b); return ts[reps >> 1] / 1000; };
await step('gflops', () => {
  torch.cuda.setAllowTF32(false);
  const x = torch.randn([32, 128, 56, 56], { device: 'cuda' }).requiresGrad_().keep(), w = torch.randn([128, 128, 3, 3], { device: 'cuda' }).requiresGrad_().keep();
  const sconv = time(() => { const y = torch.conv2d(x, w, null, 1, 1); y.backward(torch.onesLike(y)); });
  const a = torch.randn([8192, 8192], { device: 'cuda' }).keep(), b = torch.randn([8192, 8192], { device: 'cuda' }).keep();
  const smm = time(() => torch.matmul(a, b));
  return { conv3x3_fwd_bwd_gflops: 3 * 2 * 32 * 128 * 128 * 9 * 56 * 56 / sconv / 1e9, matmul_8192_fp32_gflops: 2 * 8192 ** 3 / smm / 1e9 };
});

await step('spark_resnet50_cuda', () => {
  torch.manualSeed(0);
  const model = new SparK(createPretrainEncoder('resnet50'), { inputSize: 224 }).to('cuda');
  const opt = new LAMB(getParamGroups(model), { lr: 1e-4, weight_decay: 0, betas: [0.9, 0.95], max_grad_norm: 5 });
  // the pretraining job's step and schedule (resnet50's defaults: base_lr 2e-4 at batch 64, wd 0.04 → 0.2)
  const schedule = { peakLr: 2e-4 * 64 / 256, wd: 0.04, wdEnd: 0.2, warmupIters: 0, totalIters: 100, clip: 5 };
  const x = torch.randn([64, 3, 224, 224], { device: 'cuda' }).keep();
  const gen = new torch.Generator(1);
  const live0 = torch.liveTensorCount();
  const losses = [], ts = [];
  for (let i = 0; i < 8; i++) {
    const t = performance.now();
    losses.push(pretrainStep(model, opt, x, gen, i, schedule).loss);
    torch.cuda.synchronize(); ts.push(performance.now() - t);
  }
  saveSparkStyle('/tmp/cuda_ckpt.pth', model, { args: 'gpu', arch: 'resnet50', inputSize: 224, epoch: 0, performanceDesc: '-', optimizer: opt });
  const ck = loadCheckpoint('/tmp/cuda_ckpt.pth');
  const cpuModel = new SparK(createPretrainEncoder('resnet50', { skipInit: true }), { inputSize: 224 });
  const rep = loadIntoSpark(cpuModel, ck);
  const p = model.sparse_encoder.sp_cnn.getModule('conv1').weight;
  const same = p.cpu().equal(cpuModel.sparse_encoder.sp_cnn.getModule('conv1').weight);
  const s = ts.slice(3).sort((a, b) => a - b)[2] / 1000;
  return { losses, sec_per_step: s, img_per_sec: 64 / s, live_growth: torch.liveTensorCount() - live0, ckpt_roundtrip_equal: same, missing: rep.missingKeys.length };
});

await step('tensorboard_write', () => {
  const tb = new TensorBoardWriter('/tmp/tbcheck');
  for (let i = 0; i < 5; i++) tb.addScalar('train/loss', 1 / (i + 1), i);
  const img = new Uint8Array(8 * 8 * 3).map((_, i) => i % 255);
  tb.addImagePng('recon', encodePng(img, 8, 8, 3), 8, 8, 0);
  tb.close();
  return { path: tb.path };
});
