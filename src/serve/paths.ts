// The one gate between a URL and a file: only regular files inside the exp dir are ever read. Paths
// are checked after percent-decoding (so %2e%2e and %2f are seen for what they are), lexically ('..',
// absolute paths, backslashes, NUL) and then physically (realpath), so a symlink that leads out of the
// exp dir is refused too.
import fs from 'node:fs';
import path from 'node:path';

/** An HTTP status and a one-line message for the page. */
export class HttpError extends Error {
  constructor(readonly status: number, message: string) { super(message); }
}

/** The exp dir's real path (symlinks resolved), checked to be a folder. */
export function realRoot(dir: string): string {
  let real: string;
  try { real = fs.realpathSync(dir); } catch { throw new Error(`--exp_dir ${dir} does not exist; pass the folder a run writes to (its --exp_dir)`); }
  if (!fs.statSync(real).isDirectory()) throw new Error(`--exp_dir ${dir} is not a folder; pass the folder a run writes to (its --exp_dir)`);
  return real;
}

/**
 * The real path of the file `rel` (a URL path tail, still percent-encoded) names inside `root` (a
 * realRoot). Throws HttpError 400 (malformed), 403 (outside the root) or 404 (no such regular file).
 */
export function resolveInside(root: string, rel: string): string {
  let decoded: string;
  try { decoded = decodeURIComponent(rel); } catch { throw new HttpError(400, 'malformed percent-encoding in the path'); }
  if (decoded.includes('\0')) throw new HttpError(400, 'NUL byte in the path');
  if (decoded.includes('\\')) throw new HttpError(403, 'backslashes are not allowed in paths');
  if (decoded.startsWith('/') || path.isAbsolute(decoded)) throw new HttpError(403, 'absolute paths are not served; paths are relative to the exp dir');
  const parts = decoded.split('/');
  if (parts.some((p) => p === '..' || p === '.')) throw new HttpError(403, "'.' and '..' are not allowed in paths");
  if (parts.some((p) => p === '')) throw new HttpError(404, 'no such file');
  const lexical = path.join(root, ...parts);
  let real: string;
  try { real = fs.realpathSync(lexical); } catch { throw new HttpError(404, `no file ${decoded} in the exp dir`); }
  if (!isInside(root, real)) throw new HttpError(403, `${decoded} leads outside the exp dir`);
  if (!fs.statSync(real).isFile()) throw new HttpError(404, `${decoded} is not a file`);
  return real;
}

export function isInside(root: string, p: string): boolean {
  const r = path.relative(root, p);
  return r !== '' && r !== '..' && !r.startsWith(`..${path.sep}`) && !path.isAbsolute(r);
}
