// Straightforward float64 reference implementations of the NN ops, written from their definitions
// (loops over output positions), to check libtorch's kernels and our argument plumbing against.
// Arrays are flat, row-major, with an explicit shape.

export interface Arr { data: number[]; shape: number[] }

const at4 = (s: number[], n: number, c: number, h: number, w: number): number => ((n * s[1] + c) * s[2] + h) * s[3] + w;
type P2 = [number, number];

export function conv2d(x: Arr, w: Arr, b: number[] | null, o: { stride: P2; padding: P2; dilation: P2; groups: number }): Arr {
  const [N, C, H, W] = x.shape, [O, Cg, KH, KW] = w.shape;
  const { stride: [sh, sw], padding: [ph, pw], dilation: [dh, dw], groups: g } = o;
  const OH = Math.floor((H + 2 * ph - dh * (KH - 1) - 1) / sh) + 1;
  const OW = Math.floor((W + 2 * pw - dw * (KW - 1) - 1) / sw) + 1;
  const Og = O / g;
  if (Cg * g !== C) throw new Error('conv2d ref: channel mismatch');
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let oc = 0; oc < O; oc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const grp = Math.floor(oc / Og);
    let s = b ? b[oc] : 0;
    for (let c = 0; c < Cg; c++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const ih = oh * sh - ph + kh * dh, iw = ow * sw - pw + kw * dw;
      if (ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
      s += x.data[at4(x.shape, n, grp * Cg + c, ih, iw)] * w.data[at4(w.shape, oc, c, kh, kw)];
    }
    out.push(s);
  }
  return { data: out, shape: [N, O, OH, OW] };
}

/** Transposed conv as the scatter it is defined by: every input pixel adds weight·x into the output. */
export function convTranspose2d(x: Arr, w: Arr, b: number[] | null,
  o: { stride: P2; padding: P2; outputPadding: P2; dilation: P2; groups: number }): Arr {
  const [N, C, H, W] = x.shape, [Cw, Og, KH, KW] = w.shape;
  const { stride: [sh, sw], padding: [ph, pw], outputPadding: [oph, opw], dilation: [dh, dw], groups: g } = o;
  if (Cw !== C) throw new Error('convTranspose2d ref: channel mismatch');
  const Cg = C / g, O = Og * g;
  const OH = (H - 1) * sh - 2 * ph + dh * (KH - 1) + oph + 1;
  const OW = (W - 1) * sw - 2 * pw + dw * (KW - 1) + opw + 1;
  const shape = [N, O, OH, OW];
  const out = new Array<number>(N * O * OH * OW).fill(0);
  for (let n = 0; n < N; n++) for (let oc = 0; oc < O; oc++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    out[at4(shape, n, oc, oh, ow)] = b ? b[oc] : 0;
  }
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let ih = 0; ih < H; ih++) for (let iw = 0; iw < W; iw++) {
    const grp = Math.floor(c / Cg);
    for (let oc = 0; oc < Og; oc++) for (let kh = 0; kh < KH; kh++) for (let kw = 0; kw < KW; kw++) {
      const oh = ih * sh - ph + kh * dh, ow = iw * sw - pw + kw * dw;
      if (oh < 0 || oh >= OH || ow < 0 || ow >= OW) continue;
      out[at4(shape, n, grp * Og + oc, oh, ow)] += x.data[at4(x.shape, n, c, ih, iw)] * w.data[at4(w.shape, c, oc, kh, kw)];
    }
  }
  return { data: out, shape };
}

function poolOut(size: number, k: number, s: number, p: number, d: number, ceil: boolean): number {
  const span = size + 2 * p - d * (k - 1) - 1;
  let out = (ceil ? Math.ceil(span / s) : Math.floor(span / s)) + 1;
  // PyTorch: with ceil_mode the last window must start inside the input or its left padding
  if (ceil && (out - 1) * s >= size + p) out--;
  return out;
}

export function maxPool2d(x: Arr, k: P2, o: { stride: P2; padding: P2; dilation: P2; ceilMode: boolean }): Arr {
  const [N, C, H, W] = x.shape;
  const OH = poolOut(H, k[0], o.stride[0], o.padding[0], o.dilation[0], o.ceilMode);
  const OW = poolOut(W, k[1], o.stride[1], o.padding[1], o.dilation[1], o.ceilMode);
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let m = -Infinity;
    for (let i = 0; i < k[0]; i++) for (let j = 0; j < k[1]; j++) {
      const ih = oh * o.stride[0] - o.padding[0] + i * o.dilation[0], iw = ow * o.stride[1] - o.padding[1] + j * o.dilation[1];
      if (ih >= 0 && ih < H && iw >= 0 && iw < W) m = Math.max(m, x.data[at4(x.shape, n, c, ih, iw)]);
    }
    out.push(m);
  }
  return { data: out, shape: [N, C, OH, OW] };
}

export function avgPool2d(x: Arr, k: P2, o: { stride: P2; padding: P2; ceilMode: boolean; countIncludePad: boolean; divisorOverride?: number }): Arr {
  const [N, C, H, W] = x.shape;
  const OH = poolOut(H, k[0], o.stride[0], o.padding[0], 1, o.ceilMode);
  const OW = poolOut(W, k[1], o.stride[1], o.padding[1], 1, o.ceilMode);
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    let h0 = oh * o.stride[0] - o.padding[0], w0 = ow * o.stride[1] - o.padding[1];
    let h1 = Math.min(h0 + k[0], H + o.padding[0]), w1 = Math.min(w0 + k[1], W + o.padding[1]);
    const padded = (h1 - h0) * (w1 - w0); // the window clipped to the padded input
    h0 = Math.max(h0, 0); w0 = Math.max(w0, 0); h1 = Math.min(h1, H); w1 = Math.min(w1, W);
    let s = 0;
    for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) s += x.data[at4(x.shape, n, c, i, j)];
    const div = o.divisorOverride ?? (o.countIncludePad ? padded : (h1 - h0) * (w1 - w0));
    out.push(s / div);
  }
  return { data: out, shape: [N, C, OH, OW] };
}

