// Line charts as SVG, drawn by hand (no library): nice ticks, one polyline per series, and a point
// (circle) per value while there are few enough to see, each carrying its x and y as data attributes
// and a tooltip. Also: turning log records into series, generically (every numeric key is a series).

const SVG = 'http://www.w3.org/2000/svg';
const COLORS = ['#1f6feb', '#d1242f', '#1a7f37', '#9a6700', '#8250df', '#bf3989', '#0969da', '#57606a'];
const MAX_POINTS_DRAWN = 400;

/**
 * Chart groups in display order: the keys a log line may carry (pretrain: last_L, min_L, lr, wd,
 * grad_norm, data_wait_pct; fine-tune: loss, acc, eval top1 of the model and its EMA …). Keys matching
 * no group get a chart of their own, after these.
 */
export const GROUPS = [
  { id: 'loss', title: 'loss', match: (k) => /(^|_)(loss|L)(_|$)/i.test(k) },
  { id: 'acc', title: 'accuracy', match: (k) => /acc|top1|top5/i.test(k) },
  { id: 'lr', title: 'learning rate', match: (k) => /(^|_)lr$/i.test(k) },
  { id: 'wd', title: 'weight decay', match: (k) => /(^|_)wd$/i.test(k) },
  { id: 'grad_norm', title: 'grad norm', match: (k) => /grad_?norm/i.test(k) },
  { id: 'data_wait_pct', title: 'data wait (% of the epoch)', match: (k) => /data_wait/i.test(k) },
];

/** keys that are the x axis, not series */
const X_KEYS = new Set(['cur_ep', 'ep', 'epoch', 'iter', 'it', 'step']);

/** The x of a record: epochs done ("3/60" → 3), else its epoch or iteration field, else its line number. */
export function xOf(rec, index) {
  if (typeof rec.cur_ep === 'string') { const m = /^(\d+)/.exec(rec.cur_ep); if (m) return { x: Number(m[1]), label: 'epoch' }; }
  for (const k of ['ep', 'epoch']) if (typeof rec[k] === 'number') return { x: rec[k], label: 'epoch' };
  for (const k of ['iter', 'it', 'step']) if (typeof rec[k] === 'number') return { x: rec[k], label: 'iteration' };
  return { x: index + 1, label: 'log line' };
}

/** records → [{id, title, xlabel, series: [{key, points: [[x, y]…]}]}] */
export function chartsFromRecords(records) {
  const byKey = new Map();
  let xlabel = 'log line';
  records.forEach((rec, i) => {
    const { x, label } = xOf(rec, i);
    xlabel = label;
    for (const [k, v] of Object.entries(rec)) {
      if (X_KEYS.has(k) || typeof v !== 'number' || !Number.isFinite(v)) continue;
      if (!byKey.has(k)) byKey.set(k, []);
      byKey.get(k).push([x, v]);
    }
  });
  const charts = GROUPS.map((g) => ({ id: g.id, title: g.title, xlabel, series: [] }));
  const own = [];
  for (const [key, points] of byKey) {
    const gi = GROUPS.findIndex((g) => g.match(key));
    if (gi >= 0) charts[gi].series.push({ key, points });
    else own.push({ id: key, title: key, xlabel, series: [{ key, points }] });
  }
  own.sort((a, b) => a.id.localeCompare(b.id));
  return [...charts.filter((c) => c.series.length), ...own];
}

/** Round steps (1, 2, 5 × 10^k) covering [lo, hi] with about n ticks. */
export function niceTicks(lo, hi, n = 5) {
  if (!(hi > lo)) { const d = Math.abs(lo) * 0.1 || 1; lo -= d; hi += d; }
  const raw = (hi - lo) / n;
  const mag = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * mag).find((s) => s >= raw);
  const start = Math.floor(lo / step) * step;
  const ticks = [];
  for (let t = start; t <= hi + step * 1e-9; t += step) ticks.push(Number(t.toPrecision(12)));
  if (ticks[ticks.length - 1] < hi) ticks.push(Number((ticks[ticks.length - 1] + step).toPrecision(12)));
  return ticks;
}

export function formatNumber(v) {
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a >= 1e4 || a < 1e-3) return v.toExponential(1).replace('e+', 'e');
  return String(Number(v.toPrecision(4)));
}

function el(name, attrs = {}, text) {
  const e = document.createElementNS(SVG, name);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  if (text !== undefined) e.textContent = text;
  return e;
}

/** Draw one chart into a new <div class="chart"> and return it. */
export function renderChart(chart) {
  const W = 360, H = 210, L = 52, R = 10, T = 22, B = 30;
  const box = document.createElement('div');
  box.className = 'chart';
  const svg = el('svg', { viewBox: `0 0 ${W} ${H}`, 'data-chart': chart.id, role: 'img', 'aria-label': chart.title });
  box.append(svg);
  const all = chart.series.flatMap((s) => s.points);
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const xt = niceTicks(Math.min(...xs), Math.max(...xs));
  const yt = niceTicks(Math.min(...ys), Math.max(...ys));
  const x0 = xt[0], x1 = xt[xt.length - 1], y0 = yt[0], y1 = yt[yt.length - 1];
  const sx = (x) => L + ((x - x0) / (x1 - x0)) * (W - L - R);
  const sy = (y) => H - B - ((y - y0) / (y1 - y0)) * (H - T - B);
  for (const t of yt) {
    svg.append(el('line', { class: 'grid', x1: L, x2: W - R, y1: sy(t), y2: sy(t) }));
    svg.append(el('text', { x: L - 4, y: sy(t) + 3, 'text-anchor': 'end' }, formatNumber(t)));
  }
  for (const t of xt) svg.append(el('text', { x: sx(t), y: H - B + 12, 'text-anchor': 'middle' }, formatNumber(t)));
  svg.append(el('line', { class: 'axis', x1: L, x2: L, y1: T, y2: H - B }));
  svg.append(el('line', { class: 'axis', x1: L, x2: W - R, y1: H - B, y2: H - B }));
  svg.append(el('text', { x: (L + W - R) / 2, y: H - 4, 'text-anchor': 'middle' }, chart.xlabel));
  const last = chart.series.map((s) => `${s.key} ${formatNumber(s.points[s.points.length - 1][1])}`).join(' · ');
  svg.append(el('text', { class: 'title', x: L, y: 14 }, chart.title));
  svg.append(el('text', { x: W - R, y: 14, 'text-anchor': 'end' }, last));
  chart.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const g = el('g', { 'data-series': s.key });
    g.append(el('polyline', { class: 'line', stroke: color, points: s.points.map(([x, y]) => `${sx(x).toFixed(2)},${sy(y).toFixed(2)}`).join(' ') }));
    if (s.points.length <= MAX_POINTS_DRAWN) {
      for (const [x, y] of s.points) {
        const c = el('circle', { class: 'pt', cx: sx(x).toFixed(2), cy: sy(y).toFixed(2), r: 2.2, fill: color, 'data-key': s.key, 'data-x': x, 'data-y': y });
        c.append(el('title', {}, `${chart.xlabel} ${x}: ${s.key} = ${y}`));
        g.append(c);
      }
    }
    svg.append(g);
    if (chart.series.length > 1) {
      const lx = W - R - 70, ly = T + 8 + i * 12;
      const leg = el('g', { class: 'legend' });
      leg.append(el('line', { x1: lx, x2: lx + 12, y1: ly, y2: ly, stroke: color, 'stroke-width': 2 }));
      leg.append(el('text', { x: lx + 16, y: ly + 3 }, s.key));
      svg.append(leg);
    }
  });
  return box;
}
