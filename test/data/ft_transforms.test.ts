import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import sharp from 'sharp';
import { readSafetensors } from '../../src/torch/io/index.js';
import { repoRoot } from '../../src/data/demo.js';
import { IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD, evalGeometry, flipRgbInPlace } from '../../src/data/augment.js';
import { randomErasing, FINETUNE_ERASING } from '../../src/data/erasing.js';
import { loadSample } from '../../src/data/sample.js';
import { cropRgb, resizeBicubic } from '../../src/data/resample.js';
import { Rng } from '../../src/data/rng.js';
import { rmrf, syntheticRgb, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const FX = path.join(repoRoot(), 'test/fixtures/ft_data');
const S = 64;

test("val transform equals the reference's (timm transforms_imagenet_eval, crop_pct 0.95, PIL bicubic) on real photos", async () => {
  // val.safetensors: the reference's PIL image after Resize(67) + CenterCrop(64), made by gen.py; the
  // cases are a landscape and a portrait photo (shrunk ~1.8x), a greyscale photo and an enlarged one.
  // Our resize is Pillow's algorithm (resample.ts), so the bytes must be equal and the normalised
  // floats equal up to float32 rounding of (x/255 - mean)/std.
  const fx = readSafetensors(path.join(FX, 'val.safetensors')).tensors;
  assert.deepEqual([...fx.keys()].sort(), ['astronaut', 'camera', 'chelsea', 'coffee']);
  for (const [name, ref] of fx) {
    const out = await loadSample({ file: path.join(FX, 'inputs', `${name}.webp`), size: S, transform: 'eval', normalize: true, seed: 0 });
    assert.equal(out.length, 3 * S * S);
    let maxErr = 0;
    for (let c = 0; c < 3; c++)
      for (let y = 0; y < S; y++)
        for (let x = 0; x < S; x++) {
          const want = (ref.data[(y * S + x) * 3 + c]! / 255 - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]!;
          maxErr = Math.max(maxErr, Math.abs(out[(c * S + y) * S + x]! - want));
        }
    assert.ok(maxErr < 1e-6, `${name}: max |ours - reference| = ${maxErr}`);
  }
});

test('the greyscale photo comes out with three equal channels (PIL convert("RGB"))', async () => {
  const out = await loadSample({ file: path.join(FX, 'inputs', 'camera.webp'), size: S, transform: 'eval', normalize: false, seed: 0 });
  const plane = S * S;
  for (let i = 0; i < plane; i++) assert.ok(out[i] === out[plane + i] && out[i] === out[2 * plane + i]);
});

test('val geometry: floor(S/0.95) shorter side + centre crop below 384 px, plain S×S resize from 384 px', () => {
  // 224: Resize(235); 500x375 (w x h) -> 313x235 (int(235·500/375) = 313), crop left round((313-224)/2) = 44 (44.5 -> even), top round(5.5) = 6
  assert.deepEqual(evalGeometry(375, 500, 224), { resizeHeight: 235, resizeWidth: 313, crop: { top: 6, left: 44, height: 224, width: 224 } });
  // 64: Resize(67)
  assert.deepEqual(evalGeometry(48, 48, 64), { resizeHeight: 67, resizeWidth: 67, crop: { top: 2, left: 2, height: 64, width: 64 } });
  // 384 and above: transforms.Resize((S, S)), no crop
  assert.deepEqual(evalGeometry(375, 500, 384), { resizeHeight: 384, resizeWidth: 384, crop: { top: 0, left: 0, height: 384, width: 384 } });
});

test('Pillow resize: identity at the same size, constant images stay constant, crops copy pixels', () => {
  const img = { width: 5, height: 4, data: syntheticRgb(5, 4, 1) };
  assert.deepEqual(resizeBicubic(img, 5, 4).data, img.data);
  const flat = { width: 13, height: 9, data: new Uint8Array(13 * 9 * 3).fill(77) };
  for (const [w, h] of [[4, 3], [30, 20], [13, 2], [1, 9]] as const) assert.ok(resizeBicubic(flat, w, h).data.every((v) => v === 77));
  const c = cropRgb(img, { top: 1, left: 2, height: 2, width: 3 });
  assert.deepEqual([...c.data.subarray(0, 3)], [...img.data.subarray((1 * 5 + 2) * 3, (1 * 5 + 2) * 3 + 3)]);
  assert.throws(() => cropRgb(img, { top: 3, left: 0, height: 2, width: 1 }), /not inside the 5x4 image/);
});

test('horizontal flip of RGB bytes mirrors each row', () => {
  const px = syntheticRgb(5, 3, 2);
  const f = flipRgbInPlace(px.slice(), 5, 3);
  for (let y = 0; y < 3; y++) for (let x = 0; x < 5; x++) for (let c = 0; c < 3; c++) assert.equal(f[(y * 5 + x) * 3 + c], px[(y * 5 + 4 - x) * 3 + c]);
});

test("RandomErasing (timm, p 0.25, 'pixel'): rate, area 2–33 %, aspect 0.3–3.3, N(0,1) noise inside a rectangle", () => {
  const rng = new Rng(4);
  const [C, H, W] = [3, 40, 40];
  let erased = 0;
  const noise: number[] = [];
  for (let t = 0; t < 4000; t++) {
    const img = new Float32Array(C * H * W).fill(100);
    if (!randomErasing(img, C, H, W, rng, FINETUNE_ERASING)) {
      assert.ok(img.every((v) => v === 100));
      continue;
    }
    erased++;
    // the changed pixels form one rectangle, the same in every channel
    let [y0, y1, x0, x1] = [H, -1, W, -1];
    for (let y = 0; y < H; y++) for (let x = 0; x < W; x++) if (img[y * W + x] !== 100) [y0, y1, x0, x1] = [Math.min(y0, y), Math.max(y1, y), Math.min(x0, x), Math.max(x1, x)];
    const [h, w] = [y1 - y0 + 1, x1 - x0 + 1];
    for (let c = 0; c < C; c++)
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++) {
          const v = img[(c * H + y) * W + x]!;
          const inside = y >= y0 && y <= y1 && x >= x0 && x <= x1;
          assert.equal(v !== 100, inside);
          if (inside && t < 300) noise.push(v);
        }
    assert.ok(h * w >= 0.02 * H * W - (h + w) && h * w <= (H * W) / 3 + (h + w), `area ${h * w}`);
    assert.ok(h / w > 0.3 * 0.7 && h / w < 3.34 / 0.7, `aspect ${h / w}`);
  }
  assert.ok(Math.abs(erased / 4000 - 0.25) < 0.025, `erased ${erased}/4000`);
  const mean = noise.reduce((s, v) => s + v, 0) / noise.length;
  const sd = Math.sqrt(noise.reduce((s, v) => s + (v - mean) ** 2, 0) / noise.length);
  assert.ok(Math.abs(mean) < 0.05 && Math.abs(sd - 1) < 0.05, `noise mean ${mean}, sd ${sd}`);
});

