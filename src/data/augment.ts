// The reference's pretraining augmentation, as pure math (no image library here):
//   transforms.RandomResizedCrop(input_size, scale=(0.67, 1.0), interpolation=BICUBIC)
//   transforms.RandomHorizontalFlip()
//   transforms.ToTensor()
//   transforms.Normalize(IMAGENET_DEFAULT_MEAN, IMAGENET_DEFAULT_STD)
// Crop-parameter sampling follows torchvision's RandomResizedCrop.get_params line by line, including
// the order of random draws and Python's round-half-to-even.

import type { Rng } from './rng.js';

export const IMAGENET_DEFAULT_MEAN: readonly [number, number, number] = [0.485, 0.456, 0.406];
export const IMAGENET_DEFAULT_STD: readonly [number, number, number] = [0.229, 0.224, 0.225];

/** The reference's pretraining crop scale range (SparK pretrain/utils/imagenet.py). */
export const PRETRAIN_CROP_SCALE: readonly [number, number] = [0.67, 1.0];
/** The reference's fine-tuning crop scale range (timm transforms_imagenet_train default). */
export const FINETUNE_CROP_SCALE: readonly [number, number] = [0.08, 1.0];
/** timm transforms_imagenet_eval crop_pct used by the reference's val transform (downstream_imagenet/data.py). */
export const EVAL_CROP_PCT = 0.95;
/** From this img_size on, the reference switches its fine-tuning augmentation and val geometry (data.py). */
export const LARGE_IMG_SIZE = 384;
/** torchvision's default aspect-ratio range. */
export const DEFAULT_CROP_RATIO: readonly [number, number] = [3 / 4, 4 / 3];

/** A crop box in pixels: rows [top, top+height), columns [left, left+width). */
export interface CropBox {
  top: number;
  left: number;
  height: number;
  width: number;
}

/** Python 3's round(): halves go to the even neighbour. */
export function pyRound(x: number): number {
  const r = Math.round(x);
  return Math.abs(x % 1) === 0.5 && r % 2 !== 0 ? r - 1 : r;
}

/** torchvision.transforms.RandomResizedCrop.get_params for an image of `height`×`width`. */
export function randomResizedCropParams(
  height: number,
  width: number,
  rng: Rng,
  scale: readonly [number, number] = PRETRAIN_CROP_SCALE,
  ratio: readonly [number, number] = DEFAULT_CROP_RATIO,
): CropBox {
  const area = height * width;
  const logRatio0 = Math.log(ratio[0]);
  const logRatio1 = Math.log(ratio[1]);
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = area * rng.uniform(scale[0], scale[1]);
    const aspectRatio = Math.exp(rng.uniform(logRatio0, logRatio1));
    const w = pyRound(Math.sqrt(targetArea * aspectRatio));
    const h = pyRound(Math.sqrt(targetArea / aspectRatio));
    if (w > 0 && w <= width && h > 0 && h <= height) {
      const top = rng.int(0, height - h + 1);
      const left = rng.int(0, width - w + 1);
      return { top, left, height: h, width: w };
    }
  }
  // Fallback to a central crop, clamped to the ratio range
  const inRatio = width / height;
  let w: number, h: number;
  if (inRatio < Math.min(ratio[0], ratio[1])) {
    w = width;
    h = pyRound(w / Math.min(ratio[0], ratio[1]));
  } else if (inRatio > Math.max(ratio[0], ratio[1])) {
    h = height;
    w = pyRound(h * Math.max(ratio[0], ratio[1]));
  } else {
    w = width;
    h = height;
  }
  return { top: Math.floor((height - h) / 2), left: Math.floor((width - w) / 2), height: h, width: w };
}

/** RandomHorizontalFlip(p=0.5): flip when torch.rand(1) < p. Drawn after the crop, as in the Compose order. */
export function sampleFlip(rng: Rng, p = 0.5): boolean {
  return rng.random() < p;
}

