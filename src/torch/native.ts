// The only module that loads the addon (DESIGN.md: only the torch layer touches native).
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

/* eslint-disable @typescript-eslint/no-explicit-any */
export type Handle = { readonly __sparktsHandle: unique symbol };

function findAddon(): string {
  // dist/src/torch/native.js and src/torch/native.ts both sit three levels below the repo root.
  const here = path.dirname(fileURLToPath(import.meta.url));
  for (const up of ['../..', '../../..']) {
    const p = path.resolve(here, up, 'native/build/Release/sparkts.node');
    if (existsSync(p)) return p;
  }
  throw new Error('the sparkts native addon is not built: run `bash scripts/setup.sh` (or `npm run build:native`) first');
}

const require = createRequire(import.meta.url);
export const native: any = require(findAddon());
