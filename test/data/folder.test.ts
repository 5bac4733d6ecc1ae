import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { listImages, resolveImageRoot } from '../../src/data/folder.js';
import { rmrf, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

function touch(root: string, ...rels: string[]): void {
  for (const r of rels) {
    fs.mkdirSync(path.dirname(path.join(root, r)), { recursive: true });
    fs.writeFileSync(path.join(root, r), 'x');
  }
}

test('any folder is searched recursively, all extensions in any case, in sorted depth-first order', () => {
  const root = tempDir();
  try {
    touch(root, 'b.PNG', 'a/z.jpg', 'a-b/y.JPEG', 'a/c/x.webp', 'c.bmp', 'd.TIF', 'e.tiff', 'notes.txt', '.hidden.jpg', '.cache/q.png', 'a/readme.md');
    const rel = listImages(root).map((f) => path.relative(root, f));
    // Python's sorted() per directory: 'a' < 'a-b' < 'b.PNG' < 'c.bmp' ..., depth first
    assert.deepEqual(rel, ['a/c/x.webp', 'a/z.jpg', 'a-b/y.JPEG', 'b.PNG', 'c.bmp', 'd.TIF', 'e.tiff']);
    for (const f of listImages(root)) assert.ok(path.isAbsolute(f));
  } finally {
    rmrf(root);
  }
});

test('ImageNet layout: <root>/train is used (val is not mixed in)', () => {
  const root = tempDir();
  try {
    touch(root, 'train/n01/a.JPEG', 'train/n02/b.JPEG', 'val/n01/c.JPEG');
    assert.equal(resolveImageRoot(root), path.join(root, 'train'));
    assert.deepEqual(listImages(root).map((f) => path.relative(root, f)), ['train/n01/a.JPEG', 'train/n02/b.JPEG']);
    // pointing at train/ directly works too
    assert.equal(listImages(path.join(root, 'train')).length, 2);
  } finally {
    rmrf(root);
  }
});

test('symlinked folders are followed once', () => {
  const root = tempDir();
  try {
    touch(root, 'real/a.png');
    fs.symlinkSync(path.join(root, 'real'), path.join(root, 'link'));
    fs.symlinkSync(root, path.join(root, 'real', 'loop'));
    assert.equal(listImages(root).length, 1);
  } finally {
    rmrf(root);
  }
});

test('missing path, file instead of folder, empty folder, no images: one clear line each', () => {
  const root = tempDir();
  try {
    const missing = path.join(root, 'nope');
    assert.throws(() => listImages(missing), (e: Error) => {
      assert.match(e.message, /^data path not found: .*nope \(pass --data_path/);
      assert.ok(!e.message.includes('\n'));
      return true;
    });
    touch(root, 'file.jpg');
    assert.throws(() => listImages(path.join(root, 'file.jpg')), /^Error: data path is not a directory: .*file\.jpg \(pass the folder/);
    const empty = path.join(root, 'empty');
    fs.mkdirSync(empty);
    assert.throws(() => listImages(empty), /^Error: data path is empty: .*empty \(put images/);
    const docs = path.join(root, 'docs');
    touch(docs, 'a.txt', 'sub/b.csv');
    assert.throws(() => listImages(docs), /^Error: no images found under .*docs: 2 file\(s\), none with an image extension \(\.jpg .*\) \(pass --data_path/);
  } finally {
    rmrf(root);
  }
});
