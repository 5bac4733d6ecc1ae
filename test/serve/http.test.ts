// `spark serve` over HTTP: the run API reads what a real (tiny) run wrote; only files of the exp dir are
// served (traversal by '..', percent-encoding, absolute paths and symlinks is refused with a 4xx and
// leaks nothing); uploads over the limit get 413, non-images a 4xx with a message, and the server keeps
// serving; the playground's picture is byte for byte what `spark reconstruct` writes for the same image,
// mask ratio and seed, and a hand-made mask is applied patch by patch.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { startServer, SerialQueue, type RunningServer } from '../../src/serve/index.js';
import { sparkStyleName, timmStyleName } from '../../src/train/checkpoint.js';
import { reconstructCommand } from '../../src/cli/reconstruct.js';
import { serveCommand } from '../../src/cli/serve.js';
import { IMAGENET_MEAN } from '../../src/train/monitor/index.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { decodePng } from '../train/monitor/pngdecode.js';
import { spark, assertOneErrorLine } from '../cli/support.js';
import { tinyRun, request, json, S } from './support.js';


const SECRET = 'TOP-SECRET-outside-the-exp-dir';
const LIMIT = 256 * 1024;
let root = '', exp = '', images: string[] = [];
let srv: RunningServer;

before(async () => {
  root = tempDir('sparkts-serve-');
  ({ exp, images } = await tinyRun(root));
  fs.writeFileSync(path.join(root, 'secret.txt'), SECRET);
  fs.symlinkSync(root, path.join(exp, 'up'));                                  // a folder link leading out
  fs.symlinkSync(path.join(root, 'secret.txt'), path.join(exp, 'leak.txt'));   // a file link leading out
  fs.symlinkSync(path.join(exp, 'reconstructions', 'ep0000.png'), path.join(exp, 'alias.png'));   // one that stays inside
  srv = await startServer({ expDir: exp, port: 0, maxUploadBytes: LIMIT });
});
after(async () => { await srv?.close(); rmrf(root); });
// registered after the hooks above: counts once the run is made, checks once the server (and its cached model) is closed
checkNoLeaks();

test('the page and its assets come from the package; unknown paths are 404', async () => {
  const page = await request(srv.port, 'GET', '/');
  assert.equal(page.status, 200);
  assert.match(String(page.headers['content-type']), /^text\/html/);
  for (const src of page.body.toString().matchAll(/(?:src|href)="(\/static\/[^"]+)"/g)) {
    const a = await request(srv.port, 'GET', src[1]);
    assert.equal(a.status, 200, src[1]);
  }
  assert.doesNotMatch(page.body.toString(), /https?:\/\//, 'no asset from another host (no CDN)');
  assert.equal((await request(srv.port, 'GET', '/static/nope.js')).status, 404);
  assert.equal((await request(srv.port, 'GET', '/nope')).status, 404);
});

test('/api/run lists the run\'s logs, checkpoints (epoch, arch, size) and reconstruction grids', async () => {
  const r = json(await request(srv.port, 'GET', '/api/run'));
  assert.deepEqual(r.logs, ['pretrain_log.txt']);
  const ck = r.checkpoints as { name: string; kind: string; epoch?: number; arch?: string; size: number; maskRatio?: number }[];
  const spark = ck.find((c) => c.name === sparkStyleName('resnet18'))!;
  assert.deepEqual([spark.kind, spark.epoch, spark.arch, spark.maskRatio], ['spark', 1, 'resnet18', 0.6]);
  assert.equal(spark.size, fs.statSync(path.join(exp, sparkStyleName('resnet18'))).size);
  assert.equal(ck.find((c) => c.name === timmStyleName('resnet18'))?.kind, 'timm');
  assert.deepEqual(r.reconstructions, [{ epoch: 0, path: 'reconstructions/ep0000.png' }, { epoch: 1, path: 'reconstructions/ep0001.png' }]);
});

