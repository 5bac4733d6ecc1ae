import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  IMAGENET_DEFAULT_MEAN,
  IMAGENET_DEFAULT_STD,
  pyRound,
  randomResizedCropParams,
  resizeShorterThenCenterCrop,
  rgbToChw,
  sampleFlip,
} from '../../src/data/augment.js';
import { Rng } from '../../src/data/rng.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('pyRound rounds halves to even like Python 3', () => {
  // Python: [round(v) for v in (0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4999, 2.5001)] == [0, 2, 2, 4, 0, -2, 2, 3]
  assert.deepEqual([0.5, 1.5, 2.5, 3.5, -0.5, -1.5, 2.4999, 2.5001].map(pyRound).map((v) => v + 0), [0, 2, 2, 4, 0, -2, 2, 3]);
});

test('RandomResizedCrop params: inside the image, area and ratio within the ranges (up to rounding)', () => {
  const rng = new Rng(11);
  const ratios: number[] = [];
  for (let t = 0; t < 3000; t++) {
    const H = 20 + rng.int(0, 600);
    const W = 20 + rng.int(0, 600);
    const b = randomResizedCropParams(H, W, rng);
    assert.ok(Number.isInteger(b.top) && Number.isInteger(b.left) && Number.isInteger(b.height) && Number.isInteger(b.width));
    assert.ok(b.top >= 0 && b.left >= 0 && b.height > 0 && b.width > 0);
    assert.ok(b.top + b.height <= H && b.left + b.width <= W, `box ${JSON.stringify(b)} outside ${H}x${W}`);
    const fallback = W / H >= 3 / 4 && W / H <= 4 / 3 && b.height === H && b.width === W;
    if (!fallback && !(b.height === H || b.width === W)) {
      // an accepted random crop: w = round(sqrt(A r)), h = round(sqrt(A / r)) with A in [0.67, 1]·H·W, r in [3/4, 4/3]
      const area = b.width * b.height;
      const slack = (b.width + b.height + 1) / (H * W);
      assert.ok(area / (H * W) >= 0.67 - slack && area / (H * W) <= 1 + slack, `area fraction ${area / (H * W)}`);
      const r = b.width / b.height;
      const rs = 1 / b.height + 1 / b.width;
      assert.ok(r >= (3 / 4) * (1 - rs) - 1e-9 && r <= (4 / 3) * (1 + rs) + 1e-9, `ratio ${r}`);
      ratios.push(Math.log(r));
    }
  }
  // the aspect ratio is actually random over (close to) the whole log range
  assert.ok(ratios.length > 1000);
  assert.ok(Math.min(...ratios) < Math.log(0.8) && Math.max(...ratios) > Math.log(1.25));
});

test('RandomResizedCrop fallback: central crop clamped to the ratio range (torchvision formula)', () => {
  // 10×1000: every attempt needs h >= sqrt(0.67·10000·3/4) > 10, so the fallback runs:
  // in_ratio 100 > 4/3 -> h = 10, w = round(10·4/3) = 13, i = 0, j = (1000-13)//2 = 493
  assert.deepEqual(randomResizedCropParams(10, 1000, new Rng(0)), { top: 0, left: 493, height: 10, width: 13 });
  // 1000×10: in_ratio 0.01 < 3/4 -> w = 10, h = round(10/(3/4)) = 13, i = (1000-13)//2 = 493, j = 0
  assert.deepEqual(randomResizedCropParams(1000, 10, new Rng(0)), { top: 493, left: 0, height: 13, width: 10 });
});

test('RandomResizedCrop params are a function of the generator state only', () => {
  const a = randomResizedCropParams(300, 400, new Rng(5));
  const b = randomResizedCropParams(300, 400, new Rng(5));
  assert.deepEqual(a, b);
  const boxes = new Set<string>();
  for (let s = 0; s < 50; s++) boxes.add(JSON.stringify(randomResizedCropParams(300, 400, new Rng(s))));
  assert.ok(boxes.size > 40);
});

test('horizontal flip has probability 1/2', () => {
  const rng = new Rng(9);
  let flips = 0;
  for (let i = 0; i < 10000; i++) flips += sampleFlip(rng) ? 1 : 0;
  assert.ok(Math.abs(flips - 5000) < 300, `${flips} flips`);
});

test('resize shorter side + center crop geometry follows torchvision Resize/CenterCrop', () => {
  // Resize(224) of 300×400 (h×w): short side 224, long int(224·400/300) = 298; CenterCrop left = round((298-224)/2) = 37
  assert.deepEqual(resizeShorterThenCenterCrop(300, 400, 224), {
    resizeHeight: 224,
    resizeWidth: 298,
    crop: { top: 0, left: 37, height: 224, width: 224 },
  });
  // portrait 500×375: w 224, h int(224·500/375) = 298, top 37
  assert.deepEqual(resizeShorterThenCenterCrop(500, 375, 224).crop, { top: 37, left: 0, height: 224, width: 224 });
  // (229-224)/2 = 2.5 rounds to even: 2
  assert.equal(resizeShorterThenCenterCrop(224, 229, 224).crop.left, 2);
});

test('ToTensor + Normalize: CHW layout, ImageNet mean/std, flip mirrors columns', () => {
  // 2×2 RGB image, rows: [(0,0,0), (255,255,255)], [(255,0,0), (0,128,255)]
  const rgb = new Uint8Array([0, 0, 0, 255, 255, 255, 255, 0, 0, 0, 128, 255]);
  const raw = rgbToChw(rgb, 2, false, false);
  assert.deepEqual([...raw].map((v) => Math.round(v * 255)), [0, 255, 255, 0, 0, 255, 0, 128, 0, 255, 0, 255]);
  const norm = rgbToChw(rgb, 2, false, true);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < 4; i++) {
      const expect = (raw[c * 4 + i]! - IMAGENET_DEFAULT_MEAN[c]!) / IMAGENET_DEFAULT_STD[c]!;
      assert.ok(Math.abs(norm[c * 4 + i]! - expect) < 1e-6);
    }
  }
  const flipped = rgbToChw(rgb, 2, true, false);
  assert.deepEqual([...flipped].map((v) => Math.round(v * 255)), [255, 0, 0, 255, 255, 0, 128, 0, 255, 0, 255, 0]);
  assert.throws(() => rgbToChw(rgb, 3, false, false), /expected 27 bytes/);
});
