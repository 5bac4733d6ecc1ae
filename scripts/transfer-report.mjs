#!/usr/bin/env node
// Writes the transfer experiment's report from the files scripts/transfer-experiment.sh leaves in its
// output folder: docs/transfer.md (the table of test top-1 per label budget and init as mean ± std over
// seeds, per-seed values, paired differences, wall times, commands, machine) and docs/transfer.png
// (top-1 vs labels per class, pretrained vs scratch, error bars = ± one standard deviation).
//
//   node scripts/transfer-report.mjs [--out exp/transfer] [--doc docs/transfer.md] [--png docs/transfer.png]
//
// Runs whose test.json is missing (not finished) are left out and counted in the report.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const dist = path.join(repo, 'dist', 'src', 'train', 'monitor');
if (!fs.existsSync(path.join(dist, 'raster.js'))) {
  console.error('transfer-report: the TypeScript build is missing: run `npm run build:ts` first');
  process.exit(1);
}
const { Canvas } = await import(path.join(dist, 'raster.js'));
const { textWidth, GLYPH_H } = await import(path.join(dist, 'font.js'));
const { encodePng } = await import(path.join(dist, 'png.js'));
const { writeFileAtomic } = await import(path.join(repo, 'dist', 'src', 'torch', 'io', 'atomic.js'));

const opts = { out: 'exp/transfer', doc: 'docs/transfer.md', png: 'docs/transfer.png' };
const argv = process.argv.slice(2);
for (let i = 0; i < argv.length; i++) {
  const m = /^--(out|doc|png)(?:=(.*))?$/.exec(argv[i]);
  if (!m) { console.error(`transfer-report: unknown argument ${argv[i]} (use --out DIR --doc FILE --png FILE)`); process.exit(2); }
  opts[m[1]] = m[2] ?? argv[++i];
}
const OUT = path.resolve(repo, opts.out);
if (!fs.existsSync(path.join(OUT, 'times.tsv'))) {
  console.error(`transfer-report: ${OUT}/times.tsv not found; run scripts/transfer-experiment.sh first`);
  process.exit(1);
}

// --- read the experiment's files -------------------------------------------------------------------
const times = new Map();
for (const line of fs.readFileSync(path.join(OUT, 'times.tsv'), 'utf8').split('\n')) {
  const [name, sec, cmd] = line.split('\t');
  if (name) times.set(name, { sec: Number(sec), cmd });
}
const machine = Object.fromEntries(fs.readFileSync(path.join(OUT, 'machine.txt'), 'utf8').split('\n').filter(Boolean)
  .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]));
const readLog = (name) => { const f = path.join(OUT, 'logs', `${name}.log`); return fs.existsSync(f) ? fs.readFileSync(f, 'utf8').replace(/\r/g, '\n') : ''; };

const ptLog = readLog('pretrain');
const ptHead = /\[pretrain\] (\S+) SparK: ([\d.]+)M params; (\d+) images, (\d+) iters\/epoch × (\d+) epochs; lr ([\d.e+-]+)/.exec(ptLog);
const ptDone = /\[pretrain\] finished: (\d+) iterations, loss ([\d.]+) → ([\d.]+) \(min ([\d.]+)\)/.exec(ptLog);

const runs = [];
const runsDir = path.join(OUT, 'runs');
for (const d of fs.existsSync(runsDir) ? fs.readdirSync(runsDir).sort() : []) {
  const m = /^k(\d+)_s(\d+)_(scratch|pretrained)$/.exec(d);
  if (!m) continue;
  const [, k, s, init] = m;
  const testFile = path.join(runsDir, d, 'test.json');
  const ftName = `ft_k${k}_s${s}_${init}`;
  const ftLog = readLog(ftName);
  const steps = /(\d+) iters\/epoch × (\d+) epochs/.exec(ftLog);
  const r = { k: Number(k), seed: Number(s), init, done: fs.existsSync(testFile), ftSec: times.get(ftName)?.sec, evalSec: times.get(`eval_k${k}_s${s}_${init}`)?.sec,
    steps: steps ? Number(steps[1]) * Number(steps[2]) : undefined, ftCmd: times.get(ftName)?.cmd, evalCmd: times.get(`eval_k${k}_s${s}_${init}`)?.cmd };
  if (r.done) { const j = JSON.parse(fs.readFileSync(testFile, 'utf8')); r.top1 = j.top1; r.top5 = j.top5; r.count = j.count; }
  runs.push(r);
}
const done = runs.filter((r) => r.done);
if (!done.length) { console.error(`transfer-report: no finished run in ${runsDir}`); process.exit(1); }

