// Test images for the data-layer tests, generated with sharp into a temporary folder.

import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import sharp from 'sharp';

export function tempDir(prefix = 'sparkts-data-'): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

/** Deterministic RGB content that differs per image: gradients plus a per-image tint. */
export function syntheticRgb(width: number, height: number, k: number): Uint8Array {
  const px = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const o = (y * width + x) * 3;
      px[o] = Math.round((255 * x) / Math.max(1, width - 1));
      px[o + 1] = Math.round((255 * y) / Math.max(1, height - 1));
      px[o + 2] = (k * 53 + x * 7 + y * 3) % 256;
    }
  }
  return px;
}

export async function writeImage(file: string, width: number, height: number, k: number): Promise<Uint8Array> {
  const px = syntheticRgb(width, height, k);
  const img = sharp(px, { raw: { width, height, channels: 3 } });
  const ext = path.extname(file).toLowerCase();
  if (ext === '.png') await img.png().toFile(file);
  else if (ext === '.jpg' || ext === '.jpeg') await img.jpeg({ quality: 95 }).toFile(file);
  else if (ext === '.webp') await img.webp({ lossless: true }).toFile(file);
  else if (ext === '.tif' || ext === '.tiff') await img.tiff().toFile(file);
  else throw new Error(`writeImage: no encoder for ${ext}`);
  return px;
}

/** A BMP file (24-bit bottom-up) holding `px`, written by hand from the format spec. */
export function encodeBmp24(px: Uint8Array, width: number, height: number): Uint8Array {
  const stride = Math.floor((24 * width + 31) / 32) * 4;
  const size = 54 + stride * height;
  const buf = new Uint8Array(size);
  const dv = new DataView(buf.buffer);
  buf[0] = 0x42;
  buf[1] = 0x4d;
  dv.setUint32(2, size, true);
  dv.setUint32(10, 54, true);
  dv.setUint32(14, 40, true);
  dv.setInt32(18, width, true);
  dv.setInt32(22, height, true);
  dv.setUint16(26, 1, true);
  dv.setUint16(28, 24, true);
  dv.setUint32(34, stride * height, true);
  for (let y = 0; y < height; y++) {
    const row = 54 + (height - 1 - y) * stride;
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * 3;
      buf[row + x * 3] = px[i + 2]!;
      buf[row + x * 3 + 1] = px[i + 1]!;
      buf[row + x * 3 + 2] = px[i]!;
    }
  }
  return buf;
}

/**
 * A small dataset: `n` good images of mixed formats and sizes under nested folders, plus optionally
 * a corrupt .jpg (random bytes) and a truncated .png. Returns the folder and the bad files.
 */
export async function makeDataset(
  n: number,
  opts: { corrupt?: boolean; truncated?: boolean } = {},
): Promise<{ root: string; bad: string[] }> {
  const root = tempDir();
  const exts = ['.png', '.jpg', '.webp', '.tiff', '.bmp'];
  for (let i = 0; i < n; i++) {
    const dir = path.join(root, `class${i % 3}`);
    fs.mkdirSync(dir, { recursive: true });
    const w = 40 + ((i * 13) % 37);
    const h = 36 + ((i * 7) % 29);
    const ext = exts[i % exts.length]!;
    const file = path.join(dir, `img${String(i).padStart(3, '0')}${ext}`);
    if (ext === '.bmp') fs.writeFileSync(file, encodeBmp24(syntheticRgb(w, h, i), w, h));
    else await writeImage(file, w, h, i);
  }
  const bad: string[] = [];
  if (opts.corrupt) {
    const f = path.join(root, 'class0', 'corrupt.jpg');
    const bytes = new Uint8Array(2048);
    for (let i = 0; i < bytes.length; i++) bytes[i] = (i * 2654435761) >>> 24; // deterministic garbage
    fs.writeFileSync(f, bytes);
    bad.push(f);
  }
  if (opts.truncated) {
    const f = path.join(root, 'class1', 'truncated.png');
    const full = await sharp(syntheticRgb(64, 64, 99), { raw: { width: 64, height: 64, channels: 3 } })
      .png({ compressionLevel: 0 })
      .toBuffer();
    fs.writeFileSync(f, full.subarray(0, Math.floor(full.length / 2)));
    bad.push(f);
  }
  return { root, bad };
}

export function rmrf(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/**
 * An uncompressed 8-bit TIFF with `bands` samples per pixel (grey + bands-1 unspecified extra samples),
 * written by hand from the TIFF 6.0 spec: the kind of multi-band image that has no RGB meaning.
 */
export function encodeMultibandTiff(width: number, height: number, bands: number): Uint8Array {
  const pixels = width * height * bands;
  const entries: [number, number, number, number[]][] = []; // tag, type (3 SHORT, 4 LONG), count, values
  const extra = bands - 1;
  const ifdOffset = 8;
  const nTags = 11;
  const ifdSize = 2 + nTags * 12 + 4;
  let tail = ifdOffset + ifdSize; // out-of-line values after the IFD
  const bitsOffset = tail;
  tail += bands * 2;
  const extraOffset = tail;
  tail += extra * 2;
  const dataOffset = tail;
  entries.push([256, 4, 1, [width]], [257, 4, 1, [height]], [258, 3, bands, Array(bands).fill(8)], [259, 3, 1, [1]], [262, 3, 1, [1]]);
  entries.push([273, 4, 1, [dataOffset]], [277, 3, 1, [bands]], [278, 4, 1, [height]], [279, 4, 1, [pixels]], [284, 3, 1, [1]]);
  entries.push([338, 3, extra, Array(extra).fill(0)]);
  const buf = new Uint8Array(dataOffset + pixels);
  const dv = new DataView(buf.buffer);
  buf.set([0x49, 0x49, 42, 0]);
  dv.setUint32(4, ifdOffset, true);
  dv.setUint16(ifdOffset, nTags, true);
  entries.forEach(([tag, type, count, values], i) => {
    const o = ifdOffset + 2 + i * 12;
    dv.setUint16(o, tag, true);
    dv.setUint16(o + 2, type, true);
    dv.setUint32(o + 4, count, true);
    const size = (type === 3 ? 2 : 4) * count;
    const at = size <= 4 ? o + 8 : tag === 258 ? bitsOffset : extraOffset;
    if (size > 4) dv.setUint32(o + 8, at, true);
    values.forEach((v, k) => (type === 3 ? dv.setUint16(at + k * 2, v, true) : dv.setUint32(at + k * 4, v, true)));
  });
  dv.setUint32(ifdOffset + 2 + nTags * 12, 0, true);
  for (let i = 0; i < pixels; i++) buf[dataOffset + i] = (i * 37) % 256;
  return buf;
}
