// Labelled image folders for fine-tuning and evaluation: the ImageNet layout <root>/train/<class>/* and
// <root>/val/<class>/*, read as torchvision's ImageFolder reads each split (the reference's
// downstream_imagenet/data.py builds ImageFolder(<root>/train) and ImageFolder(<root>/val)):
//  - classes are the sub-folder names, sorted (Python's sorted(), byte order); class index = rank;
//  - the samples of a class are the image files anywhere below its folder, in the order of
//    sorted(os.walk(class_dir)): folders by full path, files sorted by name inside each folder;
//  - a class folder without images is an error (torchvision: "Found no valid file for the classes ...").
// Beyond the reference: train and val must hold the same class set (ImageFolder would silently give the
// same folder name two different indices), and hidden folders/files (.ipynb_checkpoints, ._x.jpg) are
// ignored instead of becoming classes. As in the reference, a --data_path that ends in /train or /val
// is taken as the dataset root above it.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { byName, IMAGE_EXTENSIONS, isImageFile, readDirSorted } from './folder.js';

export interface LabelledSplit {
  /** Absolute image paths, class by class. */
  files: string[];
  /** Class index of each file (index into `classes`). */
  labels: Int32Array;
}

export interface ClassificationFolders {
  /** The dataset root (the folder holding train/ and val/). */
  root: string;
  /** Class names, sorted; class index = position. */
  classes: string[];
  train: LabelledSplit;
  val: LabelledSplit;
}

/** Strip a trailing train/ or val/ as the reference does, so `--data_path D/train` means D. */
function datasetRoot(dataPath: string): string {
  let root = path.resolve(dataPath);
  for (const split of ['train', 'val']) if (path.basename(root) === split) root = path.dirname(root);
  return root;
}

function isDir(p: string): boolean {
  try {
    return fs.statSync(p).isDirectory();
  } catch {
    return false;
  }
}

// sorted(os.walk(dir, followlinks=True)): every folder below `dir` ordered by its full path (so 'a-b'
// comes before 'a/c', as in Python), files sorted inside each; a folder reached twice is walked once.
function imagesBelow(dir: string): string[] {
  const folders: { dir: string; files: string[] }[] = [];
  const seen = new Set<string>();
  const walk = (d: string): void => {
    const real = fs.realpathSync(d);
    if (seen.has(real)) return;
    seen.add(real);
    const e = readDirSorted(d);
    folders.push({ dir: d, files: e.files.filter(isImageFile) });
    for (const sub of e.dirs) walk(sub);
  };
  walk(dir);
  folders.sort((a, b) => byName(a.dir, b.dir));
  return folders.flatMap((f) => f.files);
}

function readSplit(root: string, split: 'train' | 'val'): { classes: string[]; perClass: string[][] } {
  const dir = path.join(root, split);
  if (!isDir(dir)) {
    throw new Error(
      `no ${split}/ folder in ${root}: fine-tuning needs the ImageNet layout ${root}/train/<class>/*.jpg and ${root}/val/<class>/*.jpg (pass --data_path <that root>)`,
    );
  }
  const classDirs = readDirSorted(dir).dirs;
  if (classDirs.length === 0) {
    throw new Error(`no class folders in ${dir}: put the images of each class in ${dir}/<class name>/ (ImageNet layout)`);
  }
  const classes = classDirs.map((d) => path.basename(d));
  const perClass = classDirs.map(imagesBelow);
  const empty = classes.filter((_, k) => perClass[k]!.length === 0);
  if (empty.length > 0) {
    const shown = empty.slice(0, 5).join(', ') + (empty.length > 5 ? `, ... (${empty.length} in all)` : '');
    throw new Error(`class folder(s) without images in ${dir}: ${shown} (each class needs at least one ${IMAGE_EXTENSIONS.join(' ')} file; remove the empty folders)`);
  }
  return { classes, perClass };
}

function toSplit(perClass: string[][]): LabelledSplit {
  const files = perClass.flat();
  const labels = new Int32Array(files.length);
  let o = 0;
  perClass.forEach((fs_, k) => {
    labels.fill(k, o, o + fs_.length);
    o += fs_.length;
  });
  return { files, labels };
}

function listDiff(a: string[], b: string[]): string[] {
  const sb = new Set(b);
  return a.filter((x) => !sb.has(x));
}

function shortList(xs: string[]): string {
  return xs.length === 0 ? 'none' : xs.slice(0, 5).join(', ') + (xs.length > 5 ? `, ... (${xs.length} in all)` : '');
}

/**
 * Read `<root>/train/<class>/*` and `<root>/val/<class>/*` (`root` may also name the train/ or val/
 * folder itself). Throws one clear line when a split is missing, a class folder is empty, or the two
 * splits have different class sets (naming the classes found only in one of them).
 */
export function openClassificationFolders(dataPath: string): ClassificationFolders {
  const root = datasetRoot(dataPath);
  if (!isDir(root)) {
    throw new Error(`data path not found: ${root} (pass --data_path <root> with <root>/train/<class>/* and <root>/val/<class>/*)`);
  }
  const train = readSplit(root, 'train');
  const val = readSplit(root, 'val');
  const onlyTrain = listDiff(train.classes, val.classes);
  const onlyVal = listDiff(val.classes, train.classes);
  if (onlyTrain.length > 0 || onlyVal.length > 0) {
    throw new Error(
      `train/ and val/ of ${root} have different classes: only in train: ${shortList(onlyTrain)}; only in val: ${shortList(onlyVal)} (both need the same class folders)`,
    );
  }
  return { root, classes: train.classes, train: toSplit(train.perClass), val: toSplit(val.perClass) };
}

/**
 * Only `<root>/val/<class>/*` (for evaluation, `spark eval`): the same listing as
 * openClassificationFolders' val split, with an empty train split; `root` may name the val/ folder.
 */
export function openValFolder(dataPath: string): ClassificationFolders {
  const root = datasetRoot(dataPath);
  if (!isDir(root)) throw new Error(`data path not found: ${root} (pass --data_path <root> with <root>/val/<class>/*)`);
  const val = readSplit(root, 'val');
  return { root, classes: val.classes, train: { files: [], labels: new Int32Array(0) }, val: toSplit(val.perClass) };
}
