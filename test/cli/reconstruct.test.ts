// `spark reconstruct` on a checkpoint of a tiny run: one PNG grid per image (input | masked |
// reconstruction with visible patches | full reconstruction) and one for all; checkpoints it cannot
// use are one clear error line.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { pretrain } from '../../src/train/pretrain.js';
import { sparkStyleName, timmStyleName } from '../../src/train/checkpoint.js';
import { pngSize } from '../../src/train/monitor/index.js';
import { pretrainOptionsFromArgs } from '../../src/cli/pretrain.js';
import { reconstructCommand } from '../../src/cli/reconstruct.js';
import { UsageError } from '../../src/cli/args.js';
import { checkNoLeaks, goldenPath } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { spark, tinyFlags, imageFolder, assertOneErrorLine } from './support.js';

checkNoLeaks();

const S = 64;                                // 2×2 mask patches of 32
const PNG_SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
let root = '', data = '', ckpt = '', timm = '';
let images: string[] = [];

before(async () => {
  root = tempDir('sparkts-rec-');
  data = await imageFolder(path.join(root, 'data'), 4);
  images = fs.readdirSync(data).sort().map((f) => path.join(data, f));
  const exp = path.join(root, 'exp');
  const o = pretrainOptionsFromArgs([...tinyFlags(data, exp), '--input_size', String(S), '--max_iters', '1'])!;
  await pretrain({ ...o, stdout: new Writable({ write(_c, _e, cb) { cb(); } }) });
  ckpt = path.join(exp, sparkStyleName('resnet18'));
  timm = path.join(exp, timmStyleName('resnet18'));
});
after(() => rmrf(root));

/** A PNG file's bytes, after checking its signature. */
function readPng(file: string): Uint8Array {
  const b = new Uint8Array(fs.readFileSync(file));
  assert.deepEqual([...b.subarray(0, 8)], PNG_SIGNATURE, `${file} is a PNG`);
  return b;
}
/** rows × 4 cells of S×S, 2 px of padding around and between */
const gridSize = (rows: number): { height: number; width: number } => ({ height: rows * S + (rows + 1) * 2, width: 4 * S + 5 * 2 });

