// TrivialAugmentWide, as the reference applies it: torchvision 0.14's
// `TrivialAugmentWide(interpolation=BICUBIC)` on a PIL RGB image (SparK downstream_imagenet/data.py
// swaps it in for timm's AutoAugment when img_size < 384). One op drawn uniformly from 14, one of 31
// magnitude bins, a random sign for the signed ops. Each op is computed here the way Pillow 9.4 computes
// it on 8-bit RGB (ImageEnhance blends in float32 then truncation, ImageOps look-up tables, the generic
// affine transform with Pillow's a = -1 bicubic, transposes for 90°/270° rotations of a square image), so
// that an op gives Pillow's bytes; test/data/trivialaugment.test.ts checks each op against Pillow output.
//
// Images are interleaved RGB bytes (HWC), `width`×`height`, row-major, top row first.

import type { Rng } from './rng.js';

export interface RgbBytes {
  width: number;
  height: number;
  data: Uint8Array;
}

export const TAW_OPS = [
  'Identity',
  'ShearX',
  'ShearY',
  'TranslateX',
  'TranslateY',
  'Rotate',
  'Brightness',
  'Color',
  'Contrast',
  'Sharpness',
  'Posterize',
  'Solarize',
  'AutoContrast',
  'Equalize',
] as const;
export type TawOp = (typeof TAW_OPS)[number];

const NUM_BINS = 31;

// torch.linspace(0.0, 0.99, 31) as float32, exactly as torch 1.13 returns it on x86-64 (the last bit of a
// few entries depends on its vectorised CPU kernel, so the values are copied rather than recomputed;
// test/data/trivialaugment.test.ts checks them against the fixture). They are the ShearX/Y magnitudes
// and the Brightness/Color/Contrast/Sharpness factors − 1, where the last bit can flip a truncated byte.
const LINSPACE_0_099 = [
  0.0, 0.032999999821186066, 0.06599999964237213, 0.0989999994635582, 0.13199999928474426, 0.16499999165534973,
  0.1979999989271164, 0.23100000619888306, 0.2639999985694885, 0.296999990940094, 0.32999998331069946,
  0.3630000054836273, 0.3959999978542328, 0.42899999022483826, 0.4620000123977661, 0.4950000047683716,
  0.527999997138977, 0.5609999895095825, 0.593999981880188, 0.6270000338554382, 0.6600000262260437,
  0.6930000185966492, 0.7260000109672546, 0.7590000033378601, 0.7919999957084656, 0.824999988079071,
  0.8580000400543213, 0.8910000324249268, 0.9240000247955322, 0.9570000171661377, 0.9900000095367432,
];

/** torch.linspace(start, end, 31) where every entry is exact in float32 or only its integer part is used. */
function linspace31(start: number, end: number): number[] {
  return Array.from({ length: NUM_BINS }, (_, i) => Math.fround(start + ((end - start) * i) / (NUM_BINS - 1)));
}

// (magnitudes, signed) per op: torchvision's TrivialAugmentWide._augmentation_space(31)
export function tawMagnitudes(op: TawOp): { values: number[] | null; signed: boolean } {
  switch (op) {
    case 'ShearX':
    case 'ShearY':
    case 'Brightness':
    case 'Color':
    case 'Contrast':
    case 'Sharpness':
      return { values: LINSPACE_0_099, signed: true };
    case 'TranslateX':
    case 'TranslateY':
      return { values: linspace31(0, 32), signed: true }; // used as int(magnitude)
    case 'Rotate':
      return { values: linspace31(0, 135), signed: true }; // multiples of 4.5: exact
    case 'Posterize': {
      // 8 - (arange(31) / ((31 - 1) / 6)).round().int(); k/5 never lands on a half, so Math.round is torch's round
      const v: number[] = [];
      for (let k = 0; k < NUM_BINS; k++) v.push(8 - Math.round(Math.fround(k / 5)));
      return { values: v, signed: false };
    }
    case 'Solarize':
      return { values: linspace31(255, 0), signed: false }; // 255 - 8.5 k: exact
    default:
      return { values: null, signed: false }; // Identity, AutoContrast, Equalize: a 0-d tensor, magnitude 0
  }
}

export interface TawChoice {
  op: TawOp;
  magnitude: number;
}

/** TrivialAugmentWide.forward's draws: op index, magnitude bin (when the op has bins), sign (when signed). */
export function sampleTrivialAugment(rng: Rng): TawChoice {
  const op = TAW_OPS[rng.int(0, TAW_OPS.length)]!;
  const m = tawMagnitudes(op);
  let magnitude = m.values ? m.values[rng.int(0, m.values.length)]! : 0;
  if (m.signed && rng.int(0, 2) === 1) magnitude = -magnitude;
  return { op, magnitude };
}

