// How fast the playground answers: `spark serve`'s /api/reconstruct for a ResNet-50 SparK at 224
// (decoder width 768, the reference's), over HTTP on this machine. The baseline, in the same run, is
// what `spark reconstruct` does for one image: read the checkpoint, build the model, decode, infer.
// The server does that once per checkpoint (the first request) and then keeps the model.
//
//   node dist/bench/serve_reconstruct.bench.js [--model resnet50] [--size 224] [--requests 7] [--threads N]
import os from 'node:os';
import fs from 'node:fs';
import path from 'node:path';
import http from 'node:http';
import * as torch from '../src/torch/index.js';
import { createPretrainEncoder } from '../src/models/index.js';
import { SparK } from '../src/spark/index.js';
import { LAMB } from '../src/torch/optim/index.js';
import { saveSparkStyle, sparkStyleName } from '../src/train/checkpoint.js';
import { loadReconstructionModel, disposeModel, decodeForModel, seededMask, reconstructOne } from '../src/train/reconstruct.js';
import { startServer } from '../src/serve/index.js';
import { encodePng } from '../src/train/monitor/index.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}
const modelName = arg('--model', 'resnet50');
const size = Number(arg('--size', '224'));
const requests = Number(arg('--requests', '7'));
if (Number(arg('--threads', '0'))) torch.setNumThreads(Number(arg('--threads', '0')));

const info = torch.buildInfo();
const cpus = os.cpus();
console.log(`machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical CPUs (${os.availableParallelism()} available), load average ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}`);
console.log(`libtorch ${info.torchVersion}, threads ${torch.getNumThreads()}, node ${process.version}`);

// a checkpoint of the real size (weights at init: the speed does not depend on their values)
const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-serve-bench-'));
const ckpt = path.join(dir, sparkStyleName(modelName));
{
  const model = new SparK(createPretrainEncoder(modelName), { inputSize: size, maskRatio: 0.6, densifyNorm: 'bn', decoderWidth: 768 });
  const opt = new LAMB(model.parameters(), { lr: 1e-4 });
  saveSparkStyle(ckpt, model, { args: 'bench', arch: modelName, inputSize: size, epoch: 0, performanceDesc: '', optimizer: opt });
  disposeModel(model);
}
console.log(`checkpoint: ${modelName} SparK at ${size}, ${(fs.statSync(ckpt).size / 2 ** 20).toFixed(0)} MiB`);
// a 640×480 photo-like image (smooth gradients + texture), as PNG
const W = 640, H = 480, px = new Uint8Array(W * H * 3);
for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) {
  const o = (y * W + x) * 3;
  px[o] = (x * 255 / W) | 0; px[o + 1] = (y * 255 / H) | 0; px[o + 2] = ((x * y) % 251);
}
const image = encodePng(px, H, W, 3);

const secs = (t0: number): number => (performance.now() - t0) / 1000;
const median = (a: number[]): number => [...a].sort((x, y) => x - y)[a.length >> 1]!;

// baseline: spark reconstruct's work for one image
const t0 = performance.now();
const m = loadReconstructionModel(ckpt);
const input = await decodeForModel(image, m.inputSize);
torch.tidy(() => reconstructOne(m, input, seededMask(m, 0.6, 0)));
const cold = secs(t0);
disposeModel(m);
console.log(`baseline (spark reconstruct's work: load + build + decode + infer): ${cold.toFixed(2)} s`);

function post(port: number, p: string, body: Uint8Array | string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ host: '127.0.0.1', port, path: p, method: 'POST', headers: { 'Content-Length': Buffer.byteLength(body) } }, (res) => {
      let b = ''; res.on('data', (c) => { b += String(c); }); res.on('end', () => resolve({ status: res.statusCode ?? 0, body: b }));
    });
    req.on('error', reject); req.end(body);
  });
}

const srv = await startServer({ expDir: dir, port: 0 });
try {
  const up = await post(srv.port, '/api/upload?name=photo.png', image);
  const id = (JSON.parse(up.body) as { id: string }).id;
  const times: number[] = [];
  for (let i = 0; i <= requests; i++) {
    // random masks, then hand-made ones (what a patch click sends)
    const f = size / 32;
    const visible = i > requests / 2 ? Array.from({ length: f * f }, (_, k) => ((k * 7 + i) % 5 < 2 ? '1' : '0')).join('') : undefined;
    const t = performance.now();
    const r = await post(srv.port, '/api/reconstruct', JSON.stringify({ image: id, ckpt: path.basename(ckpt), ratio: 0.6, seed: i, visible }));
    if (r.status !== 200) throw new Error(`request ${i}: ${r.status} ${r.body}`);
    times.push(secs(t));
  }
  const first = times[0]!, warm = median(times.slice(1));
  console.log(`serve: first request ${first.toFixed(2)} s (loads the model), then median ${warm.toFixed(2)} s over ${requests} requests ` +
    `(min ${Math.min(...times.slice(1)).toFixed(2)}, max ${Math.max(...times.slice(1)).toFixed(2)}); model loads: ${srv.playground.models.loads}`);
  console.log(`ratio: a warm request takes ${(warm / cold).toFixed(2)}× the baseline (${(cold / warm).toFixed(1)}× faster); first request ${(first / cold).toFixed(2)}× the baseline`);
} finally {
  await srv.close();
  fs.rmSync(dir, { recursive: true, force: true });
}