test('fine-tuning train transform: seeded, varied, normalised; erasing noise and TrivialAugment show up', async () => {
  const dir = tempDir();
  try {
    const file = path.join(dir, 'x.png');
    await sharp(syntheticRgb(90, 70, 3), { raw: { width: 90, height: 70, channels: 3 } }).png().toFile(file);
    const req = { file, size: 32, transform: 'finetune' as const, normalize: true };
    const a = await loadSample({ ...req, seed: 11 });
    assert.deepEqual(await loadSample({ ...req, seed: 11 }), a);
    const outs = await Promise.all(Array.from({ length: 40 }, (_, s) => loadSample({ ...req, seed: 1000 + s })));
    const distinct = new Set(outs.map((o) => o.slice(0, 64).join(',')));
    assert.ok(distinct.size > 35);
    // normalised ImageNet range, except erased pixels (N(0,1) noise can leave it, rarely)
    for (const o of outs) for (const v of o) assert.ok(Number.isFinite(v) && v > -6 && v < 6);
    // some samples have black borders from shears/rotations/translations: RGB (0,0,0) after normalisation
    const black = outs.filter((o) => {
      for (let i = 0; i < 32 * 32; i++) {
        if ([0, 1, 2].every((c) => Math.abs(o[c * 1024 + i]! + IMAGENET_DEFAULT_MEAN[c]! / IMAGENET_DEFAULT_STD[c]!) < 1e-5)) return true;
      }
      return false;
    }).length;
    assert.ok(black >= 2 && black < 30, `${black} of 40 samples with black pixels`);
    await assert.rejects(loadSample({ ...req, size: 384, seed: 0 }), /img_size 384 >= 384 \(timm AutoAugment 'v0' in the reference\) is not implemented/);
  } finally {
    rmrf(dir);
  }
});
