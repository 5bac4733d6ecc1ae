import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../../src/torch/io/atomic.js';
import { ZIP_ALIGNMENT, ZipReader, ZipWriter } from '../../../src/torch/io/zip.js';
import { golden, pythonHas, runPython, tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const entries: [string, Uint8Array][] = [
  ['archive/data.pkl', new Uint8Array(randomBytes(1234))],
  ['archive/data/0', new Uint8Array(0)],
  ['archive/data/1', new Uint8Array(randomBytes(100_001))],
  ['archive/ünï/名前', new TextEncoder().encode('utf-8 names')],
  ['archive/version', new TextEncoder().encode('3\n')],
];

function write(file: string, forceZip64 = false): void {
  writeFileAtomic(file, (fd) => {
    const z = new ZipWriter(fd, { forceZip64 });
    for (const [name, data] of entries) z.add(name, data);
    z.finish();
  });
}

/** Where an entry's data starts, parsed from its local header here (independently of the reader). */
function dataStart(file: string | Buffer, headerOffset: number): number {
  const b = typeof file === 'string' ? fs.readFileSync(file) : file;
  assert.equal(b.readUInt32LE(headerOffset), 0x04034b50);
  return headerOffset + 30 + b.readUInt16LE(headerOffset + 26) + b.readUInt16LE(headerOffset + 28);
}

const PY_READ = `
import json, sys, zipfile
z = zipfile.ZipFile(sys.argv[1])
assert z.testzip() is None  # every CRC
print(json.dumps([[i.filename, i.compress_type, z.read(i).hex()] for i in z.infolist()]))`;

for (const zip64 of [false, true]) {
  test(`write then read back${zip64 ? ' (forced zip64 records)' : ''}: data, order, 64-byte alignment`, (t) => {
    const file = path.join(tmpDir(), 'a.zip');
    write(file, zip64);
    const r = ZipReader.open(file);
    try {
      assert.deepEqual([...r.entries.keys()], entries.map(([n]) => n));
      for (const [name, data] of entries) {
        assert.deepEqual(r.read(name), data, name);
        const e = r.entries.get(name)!;
        assert.equal(e.method, 0);
        assert.equal(dataStart(file, e.localHeaderOffset) % ZIP_ALIGNMENT, 0, `${name} aligned`);
      }
      assert.deepEqual(r.readRange('archive/data/1', 10, 5), entries[2][1].subarray(10, 15));
      assert.throws(() => r.readRange('archive/data/1', 100_000, 5), /outside the entry's 100001 bytes/);
    } finally {
      r.close();
    }
    if (!pythonHas('zipfile')) { t.skip('no /usr/bin/python3 to cross-check'); return; }
    const py = JSON.parse(runPython(PY_READ, [file])) as [string, number, string][];
    assert.deepEqual(py, entries.map(([n, d]) => [n, 0, Buffer.from(d).toString('hex')]));
  });
}

test('torch.save zips: every record of the golden files reads with a valid CRC, at 64-byte alignment', () => {
  for (const f of ['resnet_basic_96.timm_style.pth', 'resnet_basic_96.spark_style.pth']) {
    const r = ZipReader.open(golden(f));
    const bytes = fs.readFileSync(golden(f));
    try {
      const folder = f.slice(0, -'.pth'.length);
      assert.ok(r.has(`${folder}/data.pkl`));
      assert.equal(new TextDecoder().decode(r.read(`${folder}/version`)), '3\n');
      for (const e of r.entries.values()) {
        r.read(e.name);
        assert.equal(dataStart(bytes, e.localHeaderOffset) % 64, 0, e.name);
      }
    } finally {
      r.close();
    }
  }
});

test('deflated entries written by Python zipfile are readable', (t) => {
  if (!pythonHas('zipfile')) { t.skip('no /usr/bin/python3'); return; }
  const file = path.join(tmpDir(), 'd.zip');
  runPython(`
import sys, zipfile
with zipfile.ZipFile(sys.argv[1], 'w', zipfile.ZIP_DEFLATED) as z:
    z.writestr('x/a.txt', 'hello ' * 1000)
    z.writestr(zipfile.ZipInfo('x/b.bin'), bytes(range(256)), zipfile.ZIP_STORED)`, [file]);
  const r = ZipReader.open(file);
  try {
    assert.equal(r.entries.get('x/a.txt')?.method, 8);
    assert.equal(new TextDecoder().decode(r.read('x/a.txt')), 'hello '.repeat(1000));
    assert.deepEqual(r.read('x/b.bin'), Uint8Array.from({ length: 256 }, (_, i) => i));
  } finally {
    r.close();
  }
});

test('corrupt and truncated archives give clear errors', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'a.zip');
  write(file);
  const bytes = fs.readFileSync(file);
  const bad = path.join(dir, 'bad.zip');

  fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 100));
  assert.throws(() => ZipReader.open(bad), (e: Error) => e.message.includes(bad) && /no end-of-central-directory record \(truncated/.test(e.message));
  fs.writeFileSync(bad, bytes.subarray(0, 10));
  assert.throws(() => ZipReader.open(bad), /not a zip archive \(only 10 bytes\)/);

  // flip one byte inside archive/data/1's data: its CRC no longer matches
  const r0 = ZipReader.open(file);
  const e = r0.entries.get('archive/data/1')!;
  r0.close();
  const flipped = Buffer.from(bytes);
  flipped[dataStart(file, e.localHeaderOffset) + 500] ^= 0xff;
  fs.writeFileSync(bad, flipped);
  const r = ZipReader.open(bad);
  try {
    assert.throws(() => r.read('archive/data/1'), /entry archive\/data\/1: CRC-32 mismatch/);
    assert.throws(() => r.read('nope'), /no entry named nope/);
  } finally {
    r.close();
  }
});
