// Loss curves as PNG: a line chart with frame, grid, numbered ticks, axis labels and title, rendered
// into an RGB buffer with our own rasteriser and bitmap font (no canvas/SVG dependency).
import { GLYPH_H, textWidth } from './font.js';
import { encodePng, type RgbImage } from './png.js';
import { Canvas, type Rect, type Rgb } from './raster.js';

export interface PlotPoint {
  x: number;
  y: number;
}

export interface PlotOptions {
  title?: string;
  xlabel?: string;
  ylabel?: string;
  width?: number;
  height?: number;
  /** Line colour (default matplotlib's first colour). */
  color?: Rgb;
}

export interface RenderedPlot {
  image: RgbImage;
  /** Inner plot area in pixels; data (xRange[0], yRange[0]) maps to (x0, y1). */
  area: Rect;
  xRange: [number, number];
  yRange: [number, number];
  xTicks: number[];
  yTicks: number[];
}

const INK: Rgb = [30, 30, 30];
const FRAME: Rgb = [70, 70, 70];
const GRID: Rgb = [228, 228, 228];
const BLUE: Rgb = [31, 119, 180];
const TICK_LEN = 5;
/** Up to this many points, each one also gets a dot (per-epoch curves are short). */
const MAX_MARKED_POINTS = 60;

/** Step of 1, 2 or 5 × 10^k giving about `target` intervals over [lo, hi]. */
export function niceStep(lo: number, hi: number, target: number): number {
  const raw = (hi - lo) / Math.max(1, target);
  const e = Math.floor(Math.log10(raw));
  const f = raw / 10 ** e;
  const nice = f < 1.5 ? 1 : f < 3 ? 2 : f < 7 ? 5 : 10;
  return nice * 10 ** e;
}

/** Multiples of niceStep(lo, hi, target) inside [lo, hi]. */
export function niceTicks(lo: number, hi: number, target: number): number[] {
  const step = niceStep(lo, hi, target);
  const out: number[] = [];
  // Integer multiples (not repeated addition) keep float error from accumulating.
  for (let k = Math.ceil(lo / step - 1e-9); k * step <= hi + step * 1e-9; k++) out.push(k * step + 0); // + 0 turns -0 into 0
  return out;
}

/** Tick label: just enough decimals for the step; scientific when ticks are tiny or huge. */
export function formatTick(v: number, step: number): string {
  if (Math.abs(v) < step * 1e-6) return '0';
  const stepExp = Math.floor(Math.log10(step) + 1e-9);
  const vExp = Math.floor(Math.log10(Math.abs(v)) + 1e-9);
  if (stepExp < -3 || Math.abs(v) >= 1e6) {
    // "1.0e-4" → "1e-4": trailing zeros of the mantissa carry no information.
    return v.toExponential(Math.max(0, vExp - stepExp)).replace(/\.?0+e/, 'e').replace('e+', 'e');
  }
  return v.toFixed(Math.max(0, -stepExp));
}

function paddedRange(values: number[], frac: number): [number, number] {
  let lo = Math.min(...values);
  let hi = Math.max(...values);
  if (hi === lo) {
    const half = Math.abs(lo) * 0.1 || 1;
    return [lo - half, hi + half];
  }
  const pad = (hi - lo) * frac;
  lo -= pad;
  hi += pad;
  return [lo, hi];
}

