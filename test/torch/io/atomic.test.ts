import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../../src/torch/io/atomic.js';
import { tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('writeFileAtomic replaces the file and leaves no temporary', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt.bin');
  fs.writeFileSync(file, 'old');
  writeFileAtomic(file, (fd) => { fs.writeSync(fd, 'new content'); });
  assert.equal(fs.readFileSync(file, 'utf8'), 'new content');
  assert.deepEqual(fs.readdirSync(dir), ['ckpt.bin']);
});

test('a failing writer keeps the old file and removes the temporary', () => {
  const dir = tmpDir();
  const file = path.join(dir, 'ckpt.bin');
  fs.writeFileSync(file, 'old');
  assert.throws(() => writeFileAtomic(file, (fd) => {
    fs.writeSync(fd, 'half written');
    assert.ok(fs.existsSync(`${file}.tmp-${process.pid}`), 'writes go to the temporary');
    throw new Error('disk on fire');
  }), /disk on fire/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.deepEqual(fs.readdirSync(dir), ['ckpt.bin']);
});

test('a missing folder is a clear error', () => {
  const file = path.join(tmpDir(), 'no', 'such', 'x.bin');
  assert.throws(() => writeFileAtomic(file, () => {}), /folder .*no[/\\]such does not exist/);
});
