// `spark serve`'s page in a real headless browser (Chromium through playwright-core), over a tiny run:
// it loads without console errors; the loss chart has one point per log line at the logged values; a
// line appended to the log shows up without a reload; a fine-tune-style log is charted with no special
// code; uploading an image gives a reconstruction of the model's size; clicking a patch flips exactly
// that patch in the mask sent to the server; a corrupt upload shows the server's error in the page.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import type { Browser, Page, ConsoleMessage } from 'playwright-core';
import { startServer, type RunningServer } from '../../src/serve/index.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf, writeImage } from '../data/fixtures.js';
import { tinyRun, S } from './support.js';
import { chromiumOrSkip, launchBrowser } from './browser.js';


const found = chromiumOrSkip();
const skip = 'skip' in found ? found.skip : false;
if (skip) console.log(`# browser tests skipped: ${skip}`);

let root = '', exp = '', photo = '';
let srv: RunningServer;
let browser: Browser;

before(async () => {
  if (skip) return;
  root = tempDir('sparkts-browser-');
  ({ exp } = await tinyRun(root));
  photo = path.join(root, 'photo.jpg');
  await writeImage(photo, 300, 200, 3);        // not square: the page gets the centre crop
  srv = await startServer({ expDir: exp, port: 0 });
  browser = await launchBrowser((found as { path: string }).path);
});
after(async () => { await browser?.close(); await srv?.close(); if (root) rmrf(root); });
// registered after the hooks above: counts once the run is made, checks once the server (and its cached model) is closed
checkNoLeaks();

/** A new page on the server, with every console error and uncaught exception recorded. */
async function open(url: string, hash = ''): Promise<{ page: Page; errors: string[] }> {
  const page = await browser.newPage();
  const errors: string[] = [];
  page.on('console', (m: ConsoleMessage) => { if (m.type() === 'error') errors.push(m.text()); });
  page.on('pageerror', (e) => errors.push(String(e)));
  await page.goto(url + hash);
  await page.waitForSelector('body[data-ready="1"]', { timeout: 20000 });
  return { page, errors };
}

const logRecords = (file: string): Record<string, unknown>[] =>
  fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>).filter((r) => !('cmd' in r));

/** The points of one series of one chart: their data values and their drawn positions. */
async function points(page: Page, chart: string, series: string): Promise<{ x: number; y: number; cx: number; cy: number }[]> {
  return page.$$eval(`svg[data-chart="${chart}"] g[data-series="${series}"] circle`, (cs) => cs.map((c) => ({
    x: Number(c.getAttribute('data-x')), y: Number(c.getAttribute('data-y')), cx: Number(c.getAttribute('cx')), cy: Number(c.getAttribute('cy')),
  })));
}

test('the page loads without console errors and the loss chart shows the log\'s points', { skip }, async () => {
  const { page, errors } = await open(srv.url);
  await page.waitForSelector('svg[data-chart="loss"] circle');
  const log = logRecords(path.join(exp, 'pretrain_log.txt'));
  for (const key of ['last_L', 'min_L']) {
    const pts = await points(page, 'loss', key);
    assert.deepEqual(pts.map((p) => [p.x, p.y]), log.map((r) => [Number(String(r.cur_ep).split('/')[0]), r[key]]), key);
    // drawn where the values say: later epochs further right, larger values higher up (smaller cy)
    for (let i = 1; i < pts.length; i++) {
      assert.ok(pts[i].cx > pts[i - 1].cx);
      assert.equal(Math.sign(pts[i - 1].cy - pts[i].cy), Math.sign(pts[i].y - pts[i - 1].y), `${key} point ${i}`);
    }
  }
  for (const chart of ['lr', 'wd', 'grad_norm', 'data_wait_pct']) assert.equal(await page.locator(`svg[data-chart="${chart}"]`).count(), 1, chart);
  assert.equal(await page.locator('#ckpts tbody tr').count(), 2, 'both checkpoints listed');
  assert.match(await page.locator('#flags').innerText(), /spark pretrain/);
  // the reconstruction slider: last epoch first, then the first
  assert.match(await page.locator('#rec-img').getAttribute('src') ?? '', /ep0001\.png$/);
  await page.locator('#rec-slider').fill('0');
  assert.match(await page.locator('#rec-img').getAttribute('src') ?? '', /ep0000\.png$/);
  await page.waitForFunction(() => (document.getElementById('rec-img') as HTMLImageElement).naturalWidth > 0);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a new log line appears in the chart without a reload', { skip }, async () => {
  const { page, errors } = await open(srv.url);
  await page.waitForSelector('svg[data-chart="loss"] circle');
  const before = (await points(page, 'loss', 'last_L')).length;
  fs.appendFileSync(path.join(exp, 'pretrain_log.txt'), `${JSON.stringify({ cur_ep: `${before + 1}/9`, last_L: 0.4321, min_L: 0.4321, lr: 1e-4, wd: 0.05, grad_norm: 0.7, data_wait_pct: 1.5 })}\n`);
  await page.waitForFunction((n) => document.querySelectorAll('svg[data-chart="loss"] g[data-series="last_L"] circle').length === n + 1, before, { timeout: 10000 });
  const pts = await points(page, 'loss', 'last_L');
  assert.deepEqual([pts.at(-1)!.x, pts.at(-1)!.y], [before + 1, 0.4321]);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a fine-tune-style log (loss, acc, eval top-1 of the model and its EMA) is charted with no special code', { skip }, async () => {
  const ft = path.join(root, 'ft');
  fs.mkdirSync(ft);
  const lines = [{ cmd: 'spark finetune …', model: 'resnet18' },
    ...[1, 2, 3].map((ep) => ({ ep, loss: 2 / ep, acc: 0.2 * ep, lr: 1e-3 / ep, eval_top1: 30 + ep, eval_top1_ema: 29 + 2 * ep, epoch_time_s: 10 + ep }))];
  fs.writeFileSync(path.join(ft, 'finetune_log.txt'), lines.map((l) => JSON.stringify(l)).join('\n') + '\n');
  const other = await startServer({ expDir: ft, port: 0 });
  try {
    const { page, errors } = await open(other.url);
    await page.waitForSelector('svg[data-chart="acc"] circle');
    assert.deepEqual((await points(page, 'acc', 'eval_top1_ema')).map((p) => [p.x, p.y]), [[1, 31], [2, 33], [3, 35]]);
    assert.deepEqual((await points(page, 'acc', 'eval_top1')).map((p) => p.y), [31, 32, 33]);
    assert.deepEqual((await points(page, 'loss', 'loss')).map((p) => p.y), [2, 1, 2 / 3]);
    assert.equal(await page.locator('svg[data-chart="epoch_time_s"] circle').count(), 3, 'an unknown key gets a chart of its own');
    assert.deepEqual(errors, []);
    await page.close();
  } finally { await other.close(); }
});