/** Renders the chart; exposes the layout so that callers (and tests) can map data to pixels. */
export function renderLossCurve(points: readonly PlotPoint[], opts: PlotOptions = {}): RenderedPlot {
  const W = opts.width ?? 800;
  const H = opts.height ?? 500;
  if (!Number.isInteger(W) || !Number.isInteger(H) || W < 200 || H < 150) {
    throw new Error(`lossCurvePng: ${W}×${H} is too small or not whole pixels; use at least 200×150`);
  }
  const finite = points.filter((p) => Number.isFinite(p.x) && Number.isFinite(p.y));
  const s = W >= 600 && H >= 380 ? 2 : 1; // text scale
  const ts = s + 1; // title scale
  const lineH = GLYPH_H * s;

  const xRange: [number, number] = finite.length ? paddedRange(finite.map((p) => p.x), 0.02) : [0, 1];
  const yRange: [number, number] = finite.length ? paddedRange(finite.map((p) => p.y), 0.05) : [0, 1];

  const top = opts.title ? 12 + GLYPH_H * ts + 8 : 14;
  const bottom = TICK_LEN + 6 + lineH + (opts.xlabel ? 8 + lineH : 0) + 10;
  const yTicks = niceTicks(yRange[0], yRange[1], Math.max(2, Math.round((H - top - bottom) / 70)));
  const yStep = niceStep(yRange[0], yRange[1], Math.max(2, Math.round((H - top - bottom) / 70)));
  const yLabels = yTicks.map((v) => formatTick(v, yStep));
  const left = 10 + (opts.ylabel ? lineH + 10 : 0) + Math.max(0, ...yLabels.map((l) => textWidth(l, s))) + 6 + TICK_LEN;
  const xTarget = Math.max(2, Math.round((W - left - 30) / 110));
  const xTicks = niceTicks(xRange[0], xRange[1], xTarget);
  const xStep = niceStep(xRange[0], xRange[1], xTarget);
  const xLabels = xTicks.map((v) => formatTick(v, xStep));
  const right = Math.max(20, Math.ceil(textWidth(xLabels[xLabels.length - 1] ?? '', s) / 2) + 6);
  const area: Rect = { x0: left, y0: top, x1: W - right, y1: H - bottom };
  if (area.x1 - area.x0 < 20 || area.y1 - area.y0 < 20) {
    throw new Error(`lossCurvePng: ${W}×${H} leaves no room for the plot after labels; make the image larger`);
  }

  const px = (x: number) => area.x0 + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (area.x1 - area.x0);
  const py = (y: number) => area.y1 - ((y - yRange[0]) / (yRange[1] - yRange[0])) * (area.y1 - area.y0);

  const c = new Canvas(W, H);
  // Grid, then data, then frame and ticks on top.
  xTicks.forEach((v) => c.fillRect(Math.floor(px(v)), area.y0, 1, area.y1 - area.y0, GRID));
  yTicks.forEach((v) => c.fillRect(area.x0, Math.floor(py(v)), area.x1 - area.x0, 1, GRID));

  const color = opts.color ?? BLUE;
  const lineW = 1 + s * 0.5;
  // Non-finite values (a diverged loss) break the line instead of being dropped silently.
  let run: [number, number][] = [];
  const flush = () => {
    if (run.length) c.polyline(run, lineW, color, area);
    run = [];
  };
  for (const p of points) {
    if (Number.isFinite(p.x) && Number.isFinite(p.y)) run.push([px(p.x), py(p.y)]);
    else flush();
  }
  flush();
  if (finite.length <= MAX_MARKED_POINTS) finite.forEach((p) => c.polyline([[px(p.x), py(p.y)]], lineW + 2 * s, color, area));

  c.fillRect(area.x0 - 1, area.y0 - 1, area.x1 - area.x0 + 2, 1, FRAME);
  c.fillRect(area.x0 - 1, area.y1, area.x1 - area.x0 + 2, 1, FRAME);
  c.fillRect(area.x0 - 1, area.y0 - 1, 1, area.y1 - area.y0 + 2, FRAME);
  c.fillRect(area.x1, area.y0 - 1, 1, area.y1 - area.y0 + 2, FRAME);
  xTicks.forEach((v, i) => {
    const x = Math.floor(px(v));
    c.fillRect(x, area.y1 + 1, 1, TICK_LEN, FRAME);
    c.text(xLabels[i]!, Math.round(x - textWidth(xLabels[i]!, s) / 2), area.y1 + 1 + TICK_LEN + 5, s, INK);
  });
  yTicks.forEach((v, i) => {
    const y = Math.floor(py(v));
    c.fillRect(area.x0 - 1 - TICK_LEN, y, TICK_LEN, 1, FRAME);
    // Centre the digits' cap height (7 font rows) on the tick.
    c.text(yLabels[i]!, area.x0 - 1 - TICK_LEN - 5 - textWidth(yLabels[i]!, s), y - Math.floor((7 * s) / 2), s, INK);
  });

  if (opts.title) c.text(opts.title, Math.round((W - textWidth(opts.title, ts)) / 2), 12, ts, INK);
  if (opts.xlabel) {
    c.text(opts.xlabel, Math.round((area.x0 + area.x1 - textWidth(opts.xlabel, s)) / 2), area.y1 + 1 + TICK_LEN + 5 + lineH + 8, s, INK);
  }
  if (opts.ylabel) {
    c.textUp(opts.ylabel, 10, Math.round((area.y0 + area.y1 + textWidth(opts.ylabel, s)) / 2), s, INK);
  }
  return { image: c.toImage(), area, xRange, yRange, xTicks, yTicks };
}

/** A loss curve (or any y-over-x series) as PNG bytes. */
export function lossCurvePng(points: readonly PlotPoint[], opts: PlotOptions = {}): Uint8Array {
  const { image } = renderLossCurve(points, opts);
  return encodePng(image.data, image.height, image.width);
}
