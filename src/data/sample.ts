// One sample: file -> decoded, cropped, resized, augmented, normalised CHW float32.
// Runs inside a decode worker (or on the main thread with workers = 0). Uses sharp (libvips) for
// decoding and bicubic resizing; BMP goes through our own decoder because libvips has no BMP loader.

import * as fs from 'node:fs/promises';
import sharp, { type Sharp } from 'sharp';
import { decodeBmp, isBmp } from './bmp.js';
import {
  FINETUNE_CROP_SCALE,
  LARGE_IMG_SIZE,
  evalGeometry,
  flipRgbInPlace,
  randomResizedCropParams,
  resizeShorterThenCenterCrop,
  rgbToChw,
  sampleFlip,
  type CropBox,
} from './augment.js';
import { FINETUNE_ERASING, randomErasing } from './erasing.js';
import { Rng } from './rng.js';
import { cropRgb, resizeBicubic } from './resample.js';
import { trivialAugmentWide, type RgbBytes } from './trivialaugment.js';

/**
 * What is done to a decoded image:
 *  - 'pretrain': SparK pretraining, RandomResizedCrop(S, scale 0.67–1, bicubic) + RandomHorizontalFlip;
 *  - 'center': resize the shorter side to S + centre crop (visualisation, reconstruction);
 *  - 'finetune': the reference's fine-tuning train transform (downstream_imagenet/data.py, timm
 *    create_transform): RandomResizedCrop(S, scale 0.08–1, ratio 3/4–4/3, bicubic), RandomHorizontalFlip,
 *    TrivialAugmentWide (below 384 px), ToTensor, Normalize, RandomErasing(0.25, 'pixel');
 *  - 'eval': the reference's val transform (evalGeometry in augment.ts).
 */
export type SampleTransform = 'pretrain' | 'center' | 'finetune' | 'eval';

export interface SampleRequest {
  file: string;
  /** Output side S: the sample is 3×S×S. */
  size: number;
  transform: SampleTransform;
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

async function openImage(file: string): Promise<Opened> {
  const buf = await fs.readFile(file);
  if (isBmp(buf)) {
    const img = decodeBmp(buf);
    const raw = { width: img.width, height: img.height, channels: 3 as const };
    return { width: img.width, height: img.height, pipeline: () => sharp(img.data, { raw }) };
  }
  const meta = await sharp(buf, INPUT_OPTIONS).metadata();
  if (!meta.width || !meta.height) throw new Error('image has no dimensions');
  // The reference's loader, PIL's convert('RGB'), takes grey (1), grey+alpha (2), RGB (3) and RGBA or CMYK
  // (4) images and makes them RGB (grey replicated, alpha dropped); we do the same. Anything else (e.g. a
  // multi-band TIFF) has no RGB meaning.
  if (!meta.channels || meta.channels > 4) {
    throw new Error(
      `image has ${meta.channels ?? 'no'} channels; expected 1 (grey), 2 (grey+alpha), 3 (RGB) or 4 (RGBA/CMYK) (convert it to an RGB or greyscale JPEG/PNG)`,
    );
  }
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

// The whole image as 8-bit RGB, like PIL's convert('RGB') (for the fine-tuning transforms, which resize
// with Pillow's exact algorithm, resample.ts).
async function decodeRgb(img: Opened): Promise<RgbBytes> {
  const { data, info } = await img
    .pipeline()
    .removeAlpha()
    .toColourspace('srgb')
    .raw({ depth: 'uchar' })
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || data.length !== info.width * info.height * 3) {
    throw new Error(`unexpected decoded layout ${info.width}x${info.height}x${info.channels}`);
  }
  return { width: info.width, height: info.height, data: new Uint8Array(data.buffer, data.byteOffset, data.length) };
}

// RandomResizedCrop's resize: extract before resize = crop on the source pixels, then bicubic
// (Catmull-Rom, PIL's a = -0.5) to S×S.
async function cropResize(img: Opened, box: CropBox, size: number): Promise<Uint8Array> {
  const p = img
    .pipeline()
    .extract({ left: box.left, top: box.top, width: box.width, height: box.height })
    .resize(size, size, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false });
  return toRgbBytes(p, size);
}

// Resize the whole image to resizeWidth×resizeHeight (bicubic), then take the crop box.
async function resizeCrop(img: Opened, g: { resizeHeight: number; resizeWidth: number; crop: CropBox }, size: number): Promise<Uint8Array> {
  let p = img.pipeline();
  // torchvision's Resize returns the image untouched when it already has the requested size
  if (g.resizeWidth !== img.width || g.resizeHeight !== img.height) {
    p = p.resize(g.resizeWidth, g.resizeHeight, { kernel: 'cubic', fit: 'fill', fastShrinkOnLoad: false });
  }
  p = p.extract({ left: g.crop.left, top: g.crop.top, width: size, height: size });
  return toRgbBytes(p, size);
}

async function transformImage(img: Opened, req: SampleRequest): Promise<Float32Array> {
  const { size, normalize, seed } = req;
  switch (req.transform) {
    case 'pretrain': {
      const rng = new Rng(seed);
      const box = randomResizedCropParams(img.height, img.width, rng);
      const flip = sampleFlip(rng);
      return rgbToChw(await cropResize(img, box, size), size, flip, normalize);
    }
    case 'center':
      return rgbToChw(await resizeCrop(img, resizeShorterThenCenterCrop(img.height, img.width, size), size), size, false, normalize);
    case 'eval': {
      const g = evalGeometry(img.height, img.width, size);
      const resized = resizeBicubic(await decodeRgb(img), g.resizeWidth, g.resizeHeight);
      return rgbToChw(cropRgb(resized, g.crop).data, size, false, normalize);
    }
    case 'finetune': {
      if (size >= LARGE_IMG_SIZE) {
        throw new Error(`fine-tuning augmentation at img_size ${size} >= ${LARGE_IMG_SIZE} (timm AutoAugment 'v0' in the reference) is not implemented; use an img_size below ${LARGE_IMG_SIZE}`);
      }
      // the draws in the reference's Compose order: crop, flip, TrivialAugmentWide, erasing
      const rng = new Rng(seed);
      const box = randomResizedCropParams(img.height, img.width, rng, FINETUNE_CROP_SCALE);
      const flip = sampleFlip(rng);
      let rgb = resizeBicubic(cropRgb(await decodeRgb(img), box), size, size).data;
      if (flip) flipRgbInPlace(rgb, size, size);
      rgb = trivialAugmentWide({ width: size, height: size, data: rgb }, rng);
      const out = rgbToChw(rgb, size, false, normalize);
      randomErasing(out, 3, size, size, rng, FINETUNE_ERASING);
      return out;
    }
  }
}

/** Decode and transform one image file into a 3×S×S float32 array (CHW). Throws on unreadable files. */
export async function loadSample(req: SampleRequest): Promise<Float32Array> {
  try {
    return await transformImage(await openImage(req.file), req);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    throw new Error(msg.split('\n')[0]!.trim() || 'decode failed');
  }
}