test('/api/log gives the log\'s lines from an offset, complete lines only', async () => {
  const file = path.join(exp, 'pretrain_log.txt');
  const lines = fs.readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
  const r = json(await request(srv.port, 'GET', '/api/log?file=pretrain_log.txt&offset=0'));
  assert.deepEqual(r.headers, lines.filter((l) => 'cmd' in l));
  assert.deepEqual(r.records, lines.filter((l) => !('cmd' in l)));
  assert.equal((r.records as unknown[]).length, 2, 'one line per epoch');
  assert.equal(r.offset, fs.statSync(file).size);
  for (const k of ['last_L', 'lr', 'wd', 'grad_norm', 'data_wait_pct']) assert.equal(typeof (r.records as Record<string, unknown>[])[1][k], 'number', k);

  const half = '{"cur_ep":"3/2","last_L":0.5';
  fs.appendFileSync(file, half);
  const r2 = json(await request(srv.port, 'GET', `/api/log?file=pretrain_log.txt&offset=${r.offset}`));
  assert.deepEqual([r2.records, r2.offset], [[], r.offset], 'a line still being written waits for its newline');
  fs.appendFileSync(file, '}\n');
  const r3 = json(await request(srv.port, 'GET', `/api/log?file=pretrain_log.txt&offset=${r.offset}`));
  assert.deepEqual(r3.records, [{ cur_ep: '3/2', last_L: 0.5 }]);
  const r4 = json(await request(srv.port, 'GET', `/api/log?file=pretrain_log.txt&offset=${fs.statSync(file).size + 10}`));
  assert.equal(r4.reset, true, 'an offset past the end (the log was started afresh) asks the page to reread');
  assert.equal((await request(srv.port, 'GET', '/api/log?file=../secret.txt')).status, 404);
});

test('files of the exp dir are served; a symlink that stays inside is followed', async () => {
  const png = fs.readFileSync(path.join(exp, 'reconstructions', 'ep0000.png'));
  for (const p of ['/files/reconstructions/ep0000.png', '/files/reconstructions%2Fep0000.png', '/files/alias.png']) {
    const r = await request(srv.port, 'GET', p);
    assert.equal(r.status, 200, p);
    assert.equal(r.headers['content-type'], 'image/png');
    assert.ok(r.body.equals(png), p);
  }
});

test('path traversal (.., encoded, absolute, symlink escape) is a 4xx and leaks nothing', async () => {
  const secret = path.join(root, 'secret.txt');
  const attempts = [
    '/files/../secret.txt', '/files/reconstructions/../../secret.txt', '/files/%2e%2e/secret.txt', '/files/%2E%2E%2Fsecret.txt',
    '/files/..%2fsecret.txt', '/files/..%5csecret.txt', '/files/%252e%252e/secret.txt', '/files/.%2e/secret.txt',
    `/files/${secret}`, `/files/${encodeURIComponent(secret)}`, '/files//etc/passwd', '/files/%2Fetc%2Fpasswd',
    '/files/up/secret.txt', '/files/leak.txt', '/files/up/exp/../secret.txt',
    '/../secret.txt', '/static/../../package.json', '/static/%2e%2e/%2e%2e/package.json',
    '/files/%00', '/files/%zz', '/files/', '/files/reconstructions',
  ];
  for (const p of attempts) {
    const r = await request(srv.port, 'GET', p);
    assert.ok(r.status >= 400 && r.status < 500, `${p} → ${r.status}`);
    assert.ok(!r.body.toString().includes(SECRET), `${p} leaked the secret`);
    assert.ok(!r.body.toString().includes('root:'), `${p} leaked /etc/passwd`);
  }
  const sym = await request(srv.port, 'GET', '/files/leak.txt');
  assert.equal(sym.status, 403);
  assert.match(json(sym).error as string, /outside the exp dir/);
  assert.equal((await request(srv.port, 'GET', '/api/run')).status, 200, 'still serving');
});

test('a request naming another host is refused (DNS rebinding)', async () => {
  const r = await request(srv.port, 'GET', '/api/run', { headers: { Host: 'evil.example:80' } });
  assert.equal(r.status, 403);
});

