// The only module that loads the addon (DESIGN.md: only the torch layer touches native).
import { createRequire } from 'node:module';
import path from 'node:path';
import { existsSync } from 'node:fs';
import { repoRoot } from './repo.js';
import type { NativeAddon } from './generated/native_api.js';

/** A native tensor (opaque; owned by exactly one Tensor). */
export type Handle = { readonly __sparktsHandle: unique symbol };
/** A native random generator (opaque; distinct from a tensor handle so the two cannot be swapped). */
export type GeneratorHandle = { readonly __sparktsGenerator: unique symbol };
/** A native c10d process group (opaque). */
export type GroupHandle = { readonly __sparktsGroup: unique symbol };

function findAddon(): string {
  const p = path.join(repoRoot(), 'native/build/Release/sparkts.node');
  if (existsSync(p)) return p;
  throw new Error('the sparkts native addon is not built: run `bash scripts/setup.sh` in a checkout, or `npm rebuild sparkts` where it is installed');
}

const require = createRequire(import.meta.url);
/** The addon, typed by src/torch/generated/native_api.ts (generated from the op and core tables). */
export const native = require(findAddon()) as NativeAddon;
