// Listing the images of a dataset folder.
//
// The reference (SparK pretrain/utils/imagenet.py) reads an ImageNet layout, <root>/train/<class>/*,
// through torchvision's DatasetFolder: classes sorted, files sorted inside each class. We accept that
// layout (use <root>/train when it exists) and, beyond it, any folder searched recursively, so a user
// can point --data_path at a plain folder of photos. The order is the reference's: entries sorted by
// name inside each directory, depth first, which makes dataset indices deterministic across machines.

import * as fs from 'node:fs';
import * as path from 'node:path';

/** Extensions we decode (case-insensitive). torchvision's IMG_EXTENSIONS minus .ppm/.pgm (libvips has them, PIL too, but they are rare). */
export const IMAGE_EXTENSIONS: readonly string[] = ['.jpg', '.jpeg', '.png', '.webp', '.bmp', '.tif', '.tiff'];

const EXT_LIST = IMAGE_EXTENSIONS.join(' ');

export function isImageFile(name: string): boolean {
  return IMAGE_EXTENSIONS.includes(path.extname(name).toLowerCase());
}

// Byte-wise (code unit) comparison, like Python's sorted(); localeCompare would depend on the locale.
export function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The folder that holds the images: `<root>/train` for an ImageNet layout, otherwise `root` itself.
 * Throws one clear line when `root` is missing or not a directory.
 */
export function resolveImageRoot(root: string): string {
  const abs = path.resolve(root);
  let st: fs.Stats;
  try {
    st = fs.statSync(abs);
  } catch {
    throw new Error(
      `data path not found: ${abs} (pass --data_path <folder of images>, or run scripts/fetch-demo-data.sh for the demo set)`,
    );
  }
  if (!st.isDirectory()) {
    throw new Error(`data path is not a directory: ${abs} (pass the folder that contains the images, e.g. <root> with <root>/train/<class>/*.jpg)`);
  }
  const train = path.join(abs, 'train');
  try {
    if (fs.statSync(train).isDirectory()) return train;
  } catch {
    // no train/ sub-folder: a plain folder of images
  }
  return abs;
}

/** One directory's visible entries, sorted by name, symbolic links resolved (dangling ones dropped). */
export interface DirEntries {
  dirs: string[];
  files: string[];
}

/**
 * The entries of `d`: sub-directories and files as absolute paths, each list sorted by name (Python's
 * sorted()). Hidden entries (names starting with '.', e.g. macOS `._x.jpg` resource forks or
 * `.ipynb_checkpoints`) are ignored. Throws one line when `d` cannot be read.
 */
export function readDirSorted(d: string): DirEntries {
  let entries: fs.Dirent[];
  try {
    entries = fs.readdirSync(d, { withFileTypes: true });
  } catch (e) {
    throw new Error(`cannot read directory ${d}: ${(e as Error).message} (check its permissions)`);
  }
  entries.sort((a, b) => byName(a.name, b.name));
  const out: DirEntries = { dirs: [], files: [] };
  for (const ent of entries) {
    if (ent.name.startsWith('.')) continue;
    const p = path.join(d, ent.name);
    let isDir = ent.isDirectory();
    let isFile = ent.isFile();
    if (ent.isSymbolicLink()) {
      try {
        const st = fs.statSync(p);
        isDir = st.isDirectory();
        isFile = st.isFile();
      } catch {
        continue; // dangling link
      }
    }
    if (isDir) out.dirs.push(p);
    else if (isFile) out.files.push(p);
  }
  return out;
}

/**
 * Every image under `root` (ImageNet layout or any folder, searched recursively), as absolute paths in
 * a deterministic order. Hidden entries are ignored. Symbolic links are followed; a directory reached
 * twice is listed once.
 */
export function listImages(root: string): string[] {
  const dir = resolveImageRoot(root);
  const out: string[] = [];
  const seenDirs = new Set<string>();
  let otherFiles = 0;
  let anyEntry = false;

  const walk = (d: string): void => {
    const real = fs.realpathSync(d);
    if (seenDirs.has(real)) return;
    seenDirs.add(real);
    const { dirs, files } = readDirSorted(d);
    if (dirs.length + files.length > 0) anyEntry = true;
    // entries in name order, directories and files interleaved (depth first)
    const merged = [...dirs.map((p) => ({ p, dir: true })), ...files.map((p) => ({ p, dir: false }))];
    merged.sort((a, b) => byName(path.basename(a.p), path.basename(b.p)));
    for (const { p, dir } of merged) {
      if (dir) walk(p);
      else if (isImageFile(p)) out.push(p);
      else otherFiles++;
    }
  };
  walk(dir);

  if (!anyEntry) {
    throw new Error(`data path is empty: ${dir} (put images (${EXT_LIST}) in it or in sub-folders, or pass another --data_path)`);
  }
  if (out.length === 0) {
    throw new Error(
      `no images found under ${dir}: ${otherFiles} file(s), none with an image extension (${EXT_LIST}) (pass --data_path <folder of images>)`,
    );
  }
  return out;
}