export function adaptiveAvgPool2d(x: Arr, size: P2): Arr {
  const [N, C, H, W] = x.shape, [OH, OW] = size;
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    const h0 = Math.floor(oh * H / OH), h1 = Math.ceil((oh + 1) * H / OH);
    const w0 = Math.floor(ow * W / OW), w1 = Math.ceil((ow + 1) * W / OW);
    let s = 0;
    for (let i = h0; i < h1; i++) for (let j = w0; j < w1; j++) s += x.data[at4(x.shape, n, c, i, j)];
    out.push(s / ((h1 - h0) * (w1 - w0)));
  }
  return { data: out, shape: [N, C, OH, OW] };
}

/**
 * F.interpolate on (N,C,H,W). `scale` is the source/destination ratio the kernel uses per axis: in/out
 * when a size is given, 1/scale_factor when a scale factor is given (PyTorch passes it through).
 */
export function interpolate(x: Arr, size: P2, mode: 'nearest' | 'bilinear' | 'bicubic', alignCorners: boolean, scaleFactor?: P2): Arr {
  const [N, C, H, W] = x.shape, [OH, OW] = size;
  const ratio = (inp: number, out: number, sf: number | undefined): number => {
    if (alignCorners) return out > 1 ? (inp - 1) / (out - 1) : 0;
    return sf !== undefined ? 1 / sf : inp / out;
  };
  const rh = ratio(H, OH, scaleFactor?.[0]), rw = ratio(W, OW, scaleFactor?.[1]);
  const src = (r: number, d: number, cubic: boolean): number => {
    if (alignCorners) return r * d;
    const s = r * (d + 0.5) - 0.5;
    return !cubic && s < 0 ? 0 : s;
  };
  const get = (n: number, c: number, h: number, w: number): number =>
    x.data[at4(x.shape, n, c, Math.min(Math.max(h, 0), H - 1), Math.min(Math.max(w, 0), W - 1))];
  const A = -0.75;
  const cc1 = (t: number): number => ((A + 2) * t - (A + 3)) * t * t + 1;
  const cc2 = (t: number): number => ((A * t - 5 * A) * t + 8 * A) * t - 4 * A;
  const cubicW = (t: number): number[] => [cc2(t + 1), cc1(t), cc1(1 - t), cc2(2 - t)];
  const out: number[] = [];
  for (let n = 0; n < N; n++) for (let c = 0; c < C; c++) for (let oh = 0; oh < OH; oh++) for (let ow = 0; ow < OW; ow++) {
    if (mode === 'nearest') {
      // PyTorch's legacy 'nearest': floor(dst * scale), clamped
      out.push(get(n, c, Math.min(Math.floor(oh * (scaleFactor ? 1 / scaleFactor[0] : H / OH)), H - 1),
        Math.min(Math.floor(ow * (scaleFactor ? 1 / scaleFactor[1] : W / OW)), W - 1)));
    } else if (mode === 'bilinear') {
      const sh = src(rh, oh, false), sw = src(rw, ow, false);
      const h0 = Math.floor(sh), w0 = Math.floor(sw);
      const h1 = Math.min(h0 + 1, H - 1), w1 = Math.min(w0 + 1, W - 1);
      const lh = sh - h0, lw = sw - w0;
      out.push((1 - lh) * ((1 - lw) * get(n, c, h0, w0) + lw * get(n, c, h0, w1)) + lh * ((1 - lw) * get(n, c, h1, w0) + lw * get(n, c, h1, w1)));
    } else {
      const sh = src(rh, oh, true), sw = src(rw, ow, true);
      const h0 = Math.floor(sh), w0 = Math.floor(sw);
      const wh = cubicW(sh - h0), ww = cubicW(sw - w0);
      let s = 0;
      for (let i = 0; i < 4; i++) {
        let row = 0;
        for (let j = 0; j < 4; j++) row += ww[j] * get(n, c, h0 - 1 + i, w0 - 1 + j);
        s += wh[i] * row;
      }
      out.push(s);
    }
  }
  return { data: out, shape: [N, C, OH, OW] };
}

/** Normalise groups of consecutive elements: returns (x - mean) / sqrt(biased var + eps). */
export function normalizeGroups(data: number[], groupSize: number, eps: number): number[] {
  const out: number[] = [];
  for (let g0 = 0; g0 < data.length; g0 += groupSize) {
    const seg = data.slice(g0, g0 + groupSize);
    const m = seg.reduce((a, b) => a + b, 0) / seg.length;
    const v = seg.reduce((a, b) => a + (b - m) ** 2, 0) / seg.length;
    for (const s of seg) out.push((s - m) / Math.sqrt(v + eps));
  }
  return out;
}

export function logSoftmaxRow(row: number[]): number[] {
  const m = Math.max(...row);
  const lse = m + Math.log(row.reduce((a, b) => a + Math.exp(b - m), 0));
  return row.map((v) => v - lse);
}
