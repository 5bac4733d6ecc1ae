// The fine-tuning transforms resize with Pillow's algorithm in TypeScript (src/data/resample.ts) instead
// of libvips. This measures what that choice buys and costs, on the committed real photos:
//  (1) parity: |ours - reference| and |sharp - reference| on the reference's val transform at 64 px
//      (test/fixtures/ft_data/val.safetensors, made by PIL), per sharp kernel;
//  (2) speed: decode + resize + crop of one ImageNet-sized image (500×375 → 235 → 224) through both
//      paths, in the same run (ratio), single-threaded.
//
//   node dist/bench/ft_resize.bench.js [--iters 40]
import * as path from 'node:path';
import sharp from 'sharp';
import { readSafetensors } from '../src/torch/io/index.js';
import { evalGeometry, loadSample, repoRoot } from '../src/data/index.js';

const iters = Number(process.argv[process.argv.indexOf('--iters') + 1] ?? 40) || 40;
const FX = path.join(repoRoot(), 'test/fixtures/ft_data');
const fx = readSafetensors(path.join(FX, 'val.safetensors')).tensors;
const S = 64;

function stats(got: Uint8Array | Float32Array, ref: Uint8Array, chw: boolean): string {
  let max = 0;
  let sum = 0;
  for (let y = 0; y < S; y++)
    for (let x = 0; x < S; x++)
      for (let c = 0; c < 3; c++) {
        const v = chw ? Math.round(got[(c * S + y) * S + x]! * 255) : got[(y * S + x) * 3 + c]!;
        const d = Math.abs(v - ref[(y * S + x) * 3 + c]!);
        max = Math.max(max, d);
        sum += d;
      }
  return `mean ${(sum / (3 * S * S)).toFixed(3)} max ${String(max).padStart(2)}`;
}

sharp.cache(false);
sharp.concurrency(1);
console.log('(1) val transform at 64 px vs the reference (grey levels 0..255): mean and max |difference|');
for (const [name, ref] of fx) {
  const file = path.join(FX, 'inputs', `${name}.webp`);
  const ours = await loadSample({ file, size: S, transform: 'eval', normalize: false, seed: 0 });
  const meta = await sharp(file).metadata();
  const g = evalGeometry(meta.height!, meta.width!, S);
  const cols = [`ours (Pillow algorithm): ${stats(ours, ref.data, true)}`];
  for (const kernel of ['cubic', 'lanczos3', 'mitchell'] as const) {
    const out = await sharp(file)
      .resize(g.resizeWidth, g.resizeHeight, { kernel, fit: 'fill', fastShrinkOnLoad: false })
      .extract({ left: g.crop.left, top: g.crop.top, width: S, height: S })
      .toColourspace('srgb')
      .removeAlpha()
      .raw()
      .toBuffer();
    cols.push(`sharp ${kernel}: ${stats(new Uint8Array(out), ref.data, false)}`);
  }
  console.log(`  ${name.padEnd(9)} ${meta.width}x${meta.height} -> ${g.resizeWidth}x${g.resizeHeight}: ${cols.join(' | ')}`);
}

// (2) speed on an ImageNet-sized JPEG made from a committed photo
const big = await sharp(path.join(FX, 'inputs', 'chelsea.webp')).resize(500, 375).jpeg({ quality: 90 }).toBuffer();
const tmp = path.join(repoRoot(), '.ft_resize_bench.jpg');
const fs = await import('node:fs');
fs.writeFileSync(tmp, big);
try {
  const g = evalGeometry(375, 500, 224);
  const viaSharp = async (): Promise<void> => {
    await sharp(tmp)
      .resize(g.resizeWidth, g.resizeHeight, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false })
      .extract({ left: g.crop.left, top: g.crop.top, width: 224, height: 224 })
      .raw()
      .toBuffer();
  };
  const viaOurs = async (): Promise<void> => {
    await loadSample({ file: tmp, size: 224, transform: 'eval', normalize: false, seed: 0 });
  };
  for (let i = 0; i < 3; i++) {
    await viaSharp();
    await viaOurs();
  }
  const time = async (f: () => Promise<void>): Promise<number> => {
    const t0 = performance.now();
    for (let i = 0; i < iters; i++) await f();
    return (performance.now() - t0) / iters;
  };
  // interleave the two to share the machine's state
  const a1 = await time(viaSharp);
  const b1 = await time(viaOurs);
  const a2 = await time(viaSharp);
  const b2 = await time(viaOurs);
  const a = (a1 + a2) / 2;
  const b = (b1 + b2) / 2;
  console.log(`(2) 500x375 JPEG -> 313x235 -> 224x224, ${iters}x2 each: sharp resize+crop ${a.toFixed(2)} ms, ours (decode with sharp, Pillow resize in TS, to CHW float) ${b.toFixed(2)} ms: ratio ${(b / a).toFixed(2)}`);
} finally {
  fs.rmSync(tmp, { force: true });
}
