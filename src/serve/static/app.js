// The run view: polls the log (only the bytes added since the last poll) and the exp dir's listing,
// redraws the charts, the reconstruction slider and the tables; switches to the playground.
import { chartsFromRecords, renderChart } from './charts.js';
import { initPlayground, setCheckpoints, setUploadLimit } from './playground.js';

const POLL_LOG_MS = 1000;
const POLL_RUN_MS = 4000;
const $ = (id) => document.getElementById(id);

const state = { logFile: null, offset: 0, records: [], headers: [], run: null, recIndexFollowsLast: true };

async function getJson(url) {
  const r = await fetch(url, { cache: 'no-store' });
  const body = await r.json().catch(() => ({ error: `${r.status} ${r.statusText}` }));
  if (!r.ok) throw new Error(body.error || `${r.status}`);
  return body;
}

function showView(name) {
  for (const b of document.querySelectorAll('.tab')) b.classList.toggle('active', b.dataset.view === name);
  $('view-run').hidden = name !== 'run';
  $('view-playground').hidden = name !== 'playground';
  if (location.hash !== `#${name}`) history.replaceState(null, '', `#${name}`);
}

function drawCharts() {
  const box = $('charts');
  box.replaceChildren(...chartsFromRecords(state.records).map(renderChart));
  if (!state.records.length) box.append(Object.assign(document.createElement('p'), { className: 'muted', id: 'charts-empty', textContent: 'No log lines yet: the run writes one per epoch.' }));
  const lastRec = state.records[state.records.length - 1];
  const parts = [];
  if (lastRec?.cur_ep) parts.push(`epoch ${lastRec.cur_ep}`);
  if (lastRec?.rema) parts.push(`remaining ${lastRec.rema}`);
  parts.push(`${state.records.length} log line${state.records.length === 1 ? '' : 's'}`);
  $('log-info').textContent = parts.join(' · ');
}

function drawFlags() {
  const h = state.headers[state.headers.length - 1];
  const body = $('flags').tBodies[0];
  body.replaceChildren(...Object.entries(h ?? {}).map(([k, v]) => {
    const tr = document.createElement('tr');
    tr.append(Object.assign(document.createElement('td'), { className: 'k', textContent: k }),
      Object.assign(document.createElement('td'), { className: 'v', textContent: typeof v === 'string' ? v : JSON.stringify(v) }));
    return tr;
  }));
  if (h?.model) $('run-name').textContent = `${h.name ?? state.run?.name ?? ''} · ${h.model}`;
}

const fmtSize = (n) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(2)} GB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MB` : `${(n / 1024).toFixed(1)} kB`);

const fmtTime = (ms) => { const d = new Date(ms); const p = (n) => String(n).padStart(2, '0'); return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}`; };

function drawRun() {
  const run = state.run;
  if (!$('run-name').textContent) $('run-name').textContent = run.name;
  const tb = $('ckpts').tBodies[0];
  tb.replaceChildren(...run.checkpoints.map((c) => {
    const tr = document.createElement('tr');
    const cells = [c.label ?? c.name, c.kind === 'spark' ? 'with decoder' : c.kind === 'timm' ? 'encoder' : c.kind, c.arch ?? '', c.epoch ?? '', fmtSize(c.size), fmtTime(c.mtimeMs)];
    for (const v of cells) tr.append(Object.assign(document.createElement('td'), { textContent: String(v) }));
    if (c.error) tr.title = c.error;
    return tr;
  }));
  const recs = run.reconstructions;
  $('rec-empty').hidden = recs.length > 0;
  $('rec-box').hidden = recs.length === 0;
  if (recs.length) {
    const slider = $('rec-slider');
    slider.max = String(recs.length - 1);
    if (state.recIndexFollowsLast || Number(slider.value) > recs.length - 1) slider.value = String(recs.length - 1);
    showReconstruction();
  }
  setCheckpoints(run.checkpoints);
  setUploadLimit(run.maxUploadBytes);
}

function showReconstruction() {
  const recs = state.run.reconstructions;
  const i = Number($('rec-slider').value);
  const r = recs[i];
  if (!r) return;
  $('rec-label').textContent = `${r.path.split('/').pop()} (${i + 1} of ${recs.length})`;
  // the file is rewritten in place at most once per epoch: its name and the listing's time are the version
  const src = `/files/${r.path.split('/').map(encodeURIComponent).join('/')}`;
  const img = $('rec-img');
  if (img.dataset.src !== src) {
    img.onload = () => {   // enlarged in whole pixels while it fits
      const room = img.parentElement.clientWidth || 800;
      img.style.width = `${img.naturalWidth * Math.max(1, Math.min(2, Math.floor(room / img.naturalWidth)))}px`;
    };
    img.src = src; img.dataset.src = src;
  }
}

async function pollLog() {
  if (!state.logFile) return;
  const chunk = await getJson(`/api/log?file=${encodeURIComponent(state.logFile)}&offset=${state.offset}`);
  if (chunk.reset) { state.offset = 0; state.records = []; state.headers = []; return pollLog(); }
  state.offset = chunk.offset;
  if (chunk.records.length || chunk.headers.length) {
    state.records.push(...chunk.records);
    state.headers.push(...chunk.headers);
    drawCharts();
    if (chunk.headers.length) drawFlags();
  }
}

async function pollRun() {
  state.run = await getJson('/api/run');
  const sel = $('log-file');
  const names = state.run.logs;
  if ([...sel.options].map((o) => o.value).join('\n') !== names.join('\n')) {
    sel.replaceChildren(...names.map((n) => Object.assign(document.createElement('option'), { value: n, textContent: n })));
    if (!names.includes(state.logFile)) selectLog(names[0] ?? null);
    else sel.value = state.logFile;
  }
  drawRun();
}

function selectLog(name) {
  state.logFile = name; state.offset = 0; state.records = []; state.headers = [];
  if (name) $('log-file').value = name;
  drawCharts(); drawFlags();
}

function loop(fn, ms) {
  const tick = async () => {
    try { await fn(); $('run-status').textContent = `updated ${new Date().toLocaleTimeString()}`; } catch (e) { $('run-status').textContent = `server unreachable (${e.message}); retrying`; }
    setTimeout(tick, ms);
  };
  return tick();
}

async function main() {
  for (const b of document.querySelectorAll('.tab')) b.addEventListener('click', () => showView(b.dataset.view));
  showView(location.hash === '#playground' ? 'playground' : 'run');
  $('log-file').addEventListener('change', (e) => { selectLog(e.target.value); pollLog(); });
  $('rec-slider').addEventListener('input', () => {
    state.recIndexFollowsLast = Number($('rec-slider').value) === state.run.reconstructions.length - 1;
    showReconstruction();
  });
  initPlayground();
  await loop(pollRun, POLL_RUN_MS);
  await loop(pollLog, POLL_LOG_MS);
  document.body.dataset.ready = '1';
}

main();
