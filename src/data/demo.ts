// Where the embedded demo dataset lives: <repo>/.data/demo, filled by scripts/fetch-demo-data.sh with
// 27 real photographs from two Debian packages (see that script for the packages and licences).
// DEMO_DATA_DIR overrides the location.

import * as fs from 'node:fs';
import * as path from 'node:path';
import { repoRoot } from '../torch/repo.js';

export { repoRoot };

export const DEMO_DATA_ENV = 'DEMO_DATA_DIR';

/** The demo dataset folder; throws one line saying how to get it when it is missing. */
export function demoDataPath(): string {
  const dir = process.env[DEMO_DATA_ENV] || path.join(repoRoot(), '.data', 'demo');
  let ok = false;
  try {
    ok = fs.statSync(dir).isDirectory() && fs.readdirSync(dir).some((f) => /\.(jpe?g|png)$/i.test(f));
  } catch {
    ok = false;
  }
  if (!ok) {
    throw new Error(`demo dataset not found at ${dir}: run \`bash scripts/fetch-demo-data.sh\` (or pass --data_path <folder of images>)`);
  }
  return dir;
}
