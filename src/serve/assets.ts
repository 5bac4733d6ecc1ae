// The page's own files (HTML, CSS, plain JS: no framework, no CDN), served from the package. They live
// in src/serve/static/ (plain files, not compiled) and are read once; only the names listed here are
// served, so no request path ever reaches the file system through this route.
import fs from 'node:fs';
import { fileURLToPath } from 'node:url';

const ASSETS: Record<string, string> = {
  'index.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'charts.js': 'text/javascript; charset=utf-8',
  'playground.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** src/serve/static, from this module compiled (dist/src/serve/) or beside its source. */
function staticDir(): string {
  for (const rel of ['../../../src/serve/static/', './static/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (fs.existsSync(`${dir}index.html`)) return dir;
  }
  throw new Error('the page\'s files (src/serve/static/) are missing from this install; reinstall sparkts');
}

const cache = new Map<string, { type: string; body: Buffer }>();

export function assetFor(name: string): { type: string; body: Buffer } | undefined {
  const type = ASSETS[name];
  if (!type) return undefined;
  let a = cache.get(name);
  if (!a) { a = { type, body: fs.readFileSync(staticDir() + name) }; cache.set(name, a); }
  return a;
}