const mean = (a) => a.reduce((x, y) => x + y, 0) / a.length;
const std = (a) => (a.length > 1 ? Math.sqrt(a.reduce((x, y) => x + (y - mean(a)) ** 2, 0) / (a.length - 1)) : NaN);
const fmt = (x, d = 2) => (Number.isFinite(x) ? x.toFixed(d) : 'n/a');
const budgets = [...new Set(done.map((r) => r.k))].sort((a, b) => a - b);
const INITS = ['scratch', 'pretrained'];
const cell = (k, init) => done.filter((r) => r.k === k && r.init === init).sort((a, b) => a.seed - b.seed);

// --- the plot --------------------------------------------------------------------------------------
function plot() {
  const W = 800, H = 500, s = 2, lineH = GLYPH_H * s;
  const INK = [30, 30, 30], GRID = [225, 225, 225], FRAME = [90, 90, 90];
  const COLORS = { scratch: [214, 39, 40], pretrained: [31, 119, 180] };
  const vals = done.map((r) => r.top1);
  const sds = budgets.flatMap((k) => INITS.map((i) => std(cell(k, i).map((r) => r.top1)))).filter(Number.isFinite);
  const pad = Math.max(2, ...sds);
  let lo = Math.floor((Math.min(...vals) - pad) / 5) * 5, hi = Math.ceil((Math.max(...vals) + pad) / 5) * 5;
  if (hi - lo < 10) hi = lo + 10;
  const area = { x0: 90, y0: 60, x1: W - 30, y1: H - 80 };
  const c = new Canvas(W, H);
  const py = (y) => area.y1 - ((y - lo) / (hi - lo)) * (area.y1 - area.y0);
  // budgets on a log axis: equally spaced categories (10, 100, ...)
  const px = (i) => area.x0 + ((i + 0.5) / budgets.length) * (area.x1 - area.x0);
  const step = (hi - lo) <= 20 ? 2 : 5;
  for (let y = lo; y <= hi + 1e-9; y += step) {
    c.fillRect(area.x0, Math.floor(py(y)), area.x1 - area.x0, 1, GRID);
    const l = String(y);
    c.text(l, area.x0 - 10 - textWidth(l, s), Math.floor(py(y)) - 7, s, INK);
  }
  budgets.forEach((k, i) => {
    const l = String(k);
    c.text(l, Math.round(px(i) - textWidth(l, s) / 2), area.y1 + 10, s, INK);
  });
  INITS.forEach((init, j) => {
    const col = COLORS[init];
    const off = (j - 0.5) * 14;    // side by side so that the error bars do not overlap
    const pts = [];
    budgets.forEach((k, i) => {
      const v = cell(k, init).map((r) => r.top1);
      if (!v.length) return;
      const x = px(i) + off, m = mean(v), sd = std(v);
      pts.push([x, py(m)]);
      if (Number.isFinite(sd)) {
        c.polyline([[x, py(m - sd)], [x, py(m + sd)]], 2, col, area);
        c.polyline([[x - 6, py(m - sd)], [x + 6, py(m - sd)]], 2, col, area);
        c.polyline([[x - 6, py(m + sd)], [x + 6, py(m + sd)]], 2, col, area);
      }
      for (const t of v) c.fillRect(Math.round(x + 10) - 2, Math.round(py(t)) - 2, 4, 4, col);   // each seed
      c.fillRect(Math.round(x) - 5, Math.round(py(m)) - 5, 10, 10, col);
    });
    if (pts.length > 1) c.polyline(pts, 2, col, area);
    const lx = area.x0 + 15, ly = area.y0 + 12 + j * (lineH + 8);
    c.fillRect(lx, ly + 3, 12, 12, col);
    c.text(init === 'scratch' ? 'random init (scratch)' : 'SparK-pretrained', lx + 20, ly, s, INK);
  });
  c.fillRect(area.x0 - 1, area.y0 - 1, area.x1 - area.x0 + 2, 1, FRAME);
  c.fillRect(area.x0 - 1, area.y1, area.x1 - area.x0 + 2, 1, FRAME);
  c.fillRect(area.x0 - 1, area.y0 - 1, 1, area.y1 - area.y0 + 2, FRAME);
  c.fillRect(area.x1, area.y0 - 1, 1, area.y1 - area.y0 + 2, FRAME);
  const title = 'Fashion-MNIST test top-1, resnet8 (mean +- std over seeds)';
  c.text(title, Math.round((W - textWidth(title, s)) / 2), 18, s, INK);
  const xl = 'labelled training images per class';
  c.text(xl, Math.round((area.x0 + area.x1 - textWidth(xl, s)) / 2), area.y1 + 20 + lineH, s, INK);
  c.textUp('top-1 (%)', 14, Math.round((area.y0 + area.y1 + textWidth('top-1 (%)', s)) / 2), s, INK);
  const img = c.toImage();
  return encodePng(img.data, img.height, img.width);
}

