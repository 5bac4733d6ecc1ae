import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { encodePng } from '../../../src/train/monitor/png.js';
import { FILE_VERSION, TensorBoardWriter, readEventFile, readTfRecords } from '../../../src/train/monitor/tensorboard.js';
import { checkNoLeaks, pythonHas, runPython } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

function tmp(): string {
  return mkdtempSync(join(tmpdir(), 'tb-'));
}

/** Bit-at-a-time CRC-32C plus TFRecord's mask, written from the spec independently of torch/io/crc32.ts. */
function refMaskedCrc32c(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0x82f63b78 : c >>> 1;
  }
  const crc = (c ^ 0xffffffff) >>> 0;
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}

function writeSample(dir: string) {
  const w = new TensorBoardWriter(dir);
  const img = Uint8Array.from({ length: 4 * 5 * 3 }, (_, i) => (i * 37) & 0xff);
  const png = encodePng(img, 4, 5);
  w.addScalar('pt_train_loss/loss', 0.5, 7, 1700000000.25);
  w.addScalar('pt_train_hp/lr_max/sche_lr', 1.234e-4, 2 ** 40, 1700000001.5);
  w.addImagePng('vis/recon', png, 4, 5, 3, 1700000002);
  return { w, png };
}

test('TensorBoardWriter: file name, framing and values read back', () => {
  const dir = tmp();
  try {
    const { w, png } = writeSample(dir);
    // Readable while the writer is still open (the run goes on).
    const live = readEventFile(w.path);
    assert.equal(live.length, 4);
    w.close();
    assert.match(basename(w.path), new RegExp(`^events\\.out\\.tfevents\\.\\d{10}\\.${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}$`));
    assert.deepEqual(readdirSync(dir), [basename(w.path)]);

    const ev = readEventFile(w.path);
    assert.equal(ev.length, 4);
    assert.equal(ev[0]!.fileVersion, FILE_VERSION);
    assert.equal(ev[0]!.summary, undefined);
    assert.ok(Math.abs(ev[0]!.wallTime - Date.now() / 1000) < 60);

    assert.deepEqual(ev[1], { wallTime: 1700000000.25, step: 7, summary: { value: [{ tag: 'pt_train_loss/loss', simpleValue: 0.5 }] } });
    assert.equal(ev[2]!.step, 2 ** 40);
    assert.equal(ev[2]!.wallTime, 1700000001.5);
    assert.equal(ev[2]!.summary!.value[0]!.simpleValue, Math.fround(1.234e-4)); // stored as float32
    const im = ev[3]!.summary!.value[0]!;
    assert.equal(im.tag, 'vis/recon');
    assert.equal(im.simpleValue, undefined);
    assert.deepEqual({ ...im.image!, encodedImageString: undefined }, { height: 4, width: 5, colorspace: 3, encodedImageString: undefined });
    assert.deepEqual(im.image!.encodedImageString, png);
    assert.equal(ev[3]!.step, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TFRecord CRCs agree with an independent CRC-32C implementation', () => {
  const dir = tmp();
  try {
    const { w } = writeSample(dir);
    w.close();
    const buf = readFileSync(w.path);
    const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
    let pos = 0;
    let n = 0;
    while (pos < buf.length) {
      const len = Number(dv.getBigUint64(pos, true));
      assert.equal(dv.getUint32(pos + 8, true), refMaskedCrc32c(buf.subarray(pos, pos + 8)));
      assert.equal(dv.getUint32(pos + 12 + len, true), refMaskedCrc32c(buf.subarray(pos + 12, pos + 12 + len)));
      pos += 16 + len;
      n++;
    }
    assert.equal(pos, buf.length);
    assert.equal(n, 4);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readEventFile reports a corrupted byte as a CRC error and a cut file as truncated', () => {
  const dir = tmp();
  try {
    const { w } = writeSample(dir);
    w.close();
    const good = readFileSync(w.path);
    const firstLen = Number(good.readBigUInt64LE(0));
    const second = 16 + firstLen; // start of the second record

    const dataFlip = Buffer.from(good);
    dataFlip[second + 12 + 3]! ^= 0x01;
    writeFileSync(join(dir, 'data'), dataFlip);
    assert.throws(() => readEventFile(join(dir, 'data')), /data CRC mismatch in record at byte \d+; the file is corrupt/);

    const lenFlip = Buffer.from(good);
    lenFlip[second]! ^= 0x01;
    writeFileSync(join(dir, 'len'), lenFlip);
    assert.throws(() => readEventFile(join(dir, 'len')), /length CRC mismatch/);

    const cut = good.subarray(0, good.length - 5);
    writeFileSync(join(dir, 'cut'), cut);
    assert.throws(() => readEventFile(join(dir, 'cut')), /cut short/);
    assert.equal(readEventFile(join(dir, 'cut'), { allowPartialTail: true }).length, 3);
    assert.equal(readTfRecords(new Uint8Array(0)).length, 0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('TensorBoardWriter rejects bad input and use after close', () => {
  const dir = tmp();
  try {
    const w = new TensorBoardWriter(dir);
    const png = encodePng(new Uint8Array(2 * 3 * 3), 2, 3);
    assert.throws(() => w.addImagePng('x', png, 3, 2, 0), /PNG is 2×3 but 3×2 was given/);
    assert.throws(() => w.addImagePng('x', new Uint8Array(40), 2, 3, 0), /not a PNG/);
    assert.throws(() => w.addScalar('x', 1, 1.5), /step 1.5 is not an integer/);
    // A second writer in the same second gets its own file.
    const w2 = new TensorBoardWriter(dir);
    assert.notEqual(w2.path, w.path);
    w2.close();
    w.close();
    assert.throws(() => w.addScalar('x', 1, 1), /is closed/);
    assert.throws(() => new TensorBoardWriter(''), /logDir is empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

// The two Event/Summary messages with TensorBoard's field numbers, for protoc's independent decoder.
const EVENT_PROTO = `syntax = "proto3";
package tb;
message Image { int32 height = 1; int32 width = 2; int32 colorspace = 3; bytes encoded_image_string = 4; }
message Value { string tag = 1; oneof value { float simple_value = 2; Image image = 4; } }
message Summary { repeated Value value = 1; }
message Event { double wall_time = 1; int64 step = 2; oneof what { string file_version = 3; Summary summary = 5; } }
`;

test('event payloads decode with protoc (skipped without protoc)', (t) => {
  if (spawnSync('protoc', ['--version']).status !== 0) {
    t.skip('protoc not installed (apt-get install protobuf-compiler) to cross-check the encoding');
    return;
  }
  const dir = tmp();
  try {
    const { w } = writeSample(dir);
    w.close();
    writeFileSync(join(dir, 'event.proto'), EVENT_PROTO);
    const records = readTfRecords(readFileSync(w.path));
    const decode = (rec: Uint8Array) => {
      const r = spawnSync('protoc', [`--proto_path=${dir}`, '--decode=tb.Event', 'event.proto'], { input: rec, encoding: 'utf8' });
      assert.equal(r.status, 0, r.stderr);
      return r.stdout;
    };
    assert.match(decode(records[0]!), /file_version: "brain\.Event:2"/);
    const s = decode(records[1]!);
    assert.match(s, /wall_time: 1700000000\.25\n/);
    assert.match(s, /step: 7\n/);
    assert.match(s, /tag: "pt_train_loss\/loss"/);
    assert.match(s, /simple_value: 0\.5\n/);
    assert.match(decode(records[2]!), /step: 1099511627776\n/);
    const im = decode(records[3]!);
    assert.match(im, /height: 4\n\s*width: 5\n\s*colorspace: 3\n\s*encoded_image_string: "\\211PNG/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('event files load in TensorBoard itself (skipped when tensorboard is not installed)', (t) => {
  if (!pythonHas('tensorboard')) {
    t.skip('python3 has no tensorboard package (Debian ships none; npm/apt are the only registries here)');
    return;
  }
  const dir = tmp();
  try {
    const { w } = writeSample(dir);
    w.close();
    const py = [
      'import sys',
      'from tensorboard.backend.event_processing.event_file_loader import RawEventFileLoader',
      'from tensorboard.compat.proto import event_pb2',
      'for raw in RawEventFileLoader(sys.argv[1]).Load():',
      '  e = event_pb2.Event.FromString(raw)',
      '  for v in e.summary.value:',
      '    print(e.step, v.tag, v.simple_value if v.HasField("simple_value") else v.image.width)',
    ].join('\n');
    assert.deepEqual(runPython(py, [w.path]).trim().split('\n'), ['7 pt_train_loss/loss 0.5', `${2 ** 40} pt_train_hp/lr_max/sche_lr ${Math.fround(1.234e-4)}`, '3 vis/recon 5']);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
