// Shared helpers of the io tests: temp folders and Python's JSON with ints kept as ints; where the
// shared fixtures are and whether a Python is around come from test/helpers.ts.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// the repository root, ../shared, the golden fixtures and Python: one definition each, in test/helpers.ts
export { repoRoot, sharedDir, goldenPath as golden, PYTHON, pythonHas, runPython } from '../../helpers.js';

export function tmpDir(): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-io-'));
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
