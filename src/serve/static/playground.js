// The playground: upload an image, pick a checkpoint, mask patches at random (ratio + seed) or by
// clicking them, and show what the model reconstructs. The server draws the random masks (the same
// ones `spark reconstruct --mask R --seed S` draws) and answers with the mask it used, which the editor
// then shows and lets the user change patch by patch.

const $ = (id) => document.getElementById(id);
const EDITOR_MIN_SIDE = 256;
/** grid geometry of the server's picture: cells of S×S, 2 px padding around and between */
const PAD = 2;

const pg = { image: null, visible: null, last: null, busy: false, pending: null, cellImage: null, maxUploadBytes: Infinity };

/** The server's upload limit: larger files are refused here, before they travel. */
export function setUploadLimit(bytes) { pg.maxUploadBytes = bytes; }

export function setCheckpoints(list) {
  const sel = $('pg-ckpt');
  const usable = list.filter((c) => c.kind === 'spark');
  const sig = usable.map((c) => `${c.name}@${c.mtimeMs}`).join('\n');
  if (sel.dataset.sig === sig) return;
  sel.dataset.sig = sig;
  const keep = sel.value;
  sel.replaceChildren(...usable.map((c) => Object.assign(document.createElement('option'), {
    value: c.name, textContent: `${c.label ?? c.name}${c.epoch !== undefined ? ` (epoch ${c.epoch})` : ''}`,
  })));
  if (!usable.length) sel.append(Object.assign(document.createElement('option'), { value: '', textContent: 'no checkpoint with a decoder in this exp dir' }));
  if (usable.some((c) => c.name === keep)) sel.value = keep;
  else if (usable[0]?.maskRatio) setRatio(usable[0].maskRatio);
}

function setRatio(r) {
  $('pg-ratio').value = String(r);
  $('pg-ratio-out').textContent = Number($('pg-ratio').value).toFixed(2);
}

function showError(msg) {
  $('pg-error').textContent = msg;
  $('pg-error').hidden = !msg;
}

async function postJson(url, body, isJson = true) {
  const r = await fetch(url, { method: 'POST', body: isJson ? JSON.stringify(body) : body, headers: isJson ? { 'Content-Type': 'application/json' } : {} });
  const out = await r.json().catch(() => ({ error: `the server answered ${r.status} ${r.statusText}` }));
  if (!r.ok) throw Object.assign(new Error(out.error || `${r.status}`), { status: r.status });
  return out;
}

async function upload(file) {
  showError('');
  if (!file) return;
  if (file.size > pg.maxUploadBytes) {
    showError(`${file.name}: ${(file.size / 1048576).toFixed(1)} MB is larger than the server's limit of ${(pg.maxUploadBytes / 1048576).toFixed(1)} MB; use a smaller image or start spark serve with a larger --max_upload_mb`);
    return;
  }
  $('pg-status').textContent = `uploading ${file.name}…`;
  try {
    const u = await postJson(`/api/upload?name=${encodeURIComponent(file.name)}`, file, false);
    pg.image = u.id; pg.visible = null;
    $('pg-random').disabled = false;
    await reconstruct({});
  } catch (e) {
    pg.image = null;
    $('pg-status').textContent = '';
    showError(`${file.name}: ${e.message}`);
  }
}

/** Ask for a reconstruction; while one is running, only the latest request waits (clicks coalesce). */
async function reconstruct(opts) {
  if (!pg.image) return;
  const req = { image: pg.image, ckpt: $('pg-ckpt').value, ratio: Number($('pg-ratio').value), seed: Number($('pg-seed').value) || 0 };
  if (opts.visible) req.visible = opts.visible;
  if (pg.busy) { pg.pending = req; return; }
  pg.busy = true;
  $('pg-status').textContent = 'reconstructing…';
  try {
    const r = await postJson('/api/reconstruct', req);
    pg.last = r; pg.visible = r.visible;
    showError('');
    $('pg-status').textContent = `${r.inputSize}×${r.inputSize} input, ${r.fmap}×${r.fmap} patches of ${r.patch} px, ${[...r.visible].filter((c) => c === '0').length} masked · ${r.ms} ms`;
    await showResult(r);
  } catch (e) {
    $('pg-status').textContent = '';
    showError(e.message);
  } finally {
    pg.busy = false;
    const next = pg.pending; pg.pending = null;
    if (next) await reconstruct(next);
  }
}

