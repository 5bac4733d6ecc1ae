import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { crc32, crc32c } from '../../../src/torch/io/crc32.js';
import { denormalize, encodePng, imageGrid, pngSize } from '../../../src/train/monitor/png.js';
import { bitwiseCrc32, decodePng } from './pngdecode.js';
import { checkNoLeaks, pythonHas, runPython } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const CHECK = new TextEncoder().encode('123456789');

test('CRC-32 and CRC-32C match their published check values', () => {
  assert.equal(crc32(CHECK), 0xcbf43926);
  assert.equal(crc32c(CHECK), 0xe3069283);
  assert.equal(crc32(new Uint8Array(0)), 0);
  // Continuing over a split input gives the same result as one pass.
  assert.equal(crc32(CHECK.subarray(4), crc32(CHECK.subarray(0, 4))), 0xcbf43926);
  const rnd = Uint8Array.from({ length: 1000 }, (_, i) => (i * 7919) & 0xff);
  assert.equal(crc32(rnd), bitwiseCrc32(rnd));
});

function randomImage(h: number, w: number, c: number): Uint8Array {
  let s = 12345;
  return Uint8Array.from({ length: h * w * c }, () => ((s = (s * 1103515245 + 12345) >>> 0) >>> 16) & 0xff);
}

test('encodePng: signature, chunk CRCs, inflated size and pixels round-trip', () => {
  for (const [h, w, c] of [[5, 7, 3], [1, 1, 3], [4, 3, 1], [3, 2, 4]] as const) {
    const img = randomImage(h, w, c);
    const png = encodePng(img, h, w, c);
    const d = decodePng(png);
    assert.deepEqual(d.chunkTypes, ['IHDR', 'IDAT', 'IEND']);
    assert.equal(d.width, w);
    assert.equal(d.height, h);
    assert.equal(d.channels, c);
    assert.equal(d.rawLength, h * (w * c + 1));
    assert.deepEqual(d.pixels, img);
    assert.deepEqual(pngSize(png), { height: h, width: w });
  }
});

test('encodePng: output decodes identically in PIL (skipped without a Python with PIL)', (t) => {
  if (!pythonHas('PIL')) {
    t.skip('no Python with PIL (apt-get install python3-pil) to cross-check against');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'png-'));
  try {
    const img = randomImage(6, 9, 3);
    writeFileSync(join(dir, 'a.png'), encodePng(img, 6, 9));
    const out = runPython('import sys; from PIL import Image; im = Image.open(sys.argv[1]); im.load(); print(im.mode, im.size[0], im.size[1]); sys.stdout.write(im.tobytes().hex())', [join(dir, 'a.png')]);
    const [head, hex] = out.split('\n');
    assert.equal(head, 'RGB 9 6');
    assert.equal(hex, Buffer.from(img).toString('hex'));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('encodePng rejects wrong sizes with a clear message', () => {
  assert.throws(() => encodePng(new Uint8Array(10), 2, 2), /needs 12/);
  assert.throws(() => encodePng(new Uint8Array(0), 0, 2), /not a valid image size/);
  assert.throws(() => encodePng(new Uint8Array(10), 2, 5, 5 as number), /channels is not supported/);
  assert.throws(() => pngSize(new Uint8Array(30)), /not a PNG/);
});

test('denormalize applies x*std+mean per channel and clamps to [0,1]', () => {
  // 3 channels × 2 pixels: values 0, 1, and out-of-range ones.
  const x = Float32Array.of(0, 1, 0, -1, 10, -10);
  const y = denormalize(x);
  const close = (a: number, b: number) => assert.ok(Math.abs(a - b) < 1e-6, `${a} vs ${b}`);
  close(y[0]!, 0.485);
  close(y[1]!, 0.485 + 0.229);
  close(y[2]!, 0.456);
  close(y[3]!, 0.456 - 0.224);
  close(y[4]!, 1);
  close(y[5]!, 0);
  assert.throws(() => denormalize(new Float32Array(4)), /do not split into 3 channels/);
});

test('imageGrid tiles CHW images with padding and background', () => {
  const h = 2;
  const w = 3;
  const hw = h * w;
  // Image A: R = 1, G = 0.5, B = 0 everywhere. Image B: grey ramp 0..1 (1 channel).
  const A = { data: new Float32Array(3 * hw).fill(1, 0, hw).fill(0.5, hw, 2 * hw).fill(0, 2 * hw), h, w };
  const B = { data: Float32Array.from({ length: hw }, (_, i) => i / (hw - 1)), h, w };
  const g = imageGrid([[A, B], [B]], 1, [9, 9, 9]);
  assert.equal(g.height, 2 * h + 3);
  assert.equal(g.width, 2 * w + 3);
  const px = (y: number, x: number) => Array.from(g.data.subarray((y * g.width + x) * 3, (y * g.width + x) * 3 + 3));
  assert.deepEqual(px(0, 0), [9, 9, 9]); // outer padding
  assert.deepEqual(px(1, 4), [9, 9, 9]); // gap between columns
  assert.deepEqual(px(1, 1), [255, 128, 0]); // A's first pixel (0.5*255 = 127.5 rounds up)
  assert.deepEqual(px(2, 3), [255, 128, 0]); // A's last pixel
  assert.deepEqual(px(1, 5), [0, 0, 0]); // B's first pixel (grey 0)
  assert.deepEqual(px(2, 7), [255, 255, 255]); // B's last pixel (grey 1)
  assert.deepEqual(px(4, 1), [0, 0, 0]); // second row holds B
  assert.deepEqual(px(4, 5), [9, 9, 9]); // second row has no second image
  assert.throws(() => imageGrid([[{ data: new Float32Array(5), h, w }]]), /fit neither/);
  assert.throws(() => imageGrid([]), /no images/);
});