test('an upload over the limit is 413 (declared or streamed), and the server keeps serving', async () => {
  const big = new Uint8Array(LIMIT + 1);
  for (const chunked of [false, true]) {
    const r = await request(srv.port, 'POST', '/api/upload?name=big.png', { body: big, chunked });
    assert.equal(r.status, 413, `chunked ${chunked}`);
    assert.match(json(r).error as string, /larger than the server's limit of 0\.25 MB/);
  }
  assert.equal((await request(srv.port, 'GET', '/api/run')).status, 200);
});

test('a non-image or corrupt upload is a 4xx with a message; a good one is accepted after it', async () => {
  const png = fs.readFileSync(images[0]);
  for (const [name, body] of [['notes.txt', 'just some text, not an image'], ['cut.png', png.subarray(0, png.length >> 1)], ['empty.png', '']] as const) {
    const r = await request(srv.port, 'POST', `/api/upload?name=${name}`, { body });
    assert.ok(r.status === 415 || r.status === 400, `${name} → ${r.status}`);
    assert.match(json(r).error as string, name === 'empty.png' ? /empty/ : new RegExp(`could not decode ${name.replace('.', '\\.')} .*pass a readable image`));
  }
  const ok = await request(srv.port, 'POST', '/api/upload?name=good.png', { body: png });
  assert.equal(ok.status, 200);
  assert.equal(typeof json(ok).id, 'string');
});

async function upload(file: string): Promise<string> {
  const r = await request(srv.port, 'POST', `/api/upload?name=${path.basename(file)}`, { body: fs.readFileSync(file) });
  assert.equal(r.status, 200, r.body.toString());
  return json(r).id as string;
}
async function reconstruct(body: Record<string, unknown>): Promise<{ status: number; r: Record<string, unknown>; png?: Uint8Array }> {
  const res = await request(srv.port, 'POST', '/api/reconstruct', { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } });
  const r = json(res);
  const png = typeof r.png === 'string' ? new Uint8Array(Buffer.from((r.png).replace(/^data:image\/png;base64,/, ''), 'base64')) : undefined;
  return { status: res.status, r, png };
}

test('the playground\'s picture is exactly `spark reconstruct`\'s for the same image, mask ratio and seed', async () => {
  const out = path.join(root, 'cli-out');
  const ckpt = path.join(exp, sparkStyleName('resnet18'));
  const log = console.log; console.log = () => {};
  try { assert.equal(await reconstructCommand(['--ckpt', ckpt, '--image', images[1], '--mask', '0.5', '--seed', '7', '--out', out]), 0); } finally { console.log = log; }
  const cli = fs.readFileSync(path.join(out, `${path.parse(images[1]).name}_reconstruction.png`));
  const id = await upload(images[1]);
  const { status, r, png } = await reconstruct({ image: id, ckpt: sparkStyleName('resnet18'), ratio: 0.5, seed: 7 });
  assert.equal(status, 200, JSON.stringify(r));
  assert.deepEqual([r.width, r.height, r.inputSize, r.fmap, r.patch], [4 * S + 5 * 2, S + 2 * 2, S, 2, 32]);
  assert.ok(Buffer.from(png!).equals(cli), 'same PNG bytes as spark reconstruct');
  assert.equal([...(r.visible as string)].filter((c) => c === '1').length, 2, 'ratio 0.5 of 4 patches keeps 2');
  const other = await reconstruct({ image: id, ckpt: sparkStyleName('resnet18'), ratio: 0.5, seed: 8 });
  const again = await reconstruct({ image: id, ckpt: sparkStyleName('resnet18'), ratio: 0.5, seed: 7 });
  assert.ok(Buffer.from(again.png!).equals(cli), 'the same seed draws the same mask again');
  assert.equal(srv.playground.models.loads, 1, 'the model is loaded once and kept');
  void other;
});