// ---- Pillow building blocks ----

/** Image.blend(im1, im2, alpha) for 8-bit bands: float32 arithmetic, truncation, clipping. */
function blend(im1: Uint8Array, im2: Uint8Array, alphaIn: number): Uint8Array {
  const alpha = Math.fround(alphaIn); // ImagingBlend takes a C float
  if (alpha === 0) return im1.slice();
  if (alpha === 1) return im2.slice();
  const out = new Uint8Array(im1.length);
  for (let i = 0; i < im1.length; i++) {
    const a = im1[i]!;
    const t = Math.fround(a + Math.fround(alpha * (im2[i]! - a)));
    out[i] = t <= 0 ? 0 : t >= 255 ? 255 : Math.trunc(t);
  }
  return out;
}

/** convert('L') of RGB: ITU-R 601-2 luma in 16-bit fixed point, rounded. */
function luma(img: RgbBytes): Uint8Array {
  const n = img.width * img.height;
  const L = new Uint8Array(n);
  const d = img.data;
  for (let i = 0; i < n; i++) L[i] = (d[i * 3]! * 19595 + d[i * 3 + 1]! * 38470 + d[i * 3 + 2]! * 7471 + 0x8000) >>> 16;
  return L;
}

function greyToRgb(L: Uint8Array): Uint8Array {
  const out = new Uint8Array(L.length * 3);
  for (let i = 0; i < L.length; i++) out.fill(L[i]!, i * 3, i * 3 + 3);
  return out;
}

function applyLut(img: RgbBytes, lut: (c: number) => Uint8Array): Uint8Array {
  const out = new Uint8Array(img.data.length);
  const luts = [lut(0), lut(1), lut(2)];
  for (let i = 0; i < out.length; i++) out[i] = luts[i % 3]![img.data[i]!]!;
  return out;
}

function histograms(img: RgbBytes): Int32Array[] {
  const h = [new Int32Array(256), new Int32Array(256), new Int32Array(256)];
  for (let i = 0; i < img.data.length; i++) h[i % 3]![img.data[i]!]!++;
  return h;
}

/** ImageOps.autocontrast(image) with cutoff 0: stretch each band's [min, max] to [0, 255]. */
function autocontrast(img: RgbBytes): Uint8Array {
  const hs = histograms(img);
  return applyLut(img, (c) => {
    const h = hs[c]!;
    let lo = 0;
    while (lo < 255 && !h[lo]) lo++;
    let hi = 255;
    while (hi > 0 && !h[hi]) hi--;
    const lut = new Uint8Array(256);
    if (hi <= lo) {
      for (let i = 0; i < 256; i++) lut[i] = i;
    } else {
      const scale = 255.0 / (hi - lo);
      const offset = -lo * scale;
      for (let i = 0; i < 256; i++) lut[i] = Math.min(255, Math.max(0, Math.trunc(i * scale + offset)));
    }
    return lut;
  });
}

/** ImageOps.equalize(image): per-band histogram equalisation with Pillow's step rule. */
function equalize(img: RgbBytes): Uint8Array {
  const hs = histograms(img);
  return applyLut(img, (c) => {
    const h = hs[c]!;
    const lut = new Uint8Array(256);
    const nonzero = [...h].filter((v) => v > 0);
    const step = nonzero.length <= 1 ? 0 : Math.floor((nonzero.reduce((s, v) => s + v, 0) - nonzero[nonzero.length - 1]!) / 255);
    if (step === 0) {
      for (let i = 0; i < 256; i++) lut[i] = i;
    } else {
      let n = Math.floor(step / 2);
      for (let i = 0; i < 256; i++) {
        lut[i] = Math.min(255, Math.floor(n / step)); // image.point clips the table to 8 bits
        n += h[i]!;
      }
    }
    return lut;
  });
}

