// A minimal RGB canvas: rectangles, anti-aliased thick polylines and bitmap text. Just enough for plots.
import { ADVANCE, GLYPH_H, GLYPH_W, glyph } from './font.js';
import type { RgbImage } from './png.js';

export type Rgb = readonly [number, number, number];
export interface Rect {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export class Canvas {
  readonly data: Uint8Array;

  constructor(
    readonly width: number,
    readonly height: number,
    background: Rgb = [255, 255, 255],
  ) {
    this.data = new Uint8Array(width * height * 3);
    for (let i = 0; i < width * height; i++) this.data.set(background, i * 3);
  }

  /** Mixes `color` into pixel (x, y) with opacity `alpha` in [0,1]; off-canvas pixels are ignored. */
  blend(x: number, y: number, color: Rgb, alpha = 1): void {
    if (x < 0 || y < 0 || x >= this.width || y >= this.height || alpha <= 0) return;
    const o = (y * this.width + x) * 3;
    const a = Math.min(1, alpha);
    for (let c = 0; c < 3; c++) this.data[o + c] = Math.round(this.data[o + c]! * (1 - a) + color[c]! * a);
  }

  fillRect(x: number, y: number, w: number, h: number, color: Rgb): void {
    for (let yy = Math.max(0, y); yy < Math.min(this.height, y + h); yy++) {
      for (let xx = Math.max(0, x); xx < Math.min(this.width, x + w); xx++) this.blend(xx, yy, color);
    }
  }

  /**
   * Draws connected segments through `pts` (pixel coordinates, continuous: pixel i spans [i, i+1))
   * with the given line width. Coverage is the distance from each pixel centre to the segment, which
   * anti-aliases edges; joints take the max coverage of their segments so they are not drawn twice.
   * A single point draws a dot. Drawing is limited to `clip`.
   */
  polyline(pts: readonly (readonly [number, number])[], lineWidth: number, color: Rgb, clip: Rect): void {
    if (pts.length === 0) return;
    const hw = lineWidth / 2;
    const cx0 = Math.max(0, Math.floor(clip.x0));
    const cy0 = Math.max(0, Math.floor(clip.y0));
    const cx1 = Math.min(this.width, Math.ceil(clip.x1));
    const cy1 = Math.min(this.height, Math.ceil(clip.y1));
    const cw = cx1 - cx0;
    const ch = cy1 - cy0;
    if (cw <= 0 || ch <= 0) return;
    const cover = new Float32Array(cw * ch);
    const seg = (ax: number, ay: number, bx: number, by: number) => {
      const minX = Math.max(cx0, Math.floor(Math.min(ax, bx) - hw - 1));
      const maxX = Math.min(cx1 - 1, Math.ceil(Math.max(ax, bx) + hw + 1));
      const minY = Math.max(cy0, Math.floor(Math.min(ay, by) - hw - 1));
      const maxY = Math.min(cy1 - 1, Math.ceil(Math.max(ay, by) + hw + 1));
      const dx = bx - ax;
      const dy = by - ay;
      const len2 = dx * dx + dy * dy;
      for (let y = minY; y <= maxY; y++) {
        for (let x = minX; x <= maxX; x++) {
          const px = x + 0.5 - ax;
          const py = y + 0.5 - ay;
          const t = len2 > 0 ? Math.max(0, Math.min(1, (px * dx + py * dy) / len2)) : 0;
          const d = Math.hypot(px - t * dx, py - t * dy);
          const c = hw + 0.5 - d;
          if (c <= 0) continue;
          const i = (y - cy0) * cw + (x - cx0);
          if (c > cover[i]!) cover[i] = Math.min(1, c);
        }
      }
    };
    if (pts.length === 1) seg(pts[0]![0], pts[0]![1], pts[0]![0], pts[0]![1]);
    for (let k = 1; k < pts.length; k++) seg(pts[k - 1]![0], pts[k - 1]![1], pts[k]![0], pts[k]![1]);
    for (let y = 0; y < ch; y++) for (let x = 0; x < cw; x++) this.blend(cx0 + x, cy0 + y, color, cover[y * cw + x]!);
  }

  /** Bitmap text with its top-left corner at (x, y), each font pixel drawn as scale×scale. */
  text(str: string, x: number, y: number, scale: number, color: Rgb): void {
    [...str].forEach((ch, i) => {
      const g = glyph(ch);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          if (g[gy * GLYPH_W + gx]) this.fillRect(x + (i * ADVANCE + gx) * scale, y + gy * scale, scale, scale, color);
        }
      }
    });
  }

  /**
   * Text turned 90° counter-clockwise (reads bottom to top, as a y-axis label): (x, y) is the
   * bottom-left corner of the turned text, i.e. where its first character starts.
   */
  textUp(str: string, x: number, y: number, scale: number, color: Rgb): void {
    [...str].forEach((ch, i) => {
      const g = glyph(ch);
      for (let gy = 0; gy < GLYPH_H; gy++) {
        for (let gx = 0; gx < GLYPH_W; gx++) {
          const u = i * ADVANCE + gx; // along the text
          if (g[gy * GLYPH_W + gx]) this.fillRect(x + gy * scale, y - (u + 1) * scale, scale, scale, color);
        }
      }
    });
  }

  toImage(): RgbImage {
    return { data: this.data, height: this.height, width: this.width };
  }
}
