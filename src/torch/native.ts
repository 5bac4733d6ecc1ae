// The only module that loads the addon (DESIGN.md: only the torch layer touches native).
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { repoRoot } from './repo.js';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Handle = { readonly __sparktsHandle: unique symbol };

function findAddon(): string {
  const p = path.join(repoRoot(), 'native/build/Release/sparkts.node');
  if (existsSync(p)) return p;
  throw new Error('the sparkts native addon is not built: run `bash scripts/setup.sh` (or `npm run build:native`) first');
}

const require = createRequire(import.meta.url);
export const native: any = require(findAddon());