/**
 * The evaluation/visualisation geometry: torchvision Resize(size) on the shorter side (the longer side
 * becomes int(size·long/short)), then CenterCrop(size) (offset int(round((dim - size)/2))).
 */
export function resizeShorterThenCenterCrop(
  height: number,
  width: number,
  size: number,
): { resizeHeight: number; resizeWidth: number; crop: CropBox } {
  let rh: number, rw: number;
  if (width <= height) {
    rw = size;
    rh = Math.trunc((size * height) / width);
  } else {
    rh = size;
    rw = Math.trunc((size * width) / height);
  }
  const top = pyRound((rh - size) / 2);
  const left = pyRound((rw - size) / 2);
  return { resizeHeight: rh, resizeWidth: rw, crop: { top, left, height: size, width: size } };
}

/**
 * The reference's val geometry (downstream_imagenet/data.py): below 384 px timm's
 * transforms_imagenet_eval(img_size, crop_pct=0.95): Resize(floor(img_size / 0.95)) on the shorter side,
 * then CenterCrop(img_size); from 384 px on a plain Resize((img_size, img_size)) (aspect not kept, no crop).
 */
export function evalGeometry(
  height: number,
  width: number,
  size: number,
): { resizeHeight: number; resizeWidth: number; crop: CropBox } {
  if (size >= LARGE_IMG_SIZE) return { resizeHeight: size, resizeWidth: size, crop: { top: 0, left: 0, height: size, width: size } };
  const g = resizeShorterThenCenterCrop(height, width, Math.floor(size / EVAL_CROP_PCT));
  const top = pyRound((g.resizeHeight - size) / 2);
  const left = pyRound((g.resizeWidth - size) / 2);
  return { resizeHeight: g.resizeHeight, resizeWidth: g.resizeWidth, crop: { top, left, height: size, width: size } };
}

/** Mirror interleaved RGB bytes (`width`×`height`) left to right, in place. */
export function flipRgbInPlace(rgb: Uint8Array, width: number, height: number): Uint8Array {
  for (let y = 0; y < height; y++) {
    for (let a = y * width, b = a + width - 1; a < b; a++, b--) {
      for (let c = 0; c < 3; c++) {
        const t = rgb[a * 3 + c]!;
        rgb[a * 3 + c] = rgb[b * 3 + c]!;
        rgb[b * 3 + c] = t;
      }
    }
  }
  return rgb;
}

/**
 * ToTensor + Normalize (+ optional horizontal flip): interleaved RGB bytes (HWC, `size`×`size`) to a
 * CHW float32 array. With `normalize` false the values are ToTensor's, in [0, 1].
 */
export function rgbToChw(
  rgb: Uint8Array,
  size: number,
  flip: boolean,
  normalize: boolean,
  out: Float32Array = new Float32Array(3 * size * size),
): Float32Array {
  const plane = size * size;
  if (rgb.length !== plane * 3) throw new Error(`rgbToChw: expected ${plane * 3} bytes, got ${rgb.length}`);
  for (let c = 0; c < 3; c++) {
    // (x/255 - mean)/std = x·a + b, computed in float64 then stored as float32
    const a = normalize ? 1 / (255 * IMAGENET_DEFAULT_STD[c]!) : 1 / 255;
    const b = normalize ? -IMAGENET_DEFAULT_MEAN[c]! / IMAGENET_DEFAULT_STD[c]! : 0;
    const base = c * plane;
    for (let y = 0; y < size; y++) {
      const rowOut = base + y * size;
      const rowIn = y * size;
      if (flip) {
        for (let x = 0; x < size; x++) out[rowOut + x] = rgb[(rowIn + size - 1 - x) * 3 + c]! * a + b;
      } else {
        for (let x = 0; x < size; x++) out[rowOut + x] = rgb[(rowIn + x) * 3 + c]! * a + b;
      }
    }
  }
  return out;
}