async function showResult(r) {
  const img = $('pg-result');
  await new Promise((resolve, reject) => { img.onload = resolve; img.onerror = () => reject(new Error('the picture could not be shown')); img.src = r.png; });
  img.hidden = false;
  // small models' pictures (64–224 px cells) are shown enlarged, in whole pixels
  const room = img.parentElement.clientWidth || 800;
  img.style.width = `${img.naturalWidth * Math.max(1, Math.min(4, Math.floor(room / img.naturalWidth)))}px`;
  $('pg-hint').hidden = true;
  // the first cell of the picture is the model's input (cropped and resized): the editor shows it
  const S = r.inputSize;
  const c = document.createElement('canvas');
  c.width = S; c.height = S;
  c.getContext('2d').drawImage(img, PAD, PAD, S, S, 0, 0, S, S);
  pg.cellImage = c;
  drawEditor();
}

function drawEditor() {
  const r = pg.last;
  if (!r || !pg.cellImage) return;
  const cv = $('pg-editor');
  const scale = Math.max(1, Math.ceil(EDITOR_MIN_SIDE / r.inputSize));
  const side = r.inputSize * scale;
  cv.width = side; cv.height = side;
  const g = cv.getContext('2d');
  g.imageSmoothingEnabled = false;
  g.drawImage(pg.cellImage, 0, 0, side, side);
  const cell = side / r.fmap;
  for (let i = 0; i < r.fmap; i++) {
    for (let j = 0; j < r.fmap; j++) {
      if (pg.visible[i * r.fmap + j] === '0') { g.fillStyle = 'rgba(20,20,20,0.72)'; g.fillRect(j * cell, i * cell, cell, cell); }
    }
  }
  g.strokeStyle = 'rgba(255,255,255,0.7)';
  g.lineWidth = 1;
  for (let k = 0; k <= r.fmap; k++) {
    g.beginPath(); g.moveTo(k * cell + 0.5, 0); g.lineTo(k * cell + 0.5, side); g.stroke();
    g.beginPath(); g.moveTo(0, k * cell + 0.5); g.lineTo(side, k * cell + 0.5); g.stroke();
  }
  cv.dataset.visible = pg.visible;
}

function onEditorClick(ev) {
  const r = pg.last;
  if (!r || !pg.visible) return;
  const cv = $('pg-editor');
  const box = cv.getBoundingClientRect();
  const j = Math.floor(((ev.clientX - box.left) / box.width) * r.fmap);
  const i = Math.floor(((ev.clientY - box.top) / box.height) * r.fmap);
  if (i < 0 || j < 0 || i >= r.fmap || j >= r.fmap) return;
  const k = i * r.fmap + j;
  pg.visible = pg.visible.slice(0, k) + (pg.visible[k] === '1' ? '0' : '1') + pg.visible.slice(k + 1);
  drawEditor();
  reconstruct({ visible: pg.visible });
}

export function initPlayground() {
  $('pg-file').addEventListener('change', (e) => upload(e.target.files[0]));
  const drop = $('drop');
  drop.addEventListener('dragover', (e) => { e.preventDefault(); drop.classList.add('over'); });
  drop.addEventListener('dragleave', () => drop.classList.remove('over'));
  drop.addEventListener('drop', (e) => { e.preventDefault(); drop.classList.remove('over'); upload(e.dataTransfer.files[0]); });
  $('pg-ratio').addEventListener('input', () => setRatio($('pg-ratio').value));
  $('pg-ratio').addEventListener('change', () => reconstruct({}));
  $('pg-seed').addEventListener('change', () => reconstruct({}));
  $('pg-ckpt').addEventListener('change', () => reconstruct({}));
  $('pg-random').addEventListener('click', () => { $('pg-seed').value = String((Number($('pg-seed').value) || 0) + 1); reconstruct({}); });
  $('pg-editor').addEventListener('click', onEditorClick);
}
