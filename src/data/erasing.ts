// timm 0.5.4's RandomErasing (timm/data/random_erasing.py), applied per image after ToTensor + Normalize
// as the reference's fine-tuning transform does (re_prob 0.25, re_mode 'pixel', re_count 1): with
// probability p, one rectangle of 2%–33% of the area and aspect ratio 0.3–3.3 (log-uniform), placed
// uniformly, is replaced by noise. Draws follow timm's order: the probability test, then up to 10
// attempts of (area, log-aspect), then top and left, then the fill.

import { pyRound } from './augment.js';
import type { Rng } from './rng.js';

export interface ErasingOptions {
  probability: number;
  /** 'pixel': per-pixel N(0,1) noise; 'rand': one N(0,1) value per channel; 'const': zeros. */
  mode: 'pixel' | 'rand' | 'const';
  minArea?: number;
  maxArea?: number;
  minAspect?: number;
}

/** The reference's fine-tuning RandomErasing: RandomErasing(0.25, mode='pixel', max_count=1). */
export const FINETUNE_ERASING: ErasingOptions = { probability: 0.25, mode: 'pixel' };

/** Erase in place one rectangle of a CHW float image (`channels`×`height`×`width`); returns whether it did. */
export function randomErasing(img: Float32Array, channels: number, height: number, width: number, rng: Rng, o: ErasingOptions): boolean {
  if (rng.random() > o.probability) return false;
  const minArea = o.minArea ?? 0.02;
  const maxArea = o.maxArea ?? 1 / 3;
  const minAspect = o.minAspect ?? 0.3;
  const logAspect = [Math.log(minAspect), Math.log(1 / minAspect)] as const;
  const area = height * width;
  for (let attempt = 0; attempt < 10; attempt++) {
    const targetArea = rng.uniform(minArea, maxArea) * area; // count is 1: no division
    const aspect = Math.exp(rng.uniform(logAspect[0], logAspect[1]));
    const h = pyRound(Math.sqrt(targetArea * aspect));
    const w = pyRound(Math.sqrt(targetArea / aspect));
    if (w < width && h < height) {
      const top = rng.int(0, height - h + 1); // random.randint(0, img_h - h), inclusive
      const left = rng.int(0, width - w + 1);
      // timm draws a (C, h, w) tensor (pixel) or a (C, 1, 1) one (rand), channel-major
      for (let c = 0; c < channels; c++) {
        const colour = o.mode === 'rand' ? rng.normal() : 0;
        for (let y = top; y < top + h; y++) {
          const row = (c * height + y) * width;
          for (let x = left; x < left + w; x++) img[row + x] = o.mode === 'pixel' ? rng.normal() : colour;
        }
      }
      return true;
    }
  }
  return false;
}
