// Where the sparkts repository is on disk: the one definition for src (the addon's build folder, the
// demo data), test and bench. It sits in the torch layer because the lowest user, native.ts, is there.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

let cached: string | undefined;

/**
 * The repository root: the nearest folder above this module whose package.json is sparkts's
 * (src/torch/repo.ts and dist/src/torch/repo.js both lie below it).
 */
export function repoRoot(): string {
  if (cached) return cached;
  const start = path.dirname(fileURLToPath(import.meta.url));
  for (let dir = start; ;) {
    const pkg = path.join(dir, 'package.json');
    if (fs.existsSync(pkg)) {
      try {
        if ((JSON.parse(fs.readFileSync(pkg, 'utf8')) as { name?: string }).name === 'sparkts') return (cached = dir);
      } catch {
        // an unreadable package.json is not ours; keep climbing
      }
    }
    const up = path.dirname(dir);
    if (up === dir) throw new Error(`cannot find the sparkts repository root (a package.json named sparkts) above ${start}`);
    dir = up;
  }
}