test('spark reconstruct writes one 1×4 grid per image and a rows×4 grid of all', async () => {
  const out = path.join(root, 'out');
  const r = await spark(['reconstruct', '--ckpt', ckpt, '--image', images[0], images[1], images[2], '--out', out, '--seed', '3']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  const expected = [...images.slice(0, 3).map((f) => `${path.parse(f).name}_reconstruction.png`), 'reconstruction_grid.png'];
  assert.deepEqual(fs.readdirSync(out).sort(), [...expected].sort(), 'the PNGs and nothing else (no temp files)');
  for (const f of expected) assert.match(r.stdout, new RegExp(`wrote ${path.join(out, f).replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
  const pngs = expected.map((f) => readPng(path.join(out, f)));
  for (const p of pngs.slice(0, 3)) assert.deepEqual(pngSize(p), gridSize(1));
  assert.deepEqual(pngSize(pngs[3]), gridSize(3));
  assert.notDeepEqual(pngs[0], pngs[1], 'different images give different pictures');
});

test('spark reconstruct refuses encoder-only (timm-style) weights with one line', async () => {
  const r = await spark(['reconstruct', '--ckpt', timm, '--image', images[0], '--out', path.join(root, 'out-timm')]);
  assertOneErrorLine(r, /^spark: error: .*resnet18_1kpretrained_timm_style\.pth holds encoder weights only; reconstruction needs the decoder: pass a \*_withdecoder_1kpretrained_spark_style\.pth$/, { code: 1 });
  assert.equal(fs.existsSync(path.join(root, 'out-timm')), false, 'nothing written');
});

/** reconstructCommand in this process; its thrown error (what main.js prints), exit class and stderr. */
async function reconstructInProcess(argv: string[]): Promise<{ code: number; error?: Error; stderr: string; stdout: string }> {
  const errWrite = process.stderr.write, log = console.log;
  let stderr = '', stdout = '';
  process.stderr.write = ((s: string | Uint8Array) => { stderr += String(s); return true; }) as typeof process.stderr.write;
  console.log = (...a: unknown[]) => { stdout += `${a.join(' ')}\n`; };
  try {
    return { code: await reconstructCommand(argv), stderr, stdout };
  } catch (e) {
    assert.ok(e instanceof Error);
    return { code: e instanceof UsageError ? 2 : 1, error: e, stderr, stdout };
  } finally { process.stderr.write = errWrite; console.log = log; }
}

test('the reference\'s checkpoint of a model sparkts does not know (resnet_basic_96) is one clear error', async () => {
  const golden = goldenPath('resnet_basic_96.spark_style.pth');
  const r = await reconstructInProcess(['--ckpt', golden, '--image', images[0], '--out', path.join(root, 'out-golden')]);
  assert.equal(r.code, 1);
  assert.match(r.error!.message, /^.*resnet_basic_96\.spark_style\.pth was saved for model 'resnet_basic_96', which sparkts does not know; known: resnet18, .*convnext_large$/);
  assert.equal(r.stderr, '');
});

test('bad reconstruct input: one line each, the right exit class, nothing written', async () => {
  const trunc = path.join(root, 'trunc.pth');
  fs.writeFileSync(trunc, fs.readFileSync(ckpt).subarray(0, 100_000));
  const corrupt = path.join(root, 'corrupt.png');
  fs.writeFileSync(corrupt, Uint8Array.from({ length: 400 }, (_, i) => (i * 7919) & 255));
  const out = path.join(root, 'out-bad');
  const cases: [string[], RegExp, number][] = [
    [['--image', images[0]], /^--ckpt is required; usage: spark reconstruct/, 2],
    [['--ckpt', ckpt], /^give at least one --image; usage: spark reconstruct/, 2],
    [['--ckpt', ckpt, '--image', path.join(root, 'nope.png')], /^image .*nope\.png does not exist$/, 2],
    [['--ckpt', ckpt, '--image', images[0], '--mask', '1.5'], /^--mask must be in \(0, 1\), got 1\.5$/, 2],
    [['--ckpt', trunc, '--image', images[0]], /^checkpoint .*trunc\.pth could not be read \(.*\); it may be truncated or not a torch\.save file$/, 1],
    [['--ckpt', path.join(root, 'nope.pth'), '--image', images[0]], /^checkpoint .*nope\.pth does not exist; check the path$/, 1],
    [['--ckpt', ckpt, '--image', corrupt], /^could not decode .*corrupt\.png; pass readable images$/, 1],
    [['--ckpt', ckpt, '--image', images[0], corrupt], /^could not decode [^,]*corrupt\.png; pass readable images$/, 1],
  ];
  for (const [argv, re, code] of cases) {
    const r = await reconstructInProcess([...argv, '--out', out]);
    assert.ok(r.error, `${argv.join(' ')} fails`);
    assert.ok(!r.error.message.includes('\n'), `one line: ${r.error.message}`);
    assert.match(r.error.message, re);
    assert.equal(r.code, code, `exit class of ${argv.join(' ')}`);
    assert.equal(r.stderr, '', `nothing else on stderr for ${argv.join(' ')}`);
    assert.equal(fs.existsSync(out), false, `nothing written for ${argv.join(' ')}`);
  }
});

test('--mask overrides the checkpoint\'s ratio (with a one-line notice) and still writes the picture', async () => {
  const out = path.join(root, 'out-mask');
  const r = await reconstructInProcess(['--ckpt', ckpt, '--image', images[3], '--mask', '0.25', '--out', out]);
  assert.equal(r.code, 0, r.error?.message);
  assert.match(r.stderr, /^\[warn\] checkpoint .* was made with mask_ratio=0\.6 but this model has mask_ratio=0\.25; .*\n$/);
  assert.deepEqual(pngSize(readPng(path.join(out, `${path.parse(images[3]).name}_reconstruction.png`))), gridSize(1));
});
