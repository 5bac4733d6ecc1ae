// Running the built `spark` command in a child process, and a tiny image folder for it.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { repoRoot } from '../helpers.js';
import { writeImage } from '../data/fixtures.js';

export const CLI = path.join(repoRoot(), 'dist', 'src', 'cli', 'main.js');

export interface Run { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }

/** Run `node dist/src/cli/main.js ...args`; `onStdout` sees the output so far and may signal the child. */
export function spark(args: string[], o: { onStdout?: (text: string, p: ChildProcess) => void; timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const p = spawn(process.execPath, [CLI, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPARKTS_DEBUG: '' } });
    let stdout = '', stderr = '';
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`spark ${args.join(' ')} ran over ${o.timeoutMs ?? 60000} ms\n${stdout}\n${stderr}`)); },
      o.timeoutMs ?? 60000);
    p.stdout.on('data', (d) => { stdout += String(d); o.onStdout?.(stdout, p); });
    p.stderr.on('data', (d) => { stderr += String(d); });
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, stdout, stderr }); });
  });
}

/** The flags of a tiny, fast run (one thread, no decode workers). */
export function tinyFlags(data: string, exp: string): string[] {
  return ['--data_path', data, '--exp_dir', exp, '--model', 'resnet18', '--input_size', '32', '--bs', '4',
    '--decoder_width', '32', '--threads', '1', '--workers', '0', '--ep', '2', '--wp_ep', '0', '--seed', '5'];
}

/** `n` small generated PNGs in a new folder `dir`. */
export async function imageFolder(dir: string, n: number): Promise<string> {
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < n; k++) await writeImage(path.join(dir, `img${k}.png`), 40 + 3 * k, 44 - k, k);
  return dir;
}

/**
 * A failed command: a non-zero exit (`code` if given), and on stderr exactly one `spark: error: …` line,
 * the last one, matching `re`, with no stack trace; other stderr lines only where `allowed` matches them.
 */
export function assertOneErrorLine(r: Run, re: RegExp, o: { code?: number; allowed?: RegExp } = {}): void {
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '');
  const what = `stderr was:\n${r.stderr}`;
  assert.ok(r.code !== 0 && r.code !== null, `exit code ${r.code} (signal ${r.signal}); ${what}`);
  if (o.code !== undefined) assert.equal(r.code, o.code, `exit code; ${what}`);
  const errors = lines.filter((l) => l.startsWith('spark: error: '));
  assert.equal(errors.length, 1, `one error line; ${what}`);
  assert.equal(lines.at(-1), errors[0], `the error is the last line; ${what}`);
  for (const l of lines.slice(0, -1)) assert.ok(o.allowed?.test(l), `unexpected stderr line '${l}'; ${what}`);
  assert.match(errors[0], re);
}
