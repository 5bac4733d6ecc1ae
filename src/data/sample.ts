// One training sample: file -> decoded, cropped, resized, flipped, normalised CHW float32.
// Runs inside a decode worker (or on the main thread with workers = 0). Uses sharp (libvips) for
// decoding and bicubic resizing; BMP goes through our own decoder because libvips has no BMP loader.

import * as fs from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { decodeBmp, isBmp } from './bmp.js';
import { randomResizedCropParams, resizeShorterThenCenterCrop, rgbToChw, sampleFlip, type CropBox } from './augment.js';
import { Rng } from './rng.js';

export interface SampleRequest {
  /** The image file (also the name errors give when `bytes` is set). */
  file: string;
  /** The file's contents, when the caller has them already (an upload): then `file` is not read. */
  bytes?: Uint8Array;
  /** Output side S: the sample is 3×S×S. */
  size: number;
  /** true: RandomResizedCrop + RandomHorizontalFlip (pretraining); false: resize shorter side + center crop. */
  augment: boolean;
  /** true: Normalize with the ImageNet mean/std; false: ToTensor values in [0, 1]. */
  normalize: boolean;
  /** This sample's own seed (derived from seed, epoch and position), so any worker gives the same result. */
  seed: number;
}

// The reference decodes with PIL: ICC profiles are not applied and EXIF orientation is not applied, so
// we ask libvips for the same. failOn 'error' rejects truncated/corrupt data (PIL raises on those too)
// while tolerating the harmless warnings that PIL also tolerates.
const INPUT_OPTIONS = { failOn: 'error', ignoreIcc: true, autoOrient: false } as const;

interface Opened {
  width: number;
  height: number;
  /** A fresh sharp pipeline over the decoded input. */
  pipeline(): Sharp;
}

async function openImage(file: string, bytes?: Uint8Array): Promise<Opened> {
  const buf = bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : await fs.readFile(file);
  if (isBmp(buf)) {
    const img = decodeBmp(buf);
    const raw = { width: img.width, height: img.height, channels: 3 as const };
    return { width: img.width, height: img.height, pipeline: () => sharp(img.data, { raw }) };
  }
  const meta = await sharp(buf, INPUT_OPTIONS).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no dimensions');
  return { width: meta.width, height: meta.height, pipeline: () => sharp(buf, INPUT_OPTIONS) };
}

// Whatever the input (grey, grey+alpha, RGBA, CMYK, 16-bit), end with 8-bit 3-channel sRGB like
// PIL's convert('RGB').
async function toRgbBytes(p: Sharp, size: number): Promise<Uint8Array> {
  const { data, info } = await p
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size || data.length !== size * size * 3) {
    throw new Error(`unexpected decoded layout ${info.width}x${info.height}x${info.channels}`);
  }
  return new Uint8Array(data.buffer, data.byteOffset, data.length);
}

/** Decode and transform one image (its file, or its bytes) into a 3×S×S float32 array (CHW). Throws on unreadable files. */
export async function loadSample(req: SampleRequest): Promise<Float32Array> {
  const { file, bytes, size, augment, normalize, seed } = req;
  try {
    const img = await openImage(file, bytes);
    let rgb: Uint8Array;
    let flip = false;
    if (augment) {
      const rng = new Rng(seed);
      const box: CropBox = randomResizedCropParams(img.height, img.width, rng);
      flip = sampleFlip(rng);
      // extract before resize = crop on the source pixels, then bicubic (Catmull-Rom, PIL's a = -0.5) to S×S
      const p = img
        .pipeline()
        .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
        .resize(size, size, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false });
      rgb = await toRgbBytes(p, size);
    } else {
      const g = resizeShorterThenCenterCrop(img.height, img.width, size);
      const p = img
        .pipeline()
        .resize(g.resizeWidth, g.resizeHeight, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false })
        .extract({ left: g.crop.left, top: g.crop.top, width: size, height: size });
      rgb = await toRgbBytes(p, size);
    }
    return rgbToChw(rgb, size, flip, normalize);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.split('\n')[0]!.trim() || 'decode failed');
  }
}