/** ImageFilter.SMOOTH (3×3 kernel 1 1 1 / 1 5 1 / 1 1 1, divided by 13), float32, border pixels kept. */
function smooth(img: RgbBytes): Uint8Array {
  const { width: W, height: H, data: d } = img;
  const out = d.slice();
  const f = Math.fround;
  const k1 = f(1 / 13);
  const k5 = f(5 / 13);
  // KERNEL1x3 of Pillow's Filter.c, summed in float32 in its order (row below, row, row above)
  const row = (y: number, x: number, c: number, kc: number): number =>
    f(f(f(d[(y * W + x - 1) * 3 + c]! * k1) + f(d[(y * W + x) * 3 + c]! * kc)) + f(d[(y * W + x + 1) * 3 + c]! * k1));
  for (let y = 1; y < H - 1; y++) {
    for (let x = 1; x < W - 1; x++) {
      for (let c = 0; c < 3; c++) {
        let ss = 0;
        ss = f(ss + row(y + 1, x, c, k1));
        ss = f(ss + row(y, x, c, k5));
        ss = f(ss + row(y - 1, x, c, k1));
        out[(y * W + x) * 3 + c] = ss <= 0 ? 0 : ss >= 255 ? 255 : Math.trunc(ss + 0.5);
      }
    }
  }
  return out;
}

// One cubic of Pillow's Geometry.c BICUBIC macro (the a = -1 Keys cubic).
function cubic(v1: number, v2: number, v3: number, v4: number, d: number): number {
  const p1 = v2;
  const p2 = -v1 + v3;
  const p3 = 2 * (v1 - v2) + v3 - v4;
  const p4 = -v1 + v2 - v3 + v4;
  return p1 + d * (p2 + d * (p3 + d * p4));
}

/**
 * Image.transform(size, AFFINE, matrix, BICUBIC) on RGB: output pixel (x, y) samples the input at
 * (a·(x+½) + b·(y+½) + c, d·(x+½) + e·(y+½) + f) with Pillow's bicubic filter (edge rows/columns
 * repeated); samples outside the input are black.
 */
export function affineBicubic(img: RgbBytes, m: readonly number[]): Uint8Array {
  const { width: W, height: H, data: src } = img;
  const out = new Uint8Array(W * H * 3);
  const clipX = (x: number): number => (x < 0 ? 0 : x >= W ? W - 1 : x);
  const clipY = (y: number): number => (y < 0 ? 0 : y >= H ? H - 1 : y);
  const [a0, a1, a2, a3, a4, a5] = m as [number, number, number, number, number, number];
  for (let y = 0; y < H; y++) {
    for (let x = 0; x < W; x++) {
      const xx = x + 0.5;
      const yy = y + 0.5;
      let xin = a0 * xx + a1 * yy + a2;
      let yin = a3 * xx + a4 * yy + a5;
      if (xin < 0 || xin >= W || yin < 0 || yin >= H) continue; // stays black
      xin -= 0.5;
      yin -= 0.5;
      let ix = Math.floor(xin);
      let iy = Math.floor(yin);
      const dx = xin - ix;
      const dy = yin - iy;
      ix--;
      iy--;
      const xs = [clipX(ix), clipX(ix + 1), clipX(ix + 2), clipX(ix + 3)];
      const ys = [clipY(iy), clipY(iy + 1), clipY(iy + 2), clipY(iy + 3)];
      for (let c = 0; c < 3; c++) {
        const r = ys.map((yr) => {
          const b = yr * W;
          return cubic(src[(b + xs[0]!) * 3 + c]!, src[(b + xs[1]!) * 3 + c]!, src[(b + xs[2]!) * 3 + c]!, src[(b + xs[3]!) * 3 + c]!, dx);
        });
        const v = cubic(r[0]!, r[1]!, r[2]!, r[3]!, dy);
        out[(y * W + x) * 3 + c] = v <= 0 ? 0 : v >= 255 ? 255 : Math.trunc(v);
      }
    }
  }
  return out;
}

const degrees = (rad: number): number => rad * (180 / Math.PI);
const radians = (deg: number): number => deg * (Math.PI / 180);

/** torchvision.transforms.functional._get_inverse_affine_matrix (angle and shear in degrees). */
export function inverseAffineMatrix(
  center: [number, number],
  angle: number,
  translate: [number, number],
  scale: number,
  shear: [number, number],
): number[] {
  const rot = radians(angle);
  const sx = radians(shear[0]);
  const sy = radians(shear[1]);
  const [cx, cy] = center;
  const [tx, ty] = translate;
  const a = Math.cos(rot - sy) / Math.cos(sy);
  const b = (-Math.cos(rot - sy) * Math.tan(sx)) / Math.cos(sy) - Math.sin(rot);
  const c = Math.sin(rot - sy) / Math.cos(sy);
  const d = (-Math.sin(rot - sy) * Math.tan(sx)) / Math.cos(sy) + Math.cos(rot);
  const m = [d, -b, 0.0, -c, a, 0.0].map((x) => x / scale);
  m[2] = m[2]! + m[0]! * (-cx - tx) + m[1]! * (-cy - ty);
  m[5] = m[5]! + m[3]! * (-cx - tx) + m[4]! * (-cy - ty);
  m[2] = m[2]! + cx;
  m[5] = m[5]! + cy;
  return m;
}

