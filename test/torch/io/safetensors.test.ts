import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { DTYPES, type RawTensor, itemSize } from '../../../src/torch/io/dtypes.js';
import { numel, toNumbers } from '../../../src/torch/io/raw.js';
import { SafetensorsReader, readSafetensors, writeSafetensors } from '../../../src/torch/io/safetensors.js';
import { golden, tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

function random(dtype: RawTensor['dtype'], shape: number[]): RawTensor {
  const data = new Uint8Array(randomBytes(numel(shape) * itemSize(dtype)));
  if (dtype === 'bool') for (let i = 0; i < data.length; i++) data[i] &= 1;
  return { dtype, shape, data };
}

/** A hand-made file: 8-byte length, header text (padded), data bytes. */
function handMade(file: string, header: string, data: Uint8Array): void {
  const h = new TextEncoder().encode(header);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(h.byteLength));
  fs.writeFileSync(file, Buffer.concat([len, h, data]));
}

test('round trip: every dtype, scalars, empty tensors, metadata, order', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.safetensors');
  const tensors = new Map<string, RawTensor>();
  // odd element counts of small dtypes first: the writer must still keep every tensor aligned
  for (const d of [...DTYPES].reverse()) tensors.set(`t.${d}`, random(d, [3, 5]));
  tensors.set('scalar', random('float64', []));
  tensors.set('empty', random('float32', [0, 4]));
  const metadata = { format: 'pt', note: 'ünïcode ✓', json: JSON.stringify({ a: [1, 2] }) };
  writeSafetensors(file, tensors, metadata);
  const back = readSafetensors(file);
  assert.deepEqual(back.metadata, metadata);
  assert.deepEqual([...back.tensors.keys()], [...tensors.keys()]);
  for (const [k, t] of tensors) assert.deepEqual(back.tensors.get(k), t, k);
  // the file obeys the format: header length multiple of 8, data offsets aligned to item size
  const raw = fs.readFileSync(file);
  const n = Number(raw.readBigUInt64LE(0));
  assert.equal(n % 8, 0);
  const header = JSON.parse(raw.subarray(8, 8 + n).toString('utf8'));
  for (const [k, t] of tensors) assert.equal(header[k].data_offsets[0] % itemSize(t.dtype), 0, `${k} aligned`);
  assert.equal(fs.readdirSync(dir).length, 1, 'no temporary file left');
});

test('record input and lazy reader', () => {
  const file = path.join(tmpDir(), 'b.safetensors');
  const w = random('int32', [4]);
  writeSafetensors(file, { w });
  const r = SafetensorsReader.open(file);
  try {
    assert.deepEqual(r.names, ['w']);
    assert.deepEqual(r.metadata, {});
    assert.deepEqual(r.read('w'), w);
    assert.throws(() => r.read('nope'), /no tensor named "nope"/);
  } finally {
    r.close();
  }
});

test('golden safetensors written by the reference generator', () => {
  const { tensors, metadata } = readSafetensors(golden('resnet_basic_96.safetensors'));
  const input = tensors.get('input');
  assert.equal(input?.dtype, 'float32');
  assert.deepEqual(input?.shape, [3, 3, 96, 96]);
  const active = tensors.get('active');
  assert.equal(active?.dtype, 'uint8');
  assert.deepEqual(active?.shape, [3, 1, 3, 3]);
  // mask ratio 0.6 on a 3x3 grid keeps round(9 * 0.4) = 4 patches per sample
  const a = toNumbers(active!);
  for (let b = 0; b < 3; b++) assert.equal(a.slice(b * 9, b * 9 + 9).reduce((s, x) => s + x, 0), 4);
  const loss = tensors.get('loss');
  assert.equal(loss?.dtype, 'float64');
  assert.equal(toNumbers(loss!)[0], JSON.parse(metadata.loss));
  assert.deepEqual(JSON.parse(metadata.feature_channels), [16, 32, 64, 128]);
  const names = JSON.parse(metadata.param_names) as string[];
  for (const n of names) {
    const p = tensors.get(`state.${n}`);
    const g = tensors.get(`grad.${n}`);
    assert.ok(p && g, n);
    assert.deepEqual(g.shape, p.shape, n);
  }
  assert.deepEqual(tensors.get('state.sparse_encoder.sp_cnn.conv1.weight')?.shape, [16, 3, 7, 7]);
});

test('bad files: one clear error naming the file and the problem', () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.safetensors');
  writeSafetensors(good, { x: random('float32', [10]), y: random('int64', [3]) });
  const bytes = fs.readFileSync(good);
  const bad = path.join(dir, 'bad.safetensors');

  fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 5));
  assert.throws(() => readSafetensors(bad), (e: Error) => e.message.includes(bad) && /truncated/.test(e.message));
  fs.writeFileSync(bad, bytes.subarray(0, 30));
  assert.throws(() => readSafetensors(bad), /exceeds the file's 22 remaining bytes/);
  fs.writeFileSync(bad, bytes.subarray(0, 5));
  assert.throws(() => readSafetensors(bad), /truncated \(5 bytes/);
  fs.writeFileSync(bad, Buffer.concat([bytes, Buffer.from([1, 2, 3])]));
  assert.throws(() => readSafetensors(bad), /3 bytes after the last tensor/);
  assert.throws(() => readSafetensors(path.join(dir, 'missing.safetensors')), /does not exist/);

  handMade(bad, '{"x": {"dtype": "F32", "shape": [2]', new Uint8Array(8));
  assert.throws(() => readSafetensors(bad), /header is not valid JSON/);
  handMade(bad, '{"x": {"dtype": "F8_E4M3", "shape": [2], "data_offsets": [0, 2]}}', new Uint8Array(2));
  assert.throws(() => readSafetensors(bad), /tensor "x": unsupported dtype "F8_E4M3"/);
  handMade(bad, '{"x": {"dtype": "F32", "shape": [3], "data_offsets": [0, 8]}}', new Uint8Array(8));
  assert.throws(() => readSafetensors(bad), /needs 12 bytes but data_offsets span 8/);
  handMade(bad, '{"x": {"dtype": "U8", "shape": [2], "data_offsets": [0, 2]}, "y": {"dtype": "U8", "shape": [2], "data_offsets": [1, 3]}}', new Uint8Array(3));
  assert.throws(() => readSafetensors(bad), /overlapping or gapped/);
  handMade(bad, '{"__metadata__": {"a": 1}}', new Uint8Array(0));
  assert.throws(() => readSafetensors(bad), /__metadata__.a must be a string/);
  handMade(bad, '[1, 2]', new Uint8Array(0));
  assert.throws(() => readSafetensors(bad), /does not start with/);
});

test('writer rejects malformed tensors before touching the file', () => {
  const file = path.join(tmpDir(), 'w.safetensors');
  fs.writeFileSync(file, 'old');
  const t = { dtype: 'float32' as const, shape: [3], data: new Uint8Array(8) };
  assert.throws(() => writeSafetensors(file, { t }), /tensor "t": float32 shape \[3\] needs 12 bytes but data has 8/);
  assert.throws(() => writeSafetensors(file, { x: random('uint8', [1]) }, { k: 5 as unknown as string }), /metadata k must be a string/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
});