// --- the document ----------------------------------------------------------------------------------
const min = (sec) => (Number.isFinite(sec) ? `${(sec / 60).toFixed(1)} min` : 'n/a');
const rel = (p) => path.relative(repo, p) || '.';
const seeds = [...new Set(runs.map((r) => r.seed))].sort((a, b) => a - b);
const expected = runs.length;
const lines = [];
const L = (s = '') => lines.push(s);

L('# Transfer experiment: SparK pretraining with few labels (Fashion-MNIST, resnet8)');
L();
L(`Generated by \`scripts/transfer-report.mjs\` from \`${rel(OUT)}\` (written by \`bash scripts/transfer-experiment.sh\`; ` +
  `last started ${machine.date_utc ?? '?'}).`);
L();
L('**Question.** Does SparK pretraining on unlabelled images help a small CNN learn from few labels? resnet8 is SparK-pretrained ' +
  'on Fashion-MNIST training images without their labels, then fine-tuned with 10 and 100 labelled images per class; the same network ' +
  'from random init is fine-tuned with the same recipe, images and seeds. Top-1 is measured on the official 10,000 test images.');
L();
L('## Results');
L();
L('| labels per class | init | test top-1 (%) mean ± std | seeds | per seed | fine-tune steps | fine-tune wall time (mean) | test eval wall time (mean) |');
L('|---:|---|---:|---:|---|---:|---:|---:|');
for (const k of budgets) {
  for (const init of INITS) {
    const c = cell(k, init);
    if (!c.length) continue;
    const v = c.map((r) => r.top1);
    L(`| ${k} | ${init === 'scratch' ? 'random init' : 'SparK-pretrained'} | **${fmt(mean(v))} ± ${fmt(std(v))}** | ${c.length} | ` +
      `${c.map((r) => `s${r.seed}: ${fmt(r.top1)}`).join(', ')} | ${c[0].steps ?? 'n/a'} | ${min(mean(c.map((r) => r.ftSec)))} | ${min(mean(c.map((r) => r.evalSec)))} |`);
  }
}
L();
L('Paired differences (pretrained − scratch, same seed = same labelled images and same fine-tuning randomness):');
L();
for (const k of budgets) {
  const pairs = cell(k, 'pretrained').map((p) => [p, cell(k, 'scratch').find((s) => s.seed === p.seed)]).filter(([, s]) => s);
  if (!pairs.length) continue;
  const d = pairs.map(([p, s]) => p.top1 - s.top1);
  L(`- ${k} per class: ${d.map((x, i) => `s${pairs[i][0].seed} ${x >= 0 ? '+' : ''}${fmt(x)}`).join(', ')} → mean ${d.length ? `${mean(d) >= 0 ? '+' : ''}${fmt(mean(d))}` : 'n/a'} points` +
    ` (${d.filter((x) => x > 0).length} of ${d.length} seeds better with pretraining)`);
}
L();
L(`![top-1 vs labels per class](${path.basename(opts.png)})`);
L();
L(`${done.length} of ${expected} started runs finished` + (done.length < expected ? ` (unfinished: ${runs.filter((r) => !r.done).map((r) => `k${r.k} s${r.seed} ${r.init}`).join(', ')})` : '') +
  `; seeds ${seeds.join(', ')}.`);
