#!/usr/bin/env node
// npm's `install` hook: builds the native addon when sparkts is installed as a package (from a tarball
// or a path), through the one libtorch resolver (scripts/libtorch.mjs, used by native/binding.gyp).
// It installs nothing system-wide: without libtorch it fails with one message naming the three ways
// to get it. Cases, in order:
//   a source checkout (src/ is present: the package ships dist/ only)  nothing to do: scripts/setup.sh
//                                                  builds the addon after `npm ci` (no double build)
//   SPARKTS_SKIP_NATIVE_BUILD=1                     nothing (build later with `npm rebuild sparkts`)
//   SPARKTS_PREBUILT_ADDON=<path/to/sparkts.node>   copy an addon built against the same libtorch
//   otherwise                                      node-gyp rebuild in native/ (a few minutes)
import { existsSync, mkdirSync, copyFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { resolveLibtorch } from './libtorch.mjs';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const addon = path.join(root, 'native', 'build', 'Release', 'sparkts.node');
const say = (s) => process.stderr.write(`[sparkts] ${s}\n`);

function main() {
  if (existsSync(path.join(root, 'src', 'index.ts'))) return; // a source checkout: setup.sh builds
  if (process.env.SPARKTS_SKIP_NATIVE_BUILD === '1') { say('SPARKTS_SKIP_NATIVE_BUILD=1: addon not built; run `npm rebuild sparkts` later'); return; }
  const prebuilt = process.env.SPARKTS_PREBUILT_ADDON;
  if (prebuilt) {
    if (!existsSync(prebuilt)) throw new Error(`SPARKTS_PREBUILT_ADDON=${prebuilt} does not exist; point it at a built native/build/Release/sparkts.node`);
    mkdirSync(path.dirname(addon), { recursive: true });
    copyFileSync(prebuilt, addon);
    say(`using the prebuilt addon ${prebuilt}`);
    return;
  }
  const lt = resolveLibtorch(); // throws the three ways to get libtorch
  say(`building the native addon against libtorch ${lt.version} (${lt.source}) at ${lt.libDir}; a few minutes`);
  // npm hands its own node-gyp to install scripts; node-gyp itself is only a devDependency here
  const gyp = process.env.npm_config_node_gyp;
  const [cmd, args] = gyp ? [process.execPath, [gyp]] : ['npx', ['--yes', 'node-gyp']];
  execFileSync(cmd, [...args, 'rebuild', `-j`, 'max'], { cwd: path.join(root, 'native'), stdio: ['ignore', 'inherit', 'inherit'] });
}

try { main(); } catch (e) {
  say(`install failed: ${String(e.message ?? e).split('\n')[0]}`);
  if (/libtorch not found|LIBTORCH/.test(String(e.message))) console.error(String(e.message));
  process.exit(1);
}
