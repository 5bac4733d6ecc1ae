import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { openClassificationFolders } from '../../src/data/classes.js';
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

test('ImageNet layout: classes = sorted folder names, files class by class in torchvision ImageFolder order', () => {
  const root = tempDir();
  try {
    touch(
      root,
      'train/dog/b.jpg', 'train/dog/a.PNG', 'train/Cat/z.jpeg', 'train/cat/y.webp', 'train/cat/a-b/q.jpg', 'train/cat/a/p.jpg',
      'train/cat/notes.txt', 'train/.ipynb_checkpoints/x.jpg', 'train/dog/._a.jpg',
      'val/dog/v.jpg', 'val/cat/w.jpg', 'val/Cat/u.jpg',
    );
    const f = openClassificationFolders(root);
    assert.equal(f.root, root);
    // Python's sorted(): upper case first; hidden folders are not classes
    assert.deepEqual(f.classes, ['Cat', 'cat', 'dog']);
    const rel = (xs: string[]): string[] => xs.map((x) => path.relative(root, x));
    // sorted(os.walk(cat)): 'cat' < 'cat/a' < 'cat/a-b' ('/' sorts after '-': 'cat/a-b' > 'cat/a')
    assert.deepEqual(rel(f.train.files), ['train/Cat/z.jpeg', 'train/cat/y.webp', 'train/cat/a/p.jpg', 'train/cat/a-b/q.jpg', 'train/dog/a.PNG', 'train/dog/b.jpg']);
    assert.deepEqual([...f.train.labels], [0, 1, 1, 1, 2, 2]);
    assert.deepEqual(rel(f.val.files), ['val/Cat/u.jpg', 'val/cat/w.jpg', 'val/dog/v.jpg']);
    assert.deepEqual([...f.val.labels], [0, 1, 2]);
    // --data_path D/train or D/val means D, as in the reference
    assert.equal(openClassificationFolders(path.join(root, 'train')).root, root);
    assert.equal(openClassificationFolders(path.join(root, 'val') + '/').root, root);
  } finally {
    rmrf(root);
  }
});

test('os.walk order puts a folder before its sub-folders and siblings by full path', () => {
  const root = tempDir();
  try {
    // sorted(['c', 'c/a', 'c/a/x', 'c/a-b', 'c/b']) == ['c', 'c/a', 'c/a-b', 'c/a/x', 'c/b']
    touch(root, 'train/c/z.jpg', 'train/c/a/1.jpg', 'train/c/a/x/2.jpg', 'train/c/a-b/3.jpg', 'train/c/b/4.jpg', 'val/c/0.jpg');
    const f = openClassificationFolders(root);
    assert.deepEqual(f.train.files.map((x) => path.relative(path.join(root, 'train/c'), x)), ['z.jpg', 'a/1.jpg', 'a-b/3.jpg', 'a/x/2.jpg', 'b/4.jpg']);
  } finally {
    rmrf(root);
  }
});

test('bad layouts: one clear line each', () => {
  const root = tempDir();
  try {
    const one = (fn: () => unknown, re: RegExp): void =>
      assert.throws(fn, (e: Error) => {
        assert.match(e.message, re);
        assert.ok(!e.message.includes('\n'));
        return true;
      });
    one(() => openClassificationFolders(path.join(root, 'nope')), /^data path not found: .*nope \(pass --data_path <root> with <root>\/train\/<class>\/\* and <root>\/val\/<class>\/\*\)$/);
    touch(root, 'train/a/1.jpg', 'train/b/2.jpg');
    one(() => openClassificationFolders(root), /^no val\/ folder in .*: fine-tuning needs the ImageNet layout .*\/train\/<class>\/\*\.jpg and .*\/val\/<class>\/\*\.jpg/);
    const r2 = path.join(root, 'r2');
    touch(r2, 'val/a/1.jpg');
    one(() => openClassificationFolders(r2), /^no train\/ folder in .*r2/);
    touch(root, 'val/a/3.jpg', 'val/c/4.jpg', 'val/d/5.jpg');
    one(() => openClassificationFolders(root), /^train\/ and val\/ of .* have different classes: only in train: b; only in val: c, d \(both need the same class folders\)$/);
    const r3 = path.join(root, 'r3');
    touch(r3, 'train/a/1.jpg', 'train/b/readme.txt', 'val/a/1.jpg', 'val/b/2.jpg');
    one(() => openClassificationFolders(r3), /^class folder\(s\) without images in .*r3\/train: b \(each class needs at least one \.jpg/);
    const r4 = path.join(root, 'r4');
    touch(r4, 'train/x.jpg', 'val/a/1.jpg');
    one(() => openClassificationFolders(r4), /^no class folders in .*r4\/train: put the images of each class in/);
  } finally {
    rmrf(root);
  }
});
