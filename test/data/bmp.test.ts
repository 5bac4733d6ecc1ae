import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import sharp from 'sharp';
import { decodeBmp, isBmp } from '../../src/data/bmp.js';
import { loadSample } from '../../src/data/sample.js';
import { encodeBmp24, rmrf, syntheticRgb, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

function header(opts: { width: number; height: number; bpp: number; compression?: number; dataOffset: number; fileSize: number; colors?: number }): Uint8Array {
  const b = new Uint8Array(54);
  const dv = new DataView(b.buffer);
  b[0] = 0x42;
  b[1] = 0x4d;
  dv.setUint32(2, opts.fileSize, true);
  dv.setUint32(10, opts.dataOffset, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, opts.width, true);
  dv.setInt32(22, opts.height, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, opts.bpp, true);
  dv.setUint32(30, opts.compression ?? 0, true);
  dv.setUint32(46, opts.colors ?? 0, true);
  return b;
}

const concat = (...parts: ArrayLike<number>[]): Uint8Array => {
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
};

test('the classic 2×2 24-bit example (bottom-up rows, BGR, 4-byte row padding)', () => {
  // Rows stored bottom first: [red, white] then [blue, green], each padded with 2 zero bytes.
  const px = [0x00, 0x00, 0xff, 0xff, 0xff, 0xff, 0, 0, 0xff, 0x00, 0x00, 0x00, 0xff, 0x00, 0, 0];
  const buf = concat(header({ width: 2, height: 2, bpp: 24, dataOffset: 54, fileSize: 70 }), px);
  assert.ok(isBmp(buf));
  const img = decodeBmp(buf);
  assert.equal(img.width, 2);
  assert.equal(img.height, 2);
  // top row: blue, green; bottom row: red, white
  assert.deepEqual([...img.data], [0, 0, 255, 0, 255, 0, 255, 0, 0, 255, 255, 255]);
});

test('32-bit top-down BGRX, 8-bit palette, 1-bit palette and 16-bit 5-5-5', () => {
  // 32-bit, height -1 (top-down), two pixels: (10,20,30), (200,100,50); the X byte is ignored
  let buf = concat(header({ width: 2, height: -1, bpp: 32, dataOffset: 54, fileSize: 62 }), [30, 20, 10, 99, 50, 100, 200, 7]);
  assert.deepEqual([...decodeBmp(buf).data], [10, 20, 30, 200, 100, 50]);

  // 8-bit palette of 2 colours (BGRX entries), 3×1 image with indices 1,0,1 (+1 padding byte)
  const pal8 = [0, 0, 255, 0, 255, 128, 0, 0]; // 0 = red, 1 = (0,128,255)
  buf = concat(header({ width: 3, height: 1, bpp: 8, dataOffset: 62, fileSize: 66, colors: 2 }), pal8, [1, 0, 1, 0]);
  assert.deepEqual([...decodeBmp(buf).data], [0, 128, 255, 255, 0, 0, 0, 128, 255]);

  // 1-bit, 10×1: bits 1011000001 (MSB first) over palette black/white
  const pal1 = [0, 0, 0, 0, 255, 255, 255, 0];
  buf = concat(header({ width: 10, height: 1, bpp: 1, dataOffset: 62, fileSize: 66 }), pal1, [0b10110000, 0b01000000, 0, 0]);
  const bits = [1, 0, 1, 1, 0, 0, 0, 0, 0, 1];
  assert.deepEqual([...decodeBmp(buf).data], bits.flatMap((b) => [b * 255, b * 255, b * 255]));

  // 16-bit 5-5-5: one pixel r=31,g=0,b=16 -> 255, 0, round(16·255/31) = 132
  const v = (31 << 10) | (0 << 5) | 16;
  buf = concat(header({ width: 1, height: 1, bpp: 16, dataOffset: 54, fileSize: 58 }), [v & 255, v >> 8, 0, 0]);
  assert.deepEqual([...decodeBmp(buf).data], [255, 0, 132]);
});

test('32-bit BI_BITFIELDS with the masks after a 40-byte header (here R and B swapped vs BGRX)', () => {
  const masks = new Uint8Array(12);
  const mv = new DataView(masks.buffer);
  mv.setUint32(0, 0x000000ff, true); // red in the lowest byte
  mv.setUint32(4, 0x0000ff00, true);
  mv.setUint32(8, 0x00ff0000, true);
  const buf = concat(header({ width: 1, height: 1, bpp: 32, compression: 3, dataOffset: 66, fileSize: 70 }), masks, [10, 20, 30, 255]);
  assert.deepEqual([...decodeBmp(buf).data], [10, 20, 30]);
});

test('bad BMPs fail with one clear line', () => {
  const good = encodeBmp24(syntheticRgb(5, 4, 1), 5, 4);
  assert.throws(() => decodeBmp(good.subarray(0, good.length - 10)), /invalid BMP: truncated pixel data/);
  const rle = good.slice();
  new DataView(rle.buffer).setUint32(30, 1, true); // BI_RLE8
  assert.throws(() => decodeBmp(rle), /compression type 1 .*not supported/);
  assert.throws(() => decodeBmp(new Uint8Array([0x42, 0x4d, 1, 2])), /invalid BMP/);
  assert.equal(isBmp(new Uint8Array([0x89, 0x50])), false);
});

test('a BMP decodes through the loader exactly like the same pixels in a PNG', async () => {
  const dir = tempDir();
  try {
    const [w, h] = [45, 37];
    const px = syntheticRgb(w, h, 3);
    fs.writeFileSync(path.join(dir, 'a.bmp'), encodeBmp24(px, w, h));
    await sharp(px, { raw: { width: w, height: h, channels: 3 } }).png().toFile(path.join(dir, 'a.png'));
    for (const transform of ['pretrain', 'center', 'finetune', 'eval'] as const) {
      const req = { size: 32, transform, normalize: true, seed: 1234 };
      const a = await loadSample({ file: path.join(dir, 'a.bmp'), ...req });
      const b = await loadSample({ file: path.join(dir, 'a.png'), ...req });
      assert.deepEqual(a, b);
    }
  } finally {
    rmrf(dir);
  }
});