test('uploading a photo returns a reconstruction of the model\'s size; clicking a patch flips it in the mask sent', { skip }, async () => {
  const { page, errors } = await open(srv.url, '#playground');
  const sent: Record<string, unknown>[] = [];
  page.on('request', (r) => { if (r.url().endsWith('/api/reconstruct')) sent.push(JSON.parse(r.postData() ?? '{}') as Record<string, unknown>); });
  await page.setInputFiles('#pg-file', photo);
  await page.waitForSelector('#pg-result:not([hidden])', { timeout: 30000 });
  const size = await page.$eval('#pg-result', (i) => [(i as HTMLImageElement).naturalWidth, (i as HTMLImageElement).naturalHeight]);
  assert.deepEqual(size, [4 * S + 5 * 2, S + 2 * 2], 'input | masked | reconstruction | full reconstruction, each S×S');
  assert.equal(sent.length, 1);
  assert.equal(sent[0].visible, undefined, 'the first mask is a random one');
  const first = await page.$eval('#pg-editor', (c) => (c as HTMLCanvasElement).dataset.visible ?? '');
  assert.match(first, /^[01]{4}$/);

  // click the bottom-right patch (row 1, column 1 of the 2×2 grid)
  const box = (await page.locator('#pg-editor').boundingBox())!;
  await page.mouse.click(box.x + box.width * 0.75, box.y + box.height * 0.75);
  await page.waitForFunction((prev) => (document.getElementById('pg-editor') as HTMLCanvasElement).dataset.visible !== prev, first);
  await page.waitForFunction(() => document.getElementById('pg-status')!.textContent!.includes('ms'));
  await page.waitForFunction(() => !document.getElementById('pg-status')!.textContent!.includes('…'));
  const flipped = first.slice(0, 3) + (first[3] === '1' ? '0' : '1');
  assert.equal(sent.length, 2);
  assert.equal(sent[1].visible, flipped, 'exactly the clicked patch changed');
  assert.equal(await page.$eval('#pg-editor', (c) => (c as HTMLCanvasElement).dataset.visible), flipped, 'the server used that mask');
  assert.equal(await page.locator('#pg-error').isHidden(), true);
  assert.deepEqual(errors, []);
  await page.close();
});

test('a corrupt upload shows the error text in the page, and the page keeps working', { skip }, async () => {
  const { page } = await open(srv.url, '#playground');
  const good = fs.readFileSync(photo);
  await page.setInputFiles('#pg-file', { name: 'broken.jpg', mimeType: 'image/jpeg', buffer: good.subarray(0, 200) });
  await page.waitForSelector('#pg-error:not([hidden])');
  assert.match(await page.locator('#pg-error').innerText(), /^broken\.jpg: could not decode broken\.jpg \(.+\); pass a readable image/);
  await page.setInputFiles('#pg-file', photo);
  await page.waitForSelector('#pg-result:not([hidden])', { timeout: 30000 });
  assert.equal(await page.locator('#pg-error').isHidden(), true, 'the error goes once an image works');
  await page.close();
});