L();
L('## Pretraining');
L();
if (ptHead) {
  L(`SparK on ${ptHead[3]} unlabelled training images (${ptHead[5]} epoch(s) × ${ptHead[4]} steps, lr ${ptHead[6]}), ${ptHead[2]}M parameters ` +
    `(encoder + light decoder); ${ptDone ? `reconstruction loss ${ptDone[2]} → ${ptDone[3]} (min ${ptDone[4]})` : 'did not finish'}; ` +
    `wall time ${min(times.get('pretrain')?.sec)}.`);
} else L('Pretraining log not found.');
L();
// the pretraining's loss curve and its last reconstruction picture (input | masked | reconstruction with
// the visible patches pasted back | reconstruction), copied next to the report
const docDir = path.dirname(path.resolve(repo, opts.doc));
const recDir = path.join(OUT, 'pretrain', 'reconstructions');
const lastRec = fs.existsSync(recDir) ? fs.readdirSync(recDir).filter((f) => f.endsWith('.png')).sort().pop() : undefined;
for (const [src, name, alt] of [[path.join(OUT, 'pretrain', 'loss_curve.png'), 'transfer_pretrain_loss.png', 'pretraining loss'],
  [lastRec && path.join(recDir, lastRec), 'transfer_reconstruction.png', 'input | masked | reconstruction + visible | reconstruction']]) {
  if (!src || !fs.existsSync(src)) continue;
  const bytes = fs.readFileSync(src);
  writeFileAtomic(path.join(docDir, name), (fd) => fs.writeFileSync(fd, bytes));
  L(`![${alt}](${name})`);
  L();
}
L('## Commands');
L();
L('Everything above: `bash scripts/transfer-experiment.sh` (data, pretraining, all fine-tunes, test evaluations, this report). The steps it ran:');
L();
L('```');
L(`bash scripts/fetch-fashion-mnist.sh   # and --per_class K --seed S for each budget and seed`);
// the recorded command lines, as a user would type them: `spark` for the CLI, the eval's JSON redirection left out
const tidy = (cmd) => cmd.replace(/^bash -c /, '').replace(/ > '[^']*'.*$/, '').replace(/'/g, '').replace(/^node dist\/src\/cli\/main\.js /, 'spark ');
const show = (n) => { const t = times.get(n); if (t) L(`${tidy(t.cmd)}   # ${min(t.sec)}`); };
show('pretrain');
for (const init of INITS) for (const k of budgets) { const r = cell(k, init)[0]; if (r) { show(`ft_k${k}_s${r.seed}_${init}`); show(`eval_k${k}_s${r.seed}_${init}`); } }
L('```');
L();
L(`(one seed shown per budget and init; the others differ only in \`--seed\` and the \`k<K>_s<S>\` folder; \`spark\` = \`node dist/src/cli/main.js\`.)`);
L();
L('## Machine and wall time');
L();
const total = [...times.values()].reduce((a, t) => a + (t.sec || 0), 0);
L(`${machine.cpu ?? '?'}, ${machine.cores ?? '?'} cores, ${machine.threads ?? '?'} libtorch threads; load average at the start ${machine.loadavg_start ?? '?'}` +
  `${machine.loadavg_end ? `, at the end ${machine.loadavg_end}` : ''} (the machine was shared with other jobs, so every wall time here is` +
  ` inflated by an unknown factor and is no benchmark). Total wall time of the recorded steps: ${min(total)}.`);
L();
const extra = path.join(repo, 'docs', 'transfer-notes.md');
if (fs.existsSync(extra)) { L(fs.readFileSync(extra, 'utf8').trim()); L(); }

fs.mkdirSync(path.dirname(path.resolve(repo, opts.doc)), { recursive: true });
const png = plot();
writeFileAtomic(path.resolve(repo, opts.png), (fd) => fs.writeFileSync(fd, png));
writeFileAtomic(path.resolve(repo, opts.doc), (fd) => fs.writeFileSync(fd, lines.join('\n')));
console.log(`transfer-report: wrote ${opts.doc} and ${opts.png} (${done.length} finished runs)`);
