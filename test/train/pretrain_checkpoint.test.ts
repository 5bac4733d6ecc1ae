// Checkpoint writes are atomic: a process killed half-way through writing a checkpoint, or a write
// that fails half-way (disk full), leaves the previous checkpoint byte for byte, and the partial temp
// file can never be taken for it.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import * as torch from '../../src/torch/index.js';
import { createPretrainEncoder } from '../../src/models/index.js';
import { SparK } from '../../src/spark/index.js';
import { saveSparkStyle, loadCheckpoint, disposeCheckpoint, sparkStyleName } from '../../src/train/checkpoint.js';
import { checkNoLeaks, repoRoot } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';

checkNoLeaks();

let dir = '';
let ckpt = '';
let before_ = '';
const sha = (file: string): string => createHash('sha256').update(fs.readFileSync(file)).digest('hex');

const tinySpark = (): SparK => new SparK(createPretrainEncoder('resnet18'), { inputSize: 32, maskRatio: 0.6, densifyNorm: 'bn', decoderWidth: 32 });

before(() => {
  dir = tempDir('sparkts-ckpt-');
  ckpt = path.join(dir, sparkStyleName('resnet18'));
  torch.manualSeed(1);
  const model = tinySpark();
  const opt = new torch.optim.LAMB(model.parameters(), { lr: 1e-3 });
  try {
    saveSparkStyle(ckpt, model, { args: 'Args()', arch: 'resnet18', inputSize: 32, epoch: 4, performanceDesc: 'first', optimizer: opt });
  } finally {
    for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  }
  before_ = sha(ckpt);
});
after(() => rmrf(dir));

/** The old checkpoint is intact: same bytes, loads, and holds what was saved first. */
function assertIntact(): void {
  assert.equal(sha(ckpt), before_, 'the previous checkpoint is byte-identical');
  const c = loadCheckpoint(ckpt);
  try {
    assert.equal(c.performanceDesc, 'first');
    assert.equal(c.epoch, 4);
  } finally { disposeCheckpoint(c); }
}

test('a process SIGKILLed half-way through writing a checkpoint leaves the previous one intact', async () => {
  // The child saves another model over `ckpt`; its fs.writeSync (through which the zip writer writes)
  // is wrapped to stop dead, mid-file, once 8 MB are written, and to tell us so. We then SIGKILL it:
  // no exception handler, no cleanup, exactly like a power cut or the OOM killer.
  const dist = pathToFileURL(path.join(repoRoot(), 'dist')).href;
  const child = `
    import fs from 'node:fs';
    const torch = await import('${dist}/src/torch/index.js');
    const { createPretrainEncoder } = await import('${dist}/src/models/index.js');
    const { SparK } = await import('${dist}/src/spark/index.js');
    const { saveSparkStyle } = await import('${dist}/src/train/checkpoint.js');
    torch.manualSeed(2);
    const model = new SparK(createPretrainEncoder('resnet18'), { inputSize: 32, maskRatio: 0.6, densifyNorm: 'bn', decoderWidth: 32 });
    const opt = new torch.optim.LAMB(model.parameters(), { lr: 1e-3 });
    const write = fs.writeSync;
    let written = 0;
    fs.writeSync = (fd, ...rest) => {
      const n = write(fd, ...rest);
      if (fd > 2 && (written += n) > 8e6) {
        write(1, 'HALF ' + written + '\\n');
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0);   // hang here until killed
      }
      return n;
    };
    saveSparkStyle(process.env.CKPT, model, { args: 'Args()', arch: 'resnet18', inputSize: 32, epoch: 9, performanceDesc: 'second', optimizer: opt });
    write(1, 'DONE\\n');
  `;
  const p = spawn(process.execPath, ['--input-type=module', '-e', child], { env: { ...process.env, CKPT: ckpt }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '', err = '';
  p.stderr.on('data', (d) => { err += String(d); });
  const exited = new Promise<[number | null, NodeJS.Signals | null]>((res) => p.on('exit', (c, s) => res([c, s])));
  const tmp = `${ckpt}.tmp-${p.pid}`;
  await new Promise<void>((res, rej) => {
    p.stdout.on('data', (d) => {
      out += String(d);
      if (out.includes('HALF')) res();
      if (out.includes('DONE')) rej(new Error('the child finished its write: the interruption did not happen'));
    });
    p.on('exit', () => rej(new Error(`the child exited before being killed: ${out} ${err}`)));
  });
  // mid-write: the temp file exists beside the checkpoint, partly written; the checkpoint is untouched
  const partial = fs.statSync(tmp).size;
  assert.ok(partial > 0 && partial < fs.statSync(ckpt).size, `temp file ${partial} bytes, checkpoint ${fs.statSync(ckpt).size}`);
  p.kill('SIGKILL');
  assert.deepEqual(await exited, [null, 'SIGKILL']);

  assertIntact();
  // the torn temp file stays behind (nothing ran to remove it) under a name no reader looks for:
  // not the checkpoint's name, not ending in .pth; read directly, it is refused with one clear line
  assert.ok(fs.existsSync(tmp));
  assert.ok(!tmp.endsWith('.pth'));
  assert.deepEqual(fs.readdirSync(dir).filter((f) => f.endsWith('.pth')), [path.basename(ckpt)]);
  assert.throws(() => loadCheckpoint(tmp), (e: Error) => /could not be read .*truncated or not a torch\.save file/.test(e.message) && !e.message.includes('\n'));
  fs.unlinkSync(tmp);
});

test('a write that fails half-way (disk full) leaves the previous checkpoint intact and removes its temp file', () => {
  torch.manualSeed(3);
  const model = tinySpark();
  const opt = new torch.optim.LAMB(model.parameters(), { lr: 1e-3 });
  // ESM's default 'node:fs' export is the object the zip writer calls writeSync on
  const write = fs.writeSync;
  let written = 0;
  (fs as { writeSync: unknown }).writeSync = (fd: number, ...rest: unknown[]): number => {
    if (fd > 2 && written > 8e6) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
    const n = (write as (fd: number, ...a: unknown[]) => number)(fd, ...rest);
    if (fd > 2) written += n;
    return n;
  };
  try {
    assert.throws(() => saveSparkStyle(ckpt, model, { args: 'Args()', arch: 'resnet18', inputSize: 32, epoch: 9, performanceDesc: 'second', optimizer: opt }), /ENOSPC/);
  } finally {
    (fs as { writeSync: unknown }).writeSync = write;
    for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  }
  assert.ok(written > 8e6, 'the failure came mid-file');
  assertIntact();
  assert.deepEqual(fs.readdirSync(dir), [path.basename(ckpt)], 'no temp file left behind');
});