// Python's round(x, 15), which Image.rotate applies to its cos/sin.
const round15 = (x: number): number => Number(x.toFixed(15));

/** Image.rotate(angle, BICUBIC) about the centre, same size, black corners (Pillow 9.4). */
export function rotate(img: RgbBytes, angleDeg: number): Uint8Array {
  const angle = ((angleDeg % 360) + 360) % 360; // Python's %: result has the divisor's sign
  const { width: W, height: H, data } = img;
  if (angle === 0) return data.slice();
  if (angle === 180 || ((angle === 90 || angle === 270) && W === H)) {
    // Pillow transposes instead of resampling: exact pixel moves
    const out = new Uint8Array(data.length);
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        // source pixel of output (x, y)
        const [sx, sy] = angle === 180 ? [W - 1 - x, H - 1 - y] : angle === 90 ? [W - 1 - y, x] : [y, H - 1 - x];
        out.set(data.subarray((sy * W + sx) * 3, (sy * W + sx) * 3 + 3), (y * W + x) * 3);
      }
    }
    return out;
  }
  const r = -radians(angle);
  const m = [round15(Math.cos(r)), round15(Math.sin(r)), 0.0, round15(-Math.sin(r)), round15(Math.cos(r)), 0.0];
  const [cx, cy] = [W / 2.0, H / 2.0];
  m[2] = m[0]! * -cx + m[1]! * -cy + m[2]!;
  m[5] = m[3]! * -cx + m[4]! * -cy + m[5]!;
  m[2] = m[2]! + cx;
  m[5] = m[5]! + cy;
  return affineBicubic(img, m);
}

/** torchvision's _apply_op for a PIL RGB image with BICUBIC interpolation and fill None (black). */
export function applyTrivialAugmentOp(img: RgbBytes, op: TawOp, magnitude: number): Uint8Array {
  const { width: W, height: H } = img;
  switch (op) {
    case 'Identity':
      return img.data.slice();
    case 'ShearX':
      return affineBicubic(img, inverseAffineMatrix([0, 0], 0, [0, 0], 1, [degrees(Math.atan(magnitude)), 0]));
    case 'ShearY':
      return affineBicubic(img, inverseAffineMatrix([0, 0], 0, [0, 0], 1, [0, degrees(Math.atan(magnitude))]));
    case 'TranslateX':
      return affineBicubic(img, inverseAffineMatrix([W * 0.5, H * 0.5], 0, [Math.trunc(magnitude), 0], 1, [0, 0]));
    case 'TranslateY':
      return affineBicubic(img, inverseAffineMatrix([W * 0.5, H * 0.5], 0, [0, Math.trunc(magnitude)], 1, [0, 0]));
    case 'Rotate':
      return rotate(img, magnitude);
    case 'Brightness':
      return blend(new Uint8Array(img.data.length), img.data, 1 + magnitude);
    case 'Color':
      return blend(greyToRgb(luma(img)), img.data, 1 + magnitude);
    case 'Contrast': {
      const L = luma(img);
      let sum = 0;
      for (const v of L) sum += v;
      const mean = Math.trunc(sum / L.length + 0.5);
      return blend(new Uint8Array(img.data.length).fill(mean), img.data, 1 + magnitude);
    }
    case 'Sharpness':
      return blend(smooth(img), img.data, 1 + magnitude);
    case 'Posterize': {
      const mask = ~((1 << (8 - Math.trunc(magnitude))) - 1) & 0xff;
      return applyLut(img, () => Uint8Array.from({ length: 256 }, (_, i) => i & mask));
    }
    case 'Solarize':
      return applyLut(img, () => Uint8Array.from({ length: 256 }, (_, i) => (i < magnitude ? i : 255 - i)));
    case 'AutoContrast':
      return autocontrast(img);
    case 'Equalize':
      return equalize(img);
  }
}

/** One TrivialAugmentWide application: draws the op and magnitude from `rng`, returns the new bytes. */
export function trivialAugmentWide(img: RgbBytes, rng: Rng): Uint8Array {
  const { op, magnitude } = sampleTrivialAugment(rng);
  return applyTrivialAugmentOp(img, op, magnitude);
}
