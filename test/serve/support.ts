// A small finished run to serve (tiny ResNet-18 at 64 px: 2×2 patches; 2 epochs of 1 step, so two log
// lines, two reconstruction grids and both checkpoints), and raw HTTP requests whose paths are sent
// exactly as written (no client-side normalisation of '..' or of percent-encoding).
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pretrain } from '../../src/train/pretrain.js';
import { pretrainOptionsFromArgs } from '../../src/cli/pretrain.js';
import { tinyFlags, imageFolder } from '../cli/support.js';

export const S = 64;

/** `root`/data (4 generated images) and `root`/exp (the run). */
export async function tinyRun(root: string): Promise<{ data: string; exp: string; images: string[] }> {
  const data = await imageFolder(path.join(root, 'data'), 4);
  const exp = path.join(root, 'exp');
  const o = pretrainOptionsFromArgs([...tinyFlags(data, exp), '--input_size', String(S)])!;
  await pretrain({ ...o, stdout: new Writable({ write(_c, _e, cb) { cb(); } }) });
  return { data, exp, images: fs.readdirSync(data).sort().map((f) => path.join(data, f)) };
}

export interface Reply { status: number; headers: http.IncomingHttpHeaders; body: Buffer }

/** One request with `rawPath` on the wire as given. */
export function request(port: number, method: string, rawPath: string, o: { body?: Uint8Array | string; headers?: Record<string, string>; chunked?: boolean } = {}): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { ...o.headers };
    if (o.body !== undefined && !o.chunked) headers['Content-Length'] = Buffer.byteLength(o.body);
    const req = http.request({ host: '127.0.0.1', port, method, path: rawPath, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (o.body !== undefined) {
      if (o.chunked) {        // several writes, no Content-Length: the server only learns the size as it streams
        const b = Buffer.from(o.body);
        for (let i = 0; i < b.length; i += 16384) req.write(b.subarray(i, i + 16384));
      } else req.write(o.body);
    }
    req.end();
  });
}

export const json = (r: Reply): Record<string, unknown> => JSON.parse(r.body.toString('utf8')) as Record<string, unknown>;
