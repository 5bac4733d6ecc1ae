// Atomic file replacement: the content goes to `<path>.tmp-<pid>`, is fsynced, then renamed over
// `path`. A crash or exception at any point leaves either the old file or the complete new one,
// never a torn checkpoint.
import fs from 'node:fs';
import nodePath from 'node:path';

/**
 * Calls `writer(fd)` on a fresh temporary file beside `path`, then makes it `path` atomically.
 * On failure the temporary file is removed and the error is rethrown.
 */
export function writeFileAtomic(path: string, writer: (fd: number) => void): void {
  const dir = nodePath.dirname(nodePath.resolve(path));
  if (!fs.existsSync(dir)) {
    throw new Error(`cannot write ${path}: folder ${dir} does not exist (create it first)`);
  }
  const tmp = `${path}.tmp-${process.pid}`;
  let fd: number | undefined = fs.openSync(tmp, 'w');
  try {
    writer(fd);
    fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = undefined;
    fs.renameSync(tmp, path);
  } catch (e) {
    if (fd !== undefined) {
      try { fs.closeSync(fd); } catch { /* already failing */ }
    }
    try { fs.unlinkSync(tmp); } catch { /* may not exist */ }
    throw e;
  }
  syncDir(dir);
}

// Persist the rename itself; not every platform lets a directory be opened or fsynced.
function syncDir(dir: string): void {
  let fd: number | undefined;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // best effort
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
}
