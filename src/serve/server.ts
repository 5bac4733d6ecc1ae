// `spark serve`'s HTTP server (Node's own http): the page and its assets from the package, a JSON API
// over one exp dir, and that exp dir's files, nothing else. Every failure is a status and a one-line
// JSON {error}; the server keeps serving.
import http from 'node:http';
import fs from 'node:fs';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { HttpError, realRoot, resolveInside } from './paths.js';
import { listLogs, readLogFrom, listCheckpoints, listReconstructions, checkpointEntry, type CheckpointEntry } from './run.js';
import { Playground } from './playground.js';
import { assetFor } from './assets.js';

export interface ServeOptions {
  expDir: string;
  /** a checkpoint to offer in the playground besides the exp dir's (may live elsewhere) */
  ckpt?: string;
  host?: string;
  /** 0 = any free port */
  port?: number;
  /** upload limit in bytes */
  maxUploadBytes?: number;
  device?: string;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  expDir: string;
  server: http.Server;
  playground: Playground;
  close(): Promise<void>;
}

export const DEFAULT_MAX_UPLOAD_BYTES = 20 * 1024 * 1024;
/** the --ckpt checkpoint's id in the API (it is not a file of the exp dir) */
const EXTRA_CKPT = '@ckpt';

const CONTENT_TYPES: Record<string, string> = {
  '.png': 'image/png', '.jpg': 'image/jpeg', '.jpeg': 'image/jpeg', '.webp': 'image/webp', '.gif': 'image/gif',
  '.txt': 'text/plain; charset=utf-8', '.log': 'text/plain; charset=utf-8', '.json': 'application/json', '.jsonl': 'text/plain; charset=utf-8',
};

const isLoopback = (h: string): boolean => h === 'localhost' || h === '::1' || h === '[::1]' || /^127\./.test(h);

export async function startServer(o: ServeOptions): Promise<RunningServer> {
  const root = realRoot(o.expDir);
  const host = o.host ?? '127.0.0.1';
  const maxUpload = o.maxUploadBytes ?? DEFAULT_MAX_UPLOAD_BYTES;
  const extraCkpt = o.ckpt ? path.resolve(o.ckpt) : undefined;
  if (extraCkpt && !fs.existsSync(extraCkpt)) throw new Error(`--ckpt ${o.ckpt} does not exist; check the path`);
  const playground = new Playground(o.device ?? 'cpu');

  const checkpoints = (): CheckpointEntry[] => {
    const list = listCheckpoints(root);
    if (extraCkpt && !list.some((c) => path.join(root, c.name) === extraCkpt)) list.unshift({ ...checkpointEntry(extraCkpt, EXTRA_CKPT), label: `${path.basename(extraCkpt)} (--ckpt)` });
    return list;
  };
  const checkpointFile = (name: unknown): string => {
    if (typeof name !== 'string' || !name) throw new HttpError(400, 'pick a checkpoint');
    if (name === EXTRA_CKPT && extraCkpt) return extraCkpt;
    if (name.includes('/')) throw new HttpError(403, 'checkpoints are files at the top of the exp dir');
    return resolveInside(root, encodeURIComponent(name));
  };

  const routes = async (req: http.IncomingMessage, res: http.ServerResponse, url: URL): Promise<void> => {
    const p = url.pathname;
    const method = req.method ?? 'GET';
    const isGet = method === 'GET' || method === 'HEAD';
    if (p === '/' || p.startsWith('/static/')) {
      if (!isGet) throw new HttpError(405, `${method} is not allowed here`);
      const a = assetFor(p === '/' ? 'index.html' : p.slice('/static/'.length));
      if (!a) throw new HttpError(404, `no asset ${p}`);
      return send(res, 200, a.type, a.body, method);
    }
    if (p === '/api/run' && isGet) {
      return sendJson(res, 200, {
        name: path.basename(root), expDir: root, logs: listLogs(root), checkpoints: checkpoints(),
        reconstructions: listReconstructions(root), maxUploadBytes: maxUpload,
      });
    }
    if (p === '/api/log' && isGet) {
      const file = url.searchParams.get('file') ?? listLogs(root)[0];
      if (!file) return sendJson(res, 200, { records: [], headers: [], offset: 0, reset: false, badLines: 0, file: null });
      if (!listLogs(root).includes(file)) throw new HttpError(404, `no log ${file} in the exp dir`);
      const offset = Number(url.searchParams.get('offset') ?? 0);
      if (!Number.isInteger(offset) || offset < 0) throw new HttpError(400, 'offset must be a non-negative integer');
      return sendJson(res, 200, { ...readLogFrom(resolveInside(root, encodeURIComponent(file)), offset), file });
    }
    if (p.startsWith('/files/')) {
      if (!isGet) throw new HttpError(405, `${method} is not allowed here`);
      // the raw (still encoded) path: decoding happens once, inside the gate
      const rawPath = (req.url ?? '').split('?')[0].slice('/files/'.length);
      const file = resolveInside(root, rawPath);
      const type = CONTENT_TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
      const st = fs.statSync(file);
      res.writeHead(200, {
        ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': st.size, 'Cache-Control': 'no-cache',
        ...(type === 'application/octet-stream' ? { 'Content-Disposition': `attachment; filename="${path.basename(file).replace(/"/g, '')}"` } : {}),
      });
      if (method === 'HEAD') { res.end(); return; }
      await new Promise<void>((resolve, reject) => { fs.createReadStream(file).on('error', reject).on('end', resolve).pipe(res); });
      return;
    }
    if (p === '/api/upload' && method === 'POST') {
      const bytes = await readBody(req, maxUpload);
      const name = (url.searchParams.get('name') ?? 'upload').slice(0, 200);
      const id = await playground.uploads.add(bytes, name);
      return sendJson(res, 200, { id, name, bytes: bytes.length });
    }
    if (p === '/api/reconstruct' && method === 'POST') {
      const body = parseJson(await readBody(req, 64 * 1024));
      const r = await playground.reconstruct({
        image: String(body.image ?? ''), ckptFile: checkpointFile(body.ckpt),
        ratio: Number(body.ratio), seed: Number(body.seed ?? 0),
        visible: typeof body.visible === 'string' ? body.visible : undefined,
      });
      const { png, ...rest } = r;
      return sendJson(res, 200, { ...rest, png: `data:image/png;base64,${Buffer.from(png).toString('base64')}` });
    }
    if (['/api/run', '/api/log', '/api/upload', '/api/reconstruct'].includes(p)) throw new HttpError(405, `${method} is not allowed on ${p}`);
    throw new HttpError(404, `nothing at ${p}`);
  };

  const server = http.createServer((req, res) => {
    // a page served from 127.0.0.1 must not be reachable through another name (DNS rebinding)
    const hostHeader = (req.headers.host ?? '').replace(/:\d+$/, '');
    const url = new URL(req.url ?? '/', 'http://local');
    const handle = async (): Promise<void> => {
      if (isLoopback(host) && !isLoopback(hostHeader)) throw new HttpError(403, `this server answers on ${host} only (Host: ${hostHeader})`);
      if (/(^|\/)\.\.(\/|$)/.test(url.pathname) && !url.pathname.startsWith('/files/')) throw new HttpError(403, "'..' is not allowed in paths");
      await routes(req, res, url);
    };
    handle().catch((e: unknown) => {
      const status = e instanceof HttpError ? e.status : 500;
      const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
      if (status === 500) process.stderr.write(`[serve] ${req.method} ${req.url}: ${msg}\n`);
      if (res.headersSent) { res.destroy(); return; }
      sendJson(res, status, { error: msg }, status === 413 ? { Connection: 'close' } : {});
    });
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => reject(new Error(e.code === 'EADDRINUSE'
      ? `port ${o.port} on ${host} is in use; pick another with --port (0 = any free port)`
      : `cannot listen on ${host}:${o.port} (${e.code ?? e.message}); check --host and --port`)));
    server.listen(o.port ?? 0, host, () => resolve());
  });
  const port = (server.address() as AddressInfo).port;
  const urlHost = host.includes(':') ? `[${host}]` : host === '0.0.0.0' ? '127.0.0.1' : host;
  return {
    url: `http://${urlHost}:${port}/`, host, port, expDir: root, server, playground,
    close: () => new Promise<void>((resolve) => {
      server.closeAllConnections();
      server.close(() => { playground.close(); resolve(); });
    }),
  };
}

