import { test } from 'node:test';
import assert from 'node:assert/strict';
import { formatTick, lossCurvePng, niceStep, niceTicks, renderLossCurve } from '../../../src/train/monitor/plot.js';
import { Canvas } from '../../../src/train/monitor/raster.js';
import { decodePng } from './pngdecode.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const BLUE = [31, 119, 180];

test('nice ticks: 1/2/5 × 10^k steps, integer multiples inside the range', () => {
  assert.equal(niceStep(0, 1, 5), 0.2);
  assert.deepEqual(niceTicks(0, 1, 5).map((v) => formatTick(v, 0.2)), ['0', '0.2', '0.4', '0.6', '0.8', '1.0']);
  assert.deepEqual(niceTicks(-3, 17, 4), [0, 5, 10, 15]);
  assert.deepEqual(niceTicks(-0.5, 20500, 6), [0, 5000, 10000, 15000, 20000]);
  const small = niceTicks(0.00012, 0.00031, 4);
  assert.deepEqual(small.map((v) => formatTick(v, 5e-5)), ['1.5e-4', '2e-4', '2.5e-4', '3e-4']);
  assert.deepEqual(niceTicks(0, 3e6, 3).map((v) => formatTick(v, 1e6)), ['0', '1e6', '2e6', '3e6']);
  assert.equal(formatTick(0.30000000000000004, 0.1), '0.3');
});

test('Canvas.text draws the font glyph pixel for pixel', () => {
  const c = new Canvas(10, 20, [255, 255, 255]);
  c.text('1', 0, 0, 2, [0, 0, 0]);
  // The '1' glyph, each font pixel 2×2.
  const glyph1 = ['..#..', '.##..', '..#..', '..#..', '..#..', '..#..', '.###.', '.....', '.....'];
  for (let y = 0; y < 18; y++) {
    const row = Array.from({ length: 10 }, (_, x) => (c.data[(y * 10 + x) * 3] === 0 ? '#' : '.')).join('');
    assert.equal(row, [...glyph1[y >> 1]!].map((ch) => ch + ch).join(''), `row ${y}`);
  }
});

test('lossCurvePng: valid PNG of the requested size with white margins', () => {
  const pts = Array.from({ length: 200 }, (_, i) => ({ x: i, y: Math.exp(-i / 50) }));
  const d = decodePng(lossCurvePng(pts, { title: 'loss', xlabel: 'iteration', ylabel: 'loss', width: 640, height: 400 }));
  assert.deepEqual(d.chunkTypes, ['IHDR', 'IDAT', 'IEND']);
  assert.equal(d.width, 640);
  assert.equal(d.height, 400);
  assert.equal(d.channels, 3);
  assert.equal(d.rawLength, 400 * (640 * 3 + 1));
  for (const [x, y] of [[0, 0], [639, 0], [0, 399], [639, 399]]) {
    assert.deepEqual(Array.from(d.pixels.subarray((y! * 640 + x!) * 3, (y! * 640 + x!) * 3 + 3)), [255, 255, 255]);
  }
});

test('renderLossCurve: data points land on line-coloured pixels; NaN breaks the line', () => {
  const pts = [{ x: 0, y: 1 }, { x: 10, y: 3 }, { x: 20, y: NaN }, { x: 30, y: 2 }, { x: 40, y: 0 }];
  const r = renderLossCurve(pts, { title: 'T', xlabel: 'x', ylabel: 'y' });
  const { image, area, xRange, yRange } = r;
  const pixel = (x: number, y: number) => Array.from(image.data.subarray((y * image.width + x) * 3, (y * image.width + x) * 3 + 3));
  const toPx = (x: number, y: number): [number, number] => [
    Math.floor(area.x0 + ((x - xRange[0]) / (xRange[1] - xRange[0])) * (area.x1 - area.x0)),
    Math.floor(area.y1 - ((y - yRange[0]) / (yRange[1] - yRange[0])) * (area.y1 - area.y0)),
  ];
  for (const p of pts.filter((p) => Number.isFinite(p.y))) assert.deepEqual(pixel(...toPx(p.x, p.y)), BLUE, `point ${p.x},${p.y}`);
  // Midway along a drawn segment: blue. Midway across the NaN gap (10,3)→(30,2): not blue.
  assert.deepEqual(pixel(...toPx(35, 1)), BLUE);
  assert.notDeepEqual(pixel(...toPx(20, 2.5)), BLUE);
  // The y range pads the data by 5% each way; x ticks are nice numbers inside the x range.
  assert.ok(Math.abs(yRange[0] - -0.15) < 1e-12 && Math.abs(yRange[1] - 3.15) < 1e-12);
  assert.deepEqual(r.xTicks, [0, 5, 10, 15, 20, 25, 30, 35, 40]);
  // Text was drawn: dark pixels above the plot (title) and left of the tick labels (y label).
  const dark = (x0: number, y0: number, x1: number, y1: number) => {
    let n = 0;
    for (let y = y0; y < y1; y++) for (let x = x0; x < x1; x++) if (pixel(x, y)[0]! < 100) n++;
    return n;
  };
  assert.ok(dark(0, 0, image.width, area.y0 - 2) > 0, 'title ink');
  assert.ok(dark(0, area.y0, 30, area.y1) > 0, 'y label ink');
  const untitled = renderLossCurve(pts, {});
  assert.equal(
    (() => { let n = 0; for (let y = 0; y < untitled.area.y0 - 2; y++) for (let x = 0; x < 800; x++) if (untitled.image.data[(y * 800 + x) * 3]! < 100) n++; return n; })(),
    0,
    'no title, no ink above the plot',
  );
});

test('renderLossCurve: empty and constant series render; bad sizes are rejected', () => {
  const empty = renderLossCurve([]);
  assert.ok(!hasColor(empty.image.data, BLUE));
  const flat = renderLossCurve([{ x: 5, y: 2 }]);
  assert.ok(flat.yRange[0] < 2 && flat.yRange[1] > 2 && flat.xRange[0] < 5 && flat.xRange[1] > 5);
  assert.ok(hasColor(flat.image.data, BLUE));
  assert.throws(() => lossCurvePng([], { width: 100, height: 100 }), /too small/);
});

function hasColor(data: Uint8Array, c: number[]): boolean {
  for (let i = 0; i < data.length; i += 3) if (data[i] === c[0] && data[i + 1] === c[1] && data[i + 2] === c[2]) return true;
  return false;
}
