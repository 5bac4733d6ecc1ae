// PNG encoding of 8-bit images and the image grids used for "input | masked | reconstruction"
// visualisations. Pure TS over node:zlib; no image dependency.
import { deflateSync } from 'node:zlib';
import { crc32 } from '../../torch/io/crc32.js';

const SIGNATURE = Uint8Array.of(0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a);
const COLOR_TYPE: Record<number, number> = { 1: 0, 2: 4, 3: 2, 4: 6 }; // channels → PNG colour type

/** An 8-bit image in HWC layout (row-major, channels interleaved). */
export interface RgbImage {
  data: Uint8Array;
  height: number;
  width: number;
}

function chunk(type: string, data: Uint8Array): Uint8Array {
  const out = new Uint8Array(12 + data.length);
  const dv = new DataView(out.buffer);
  dv.setUint32(0, data.length);
  for (let i = 0; i < 4; i++) out[4 + i] = type.charCodeAt(i);
  out.set(data, 8);
  // The chunk CRC covers the type and the data, not the length.
  dv.setUint32(8 + data.length, crc32(out.subarray(4, 8 + data.length)));
  return out;
}

function checkDims(height: number, width: number, what: string): void {
  if (!Number.isInteger(height) || !Number.isInteger(width) || height < 1 || width < 1 || height > 0x7fffffff || width > 0x7fffffff) {
    throw new Error(`${what}: height ${height} × width ${width} is not a valid image size; pass positive integers`);
  }
}

/**
 * Encodes an 8-bit HWC image as PNG. `channels`: 3 = RGB (default), 1 = grey, 2 = grey+alpha, 4 = RGBA.
 * Every row uses filter type 0 (none): simpler, and deflate does well enough on our plots and grids.
 */
export function encodePng(data: Uint8Array, height: number, width: number, channels = 3): Uint8Array {
  checkDims(height, width, 'encodePng');
  const colorType = COLOR_TYPE[channels];
  if (colorType === undefined) throw new Error(`encodePng: ${channels} channels is not supported; use 1, 2, 3 or 4`);
  const stride = width * channels;
  if (data.length !== height * stride) {
    throw new Error(`encodePng: got ${data.length} bytes but ${height}×${width}×${channels} needs ${height * stride}; pass HWC uint8 data of that size`);
  }
  const raw = new Uint8Array(height * (stride + 1));
  for (let y = 0; y < height; y++) {
    raw[y * (stride + 1)] = 0; // filter: none
    raw.set(data.subarray(y * stride, (y + 1) * stride), y * (stride + 1) + 1);
  }
  const ihdr = new Uint8Array(13);
  const dv = new DataView(ihdr.buffer);
  dv.setUint32(0, width);
  dv.setUint32(4, height);
  ihdr[8] = 8; // bit depth
  ihdr[9] = colorType;
  ihdr[10] = 0; // compression: deflate
  ihdr[11] = 0; // filter method 0
  ihdr[12] = 0; // no interlace
  const parts = [SIGNATURE, chunk('IHDR', ihdr), chunk('IDAT', deflateSync(raw)), chunk('IEND', new Uint8Array(0))];
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let off = 0;
  for (const p of parts) {
    out.set(p, off);
    off += p.length;
  }
  return out;
}

/** Reads width/height from a PNG's IHDR; throws if the bytes do not start like a PNG. */
export function pngSize(png: Uint8Array): { height: number; width: number } {
  const ok = png.length >= 24 && SIGNATURE.every((b, i) => png[i] === b) && String.fromCharCode(...png.subarray(12, 16)) === 'IHDR';
  if (!ok) throw new Error('pngSize: the bytes are not a PNG (bad signature or no IHDR); pass the output of encodePng');
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  return { width: dv.getUint32(16), height: dv.getUint32(20) };
}

export const IMAGENET_MEAN = [0.485, 0.456, 0.406] as const;
export const IMAGENET_STD = [0.229, 0.224, 0.225] as const;

/**
 * Undoes per-channel normalisation of a CHW float image (x·std + mean) and clamps to [0,1].
 * Defaults are the ImageNet statistics the reference normalises with.
 */
export function denormalize(
  chw: Float32Array,
  mean: readonly number[] = IMAGENET_MEAN,
  std: readonly number[] = IMAGENET_STD,
): Float32Array {
  const c = mean.length;
  if (std.length !== c) throw new Error(`denormalize: mean has ${c} entries but std has ${std.length}; give one of each per channel`);
  if (c === 0 || chw.length % c !== 0) throw new Error(`denormalize: ${chw.length} values do not split into ${c} channels; pass a CHW image with ${c} channels`);
  const hw = chw.length / c;
  const out = new Float32Array(chw.length);
  for (let ch = 0; ch < c; ch++) {
    const m = mean[ch]!;
    const s = std[ch]!;
    for (let i = ch * hw; i < (ch + 1) * hw; i++) out[i] = Math.min(1, Math.max(0, chw[i]! * s + m));
  }
  return out;
}

/** A float image in CHW layout with values in [0,1] (values outside are clamped). 1 or 3 channels. */
export interface GridImage {
  data: Float32Array;
  h: number;
  w: number;
}

/**
 * Tiles CHW float images into one RGB uint8 image: rows × cols cells of the largest image's size,
 * `padding` pixels of `background` around and between cells. Rows may have different lengths.
 * Greyscale (1-channel) images are drawn grey.
 */
export function imageGrid(images: GridImage[][], padding = 2, background: readonly [number, number, number] = [255, 255, 255]): RgbImage {
  if (!Number.isInteger(padding) || padding < 0) throw new Error(`imageGrid: padding ${padding} must be a non-negative integer`);
  const rows = images.length;
  const cols = Math.max(0, ...images.map((r) => r.length));
  if (rows === 0 || cols === 0) throw new Error('imageGrid: no images given; pass at least one row with one image');
  let cellH = 0;
  let cellW = 0;
  images.forEach((row, r) =>
    row.forEach((im, c) => {
      checkDims(im.h, im.w, `imageGrid[${r}][${c}]`);
      const hw = im.h * im.w;
      if (im.data.length !== hw && im.data.length !== 3 * hw) {
        throw new Error(`imageGrid[${r}][${c}]: ${im.data.length} values fit neither 1×${im.h}×${im.w} nor 3×${im.h}×${im.w}; pass a CHW image with 1 or 3 channels`);
      }
      cellH = Math.max(cellH, im.h);
      cellW = Math.max(cellW, im.w);
    }),
  );
  const height = rows * cellH + (rows + 1) * padding;
  const width = cols * cellW + (cols + 1) * padding;
  const data = new Uint8Array(height * width * 3);
  for (let i = 0; i < height * width; i++) data.set(background, i * 3);
  images.forEach((row, r) =>
    row.forEach((im, c) => {
      const hw = im.h * im.w;
      const planes = im.data.length === hw ? [0, 0, 0] : [0, hw, 2 * hw];
      const y0 = padding + r * (cellH + padding);
      const x0 = padding + c * (cellW + padding);
      for (let y = 0; y < im.h; y++) {
        for (let x = 0; x < im.w; x++) {
          const o = ((y0 + y) * width + x0 + x) * 3;
          for (let ch = 0; ch < 3; ch++) {
            const v = im.data[planes[ch]! + y * im.w + x]!;
            // NaN becomes 0 so that a diverged reconstruction shows as black, not as garbage.
            data[o + ch] = v > 0 ? (v < 1 ? Math.round(v * 255) : 255) : 0;
          }
        }
      }
    }),
  );
  return { data, height, width };
}
