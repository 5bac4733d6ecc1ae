// Shared helpers of the io tests: where the shared fixtures are, temp folders, and whether a
// Python with torch is around for the interop checks.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// the repository root and ../shared: one definition, in test/helpers.ts
export { repoRoot, sharedDir } from '../../helpers.js';
import { sharedDir } from '../../helpers.js';

export function golden(name: string): string {
  return path.join(sharedDir(), 'golden', name);
}

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-io-'));
}

export const PYTHON = '/usr/bin/python3';

let pyCache: Map<string, boolean> | undefined;
/** Whether `/usr/bin/python3 -c 'import <module>'` works (cached). */
export function pythonHas(module: string): boolean {
  pyCache ??= new Map();
  if (!pyCache.has(module)) {
    const r = spawnSync(PYTHON, ['-c', `import ${module}`], { stdio: 'ignore', timeout: 60_000 });
    pyCache.set(module, r.status === 0);
  }
  return pyCache.get(module) as boolean;
}

/** Runs a Python script with arguments; returns stdout, throws with stderr on failure. */
export function runPython(script: string, args: string[] = []): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}

/**
 * Parses JSON written by Python's json module keeping Python's int/float distinction: a number
 * literal without '.', 'e' or 'E' becomes a bigint, any other number a JS number.
 */
export function parsePyJson(text: string): unknown {
  const INT = '\u0000int:';
  const tagged = text.replace(/"(?:[^"\\]|\\.)*"|-?\d+(?:\.\d+)?(?:[eE][+-]?\d+)?/g, (tok) =>
    tok.startsWith('"') || /[.eE]/.test(tok) ? tok : JSON.stringify(INT + tok));
  return JSON.parse(tagged, (_k, v) => (typeof v === 'string' && v.startsWith(INT) ? BigInt(v.slice(INT.length)) : v));
}