const SECURITY_HEADERS = {
  'X-Content-Type-Options': 'nosniff',
  'Content-Security-Policy': "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; script-src 'self'; connect-src 'self'",
  'Referrer-Policy': 'no-referrer',
};

function send(res: http.ServerResponse, status: number, type: string, body: string | Uint8Array, method = 'GET', extra: Record<string, string> = {}): void {
  const buf = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  res.writeHead(status, { ...SECURITY_HEADERS, 'Content-Type': type, 'Content-Length': buf.length, 'Cache-Control': 'no-cache', ...extra });
  res.end(method === 'HEAD' ? undefined : buf);
}

function sendJson(res: http.ServerResponse, status: number, v: unknown, extra: Record<string, string> = {}): void {
  send(res, status, 'application/json; charset=utf-8', JSON.stringify(v), 'GET', extra);
}

/**
 * The request body, refused with 413 as soon as it is known to exceed `limit` (by Content-Length, or
 * while it streams). The rest of an oversize body is read and dropped (up to a bound) so that the
 * client gets the 413 instead of a reset connection.
 */
function readBody(req: http.IncomingMessage, limit: number): Promise<Uint8Array> {
  const tooBig = (): HttpError => new HttpError(413, `the upload is larger than the server's limit of ${(limit / 1048576).toFixed(limit < 1048576 ? 2 : 0)} MB; use a smaller image or start spark serve with a larger --max_upload_mb`);
  const drain = (): void => {
    let dropped = 0;
    req.removeAllListeners('data');
    req.on('data', (c: Buffer) => { dropped += c.length; if (dropped > 4 * limit + (1 << 20)) req.destroy(); });
    req.resume();
  };
  const declared = Number(req.headers['content-length'] ?? NaN);
  if (Number.isFinite(declared) && declared > limit) { drain(); return Promise.reject(tooBig()); }
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let size = 0, failed = false;
    req.on('data', (c: Buffer) => {
      if (failed) return;
      size += c.length;
      if (size > limit) { failed = true; drain(); reject(tooBig()); return; }
      chunks.push(c);
    });
    req.on('end', () => { if (!failed) resolve(new Uint8Array(Buffer.concat(chunks))); });
    req.on('error', (e) => { if (!failed) reject(e); });
  });
}

function parseJson(b: Uint8Array): Record<string, unknown> {
  try {
    const v: unknown = JSON.parse(Buffer.from(b).toString('utf8'));
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* below */ }
  throw new HttpError(400, 'the request body must be a JSON object');
}
