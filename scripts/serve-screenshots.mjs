#!/usr/bin/env node
// Screenshots of `spark serve`'s two views for the README, taken in headless Chromium from a run:
//
//   node scripts/serve-screenshots.mjs [EXP_DIR=exp/demo] [--image PHOTO] [--out docs]
//
// writes OUT/serve_run.png (curves, reconstruction slider, checkpoints, flags) and
// OUT/serve_playground.png (a photo, a random mask with one patch clicked, the reconstruction).
// Needs the build (npx tsc) and a Chromium (bash scripts/setup.sh --test installs Debian's).
import path from 'node:path';
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const repo = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { startServer } = await import(path.join(repo, 'dist/src/serve/index.js'));
const { findChromium, launchBrowser } = await import(path.join(repo, 'dist/test/serve/browser.js'));

const args = process.argv.slice(2);
const flag = (name, dflt) => { const i = args.indexOf(name); return i >= 0 ? args.splice(i, 2)[1] : dflt; };
const image = flag('--image', path.join(repo, '.data/demo/skimage-chelsea.jpg'));
const out = flag('--out', path.join(repo, 'docs'));
const exp = args[0] ?? path.join(repo, 'exp/demo');
const chromium = findChromium();
if (!chromium) { console.error('serve-screenshots: no Chromium found; run bash scripts/setup.sh --test or set SPARKTS_CHROMIUM'); process.exit(1); }
if (!fs.existsSync(image)) { console.error(`serve-screenshots: ${image} does not exist; pass --image PHOTO (or run bash scripts/fetch-demo-data.sh)`); process.exit(1); }

const srv = await startServer({ expDir: exp, port: 0 });
const browser = await launchBrowser(chromium);
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 900 }, deviceScaleFactor: 1 });
  await page.goto(srv.url);
  await page.waitForSelector('body[data-ready="1"]');
  await page.waitForSelector('svg[data-chart="loss"] circle');
  await page.waitForFunction(() => { const i = document.getElementById('rec-img'); return !i || i.complete; });
  await page.screenshot({ path: path.join(out, 'serve_run.png'), fullPage: true });

  await page.click('#tab-playground');
  await page.setInputFiles('#pg-file', image);
  await page.waitForSelector('#pg-result:not([hidden])', { timeout: 120000 });
  const box = await page.locator('#pg-editor').boundingBox();
  const shown = await page.$eval('#pg-result', (i) => i.src);
  await page.mouse.click(box.x + box.width * 0.5, box.y + box.height * 0.5);   // hide or show the centre patch
  await page.waitForFunction((s) => document.getElementById('pg-result').src !== s, shown, { timeout: 120000 });
  await page.screenshot({ path: path.join(out, 'serve_playground.png'), fullPage: false });
  console.log(`wrote ${path.join(out, 'serve_run.png')} and ${path.join(out, 'serve_playground.png')}`);
} finally {
  await browser.close();
  await srv.close();
}