test('a hand-made mask is applied patch by patch: masked patches are blank in the masked view, visible ones are the input', async () => {
  const id = await upload(images[2]);
  const { status, r, png } = await reconstruct({ image: id, ckpt: sparkStyleName('resnet18'), ratio: 0.6, seed: 0, visible: '1001' });
  assert.equal(status, 200, JSON.stringify(r));
  assert.equal(r.visible, '1001');
  const img = decodePng(png!);
  const at = (cell: number, x: number, y: number): number[] => {
    const px = 2 + cell * (S + 2) + x, py = 2 + y;
    const o = (py * img.width + px) * img.channels;
    return [...img.pixels.subarray(o, o + 3)];
  };
  const mean = IMAGENET_MEAN.map((m) => Math.round(m * 255));
  for (const [i, j, visible] of [[0, 0, true], [0, 1, false], [1, 0, false], [1, 1, true]] as const) {
    const x = j * 32 + 9, y = i * 32 + 13;
    if (visible) assert.deepEqual(at(1, x, y), at(0, x, y), `patch ${i},${j} visible: masked view = input`);
    else {
      for (const [c, v] of at(1, x, y).entries()) assert.ok(Math.abs(v - mean[c]) <= 1, `patch ${i},${j} masked: the mean colour, got ${at(1, x, y)}`);
      assert.deepEqual(at(2, x, y), at(3, x, y), `patch ${i},${j} masked: the reconstruction shows the model's output`);
    }
  }
  const bad = await reconstruct({ image: id, ckpt: sparkStyleName('resnet18'), ratio: 0.6, seed: 0, visible: '101' });
  assert.equal(bad.status, 400);
  assert.match(bad.r.error as string, /the mask has 3 patches but this checkpoint's model takes 2×2/);
  const timm = await reconstruct({ image: id, ckpt: timmStyleName('resnet18'), ratio: 0.6, seed: 0 });
  assert.equal(timm.status, 422);
  assert.match(timm.r.error as string, /holds encoder weights only/);
  const outside = await reconstruct({ image: id, ckpt: '../secret.txt', ratio: 0.6, seed: 0 });
  assert.ok(outside.status >= 400 && outside.status < 500);
  const stale = await reconstruct({ image: 'no-such-id', ckpt: sparkStyleName('resnet18'), ratio: 0.6, seed: 0 });
  assert.equal(stale.status, 404);
});

test('--ckpt offers a checkpoint from elsewhere in the playground without serving its folder', async () => {
  const elsewhere = path.join(root, 'elsewhere');
  fs.mkdirSync(elsewhere);
  const file = path.join(elsewhere, 'mine.pth');
  fs.copyFileSync(path.join(exp, sparkStyleName('resnet18')), file);
  const other = await startServer({ expDir: exp, port: 0, ckpt: file });
  try {
    const ck = json(await request(other.port, 'GET', '/api/run')).checkpoints as { name: string; label?: string; kind: string; epoch?: number }[];
    assert.deepEqual([ck[0].name, ck[0].label, ck[0].kind, ck[0].epoch], ['@ckpt', 'mine.pth (--ckpt)', 'spark', 1]);
    assert.equal((await request(other.port, 'GET', `/files/${encodeURIComponent(file)}`)).status, 403);
    const id = json(await request(other.port, 'POST', '/api/upload?name=a.png', { body: fs.readFileSync(images[0]) })).id;
    const r = await request(other.port, 'POST', '/api/reconstruct', { body: JSON.stringify({ image: id, ckpt: '@ckpt', ratio: 0.6, seed: 1 }) });
    assert.equal(r.status, 200, r.body.toString());
  } finally { await other.close(); }
});

test('requests are answered one at a time, in order, and a failing one does not block the next', async () => {
  const q = new SerialQueue();
  const order: string[] = [];
  const slow = (name: string, ms: number, fail = false) => () => new Promise<string>((res, rej) => setTimeout(() => { order.push(name); if (fail) rej(new Error(name)); else res(name); }, ms));
  const results = await Promise.allSettled([q.run(slow('a', 30)), q.run(slow('b', 1, true)), q.run(slow('c', 1))]);
  assert.deepEqual(order, ['a', 'b', 'c']);
  assert.deepEqual(results.map((r) => r.status), ['fulfilled', 'rejected', 'fulfilled']);
});

test('spark serve prints its URL on loopback, warns when --host is another address, and fails in one line without an exp dir', async () => {
  const log = console.log;
  let printed = '';
  console.log = (...a: unknown[]) => { printed += `${a.join(' ')}\n`; };
  let url = '';
  try {
    assert.equal(await serveCommand(['--exp_dir', exp, '--port', '0'], { onListening: (u) => { url = u; }, stop: Promise.resolve() }), 0);
  } finally { console.log = log; }
  assert.match(url, /^http:\/\/127\.0\.0\.1:\d+\/$/);
  assert.equal(printed, `[serve] ${url}  (exp dir ${fs.realpathSync(exp)}; Ctrl-C to stop)\n`);
  const stop = (text: string, p: import('node:child_process').ChildProcess): void => { if (/\[serve\] http:/.test(text)) p.kill('SIGINT'); };
  const b = await spark(['serve', '--exp_dir', exp, '--port', '0', '--host', '0.0.0.0'], { onStdout: stop, timeoutMs: 30000 });
  assert.equal(b.code, 0, b.stderr);
  assert.match(b.stderr, /^\[serve\] warning: listening on 0\.0\.0\.0, not on loopback/);
  const c = await spark(['serve', '--exp_dir', path.join(root, 'nope')]);
  assertOneErrorLine(c, /^spark: error: --exp_dir .*nope is not a folder; pass the folder a run writes to/, { code: 2 });
});
