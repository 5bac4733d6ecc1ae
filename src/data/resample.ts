// Pillow's bicubic resize (Image.resize(size, BICUBIC), Pillow 9.4 libImaging/Resample.c) on 8-bit RGB,
// reproduced exactly: the reference's fine-tuning transforms (RandomResizedCrop, Resize) run on PIL images.
//
// Why not libvips (sharp): measured on the real photos of test/fixtures/ft_data (val transform at
// img_size 64, see test/data/ft_transforms.test.ts), sharp's resize with its Catmull-Rom kernel is within
// 1–5 grey levels of Pillow when shrinking (mean |diff| ≈ 0.2: libvips rounds its fixed-point kernel
// differently and extends edges instead of renormalising the truncated kernel), but when enlarging
// (an image smaller than the target, 48 → 67 px) it samples on another pixel grid: mean |diff| 8.9, up to
// 91 levels (sharp's affine with a half-pixel centre offset gets that case to mean 0.37, max 12). The
// kernels 'lanczos3' and 'mitchell' are further off (mean ≈ 1, max 9–23). Pillow's algorithm is simple
// and separable, so we run it directly: bytes equal to Pillow's (test/data/ft_transforms.test.ts).
// The cost (bench/ft_resize.bench.ts): decode + resize + crop of a 500×375 JPEG to 224 takes ≈ 4.7× as
// long as sharp's resize on a busy 2-core machine; at the small sizes of the transfer experiment the
// decode dominates.
//
// The algorithm: for each output column, the bicubic kernel (a = -0.5) stretched by the scale when
// shrinking (antialiasing), centred at (x + 0.5)·scale, cut to the image and renormalised to sum 1,
// quantised to 22-bit fixed point; horizontal pass first into an 8-bit intermediate (only the rows the
// vertical pass needs), then the vertical pass, each with rounding and clipping to 0..255.

import type { CropBox } from './augment.js';
import type { RgbBytes } from './trivialaugment.js';

const PRECISION_BITS = 32 - 8 - 2;
const HALF = 1 << (PRECISION_BITS - 1);
const ONE = 1 << PRECISION_BITS;

function bicubic(x: number): number {
  const a = -0.5;
  if (x < 0) x = -x;
  if (x < 1) return ((a + 2) * x - (a + 3)) * x * x + 1;
  if (x < 2) return (((x - 5) * x + 8) * x - 4) * a;
  return 0;
}

interface Coeffs {
  ksize: number;
  /** Per output position: first input index and the number of taps. */
  bounds: Int32Array;
  /** Per output position: ksize fixed-point weights. */
  kk: Int32Array;
}

// precompute_coeffs + normalize_coeffs_8bpc of Resample.c
function coefficients(inSize: number, outSize: number): Coeffs {
  const scale = inSize / outSize;
  const filterscale = Math.max(scale, 1);
  const support = 2 * filterscale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const kk = new Int32Array(outSize * ksize);
  const w = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterscale;
    const xmin = Math.max(0, Math.trunc(center - support + 0.5));
    const xmax = Math.min(inSize, Math.trunc(center + support + 0.5)) - xmin;
    let ww = 0;
    for (let x = 0; x < xmax; x++) {
      w[x] = bicubic((x + xmin - center + 0.5) * ss);
      ww += w[x]!;
    }
    for (let x = 0; x < xmax; x++) {
      const k = ww !== 0 ? w[x]! / ww : w[x]!;
      kk[xx * ksize + x] = k < 0 ? Math.trunc(-0.5 + k * ONE) : Math.trunc(0.5 + k * ONE);
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, kk };
}

// clip8 of Resample.c: the accumulator shifted down, clamped to 0..255 (arithmetic shift, as C's >> on int)
function clip8(ss: number): number {
  const v = ss >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
}

/** Copy a crop box out of an RGB image (Image.crop inside the image). */
export function cropRgb(img: RgbBytes, box: CropBox): RgbBytes {
  const { top, left, width, height } = box;
  if (top < 0 || left < 0 || top + height > img.height || left + width > img.width || width < 1 || height < 1) {
    throw new Error(`cropRgb: box ${JSON.stringify(box)} is not inside the ${img.width}x${img.height} image`);
  }
  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const s = ((top + y) * img.width + left) * 3;
    out.set(img.data.subarray(s, s + width * 3), y * width * 3);
  }
  return { width, height, data: out };
}

/** Image.resize((outWidth, outHeight), BICUBIC) of Pillow 9.4 on RGB bytes. Same size: a copy. */
export function resizeBicubic(img: RgbBytes, outWidth: number, outHeight: number): RgbBytes {
  const { width: W, height: H, data } = img;
  if (outWidth === W && outHeight === H) return { width: W, height: H, data: data.slice() };
  const needH = outWidth !== W;
  const needV = outHeight !== H;
  const ch = coefficients(W, outWidth);
  const cv = coefficients(H, outHeight);
  // rows of the source that the vertical pass reads
  const yFirst = cv.bounds[0]!;
  const yLast = cv.bounds[outHeight * 2 - 2]! + cv.bounds[outHeight * 2 - 1]!;

  let src = data;
  let srcW = W;
  let rowOffset = 0; // row of `src` that source row yFirst is at
  if (needH) {
    const rows = needV ? yLast - yFirst : H;
    const y0 = needV ? yFirst : 0;
    const tmp = new Uint8Array(outWidth * rows * 3);
    const { bounds, kk, ksize } = ch;
    for (let y = 0; y < rows; y++) {
      const inRow = (y + y0) * W * 3;
      let o = y * outWidth * 3;
      for (let xx = 0; xx < outWidth; xx++, o += 3) {
        const xmin = bounds[xx * 2]!;
        const xmax = bounds[xx * 2 + 1]!;
        const k = xx * ksize;
        let s0 = HALF;
        let s1 = HALF;
        let s2 = HALF;
        let p = inRow + xmin * 3;
        for (let x = 0; x < xmax; x++, p += 3) {
          const w = kk[k + x]!;
          s0 += data[p]! * w;
          s1 += data[p + 1]! * w;
          s2 += data[p + 2]! * w;
        }
        tmp[o] = clip8(s0);
        tmp[o + 1] = clip8(s1);
        tmp[o + 2] = clip8(s2);
      }
    }
    if (!needV) return { width: outWidth, height: H, data: tmp };
    src = tmp;
    srcW = outWidth;
    rowOffset = yFirst;
  }
  // vertical pass, row by row: each output row is a weighted sum of whole source rows
  const out = new Uint8Array(outWidth * outHeight * 3);
  const rowLen = srcW * 3;
  const acc = new Int32Array(rowLen); // Pillow accumulates in a C int too
  const { bounds, kk, ksize } = cv;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]! - rowOffset;
    const ymax = bounds[yy * 2 + 1]!;
    const k = yy * ksize;
    acc.fill(HALF);
    for (let y = 0; y < ymax; y++) {
      const w = kk[k + y]!;
      const base = (y + ymin) * rowLen;
      for (let i = 0; i < rowLen; i++) acc[i] += src[base + i]! * w;
    }
    const o = yy * rowLen;
    for (let i = 0; i < rowLen; i++) out[o + i] = clip8(acc[i]!);
  }
  return { width: outWidth, height: outHeight, data: out };
}
