// Benches that time each side in its own process (ours via --child, the reference in Python) read the
// side's result as the last line of its stdout that is a JSON object.
import { spawnSync } from 'node:child_process';

/** Run `cmd args` to the end and parse its last JSON line; a failure or no result throws, naming `bench` and `who`. */
export function runJsonChild<T>(bench: string, who: string, cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): T {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 1 << 26, env });
  if (r.status !== 0) throw new Error(`${bench}: ${who} failed (exit ${r.status}):\n${(r.stderr || r.stdout).slice(-2000)}`);
  const line = r.stdout.trim().split('\n').reverse().find((l) => l.startsWith('{'));
  if (!line) throw new Error(`${bench}: ${who} printed no result:\n${r.stdout.slice(-2000)}`);
  return JSON.parse(line) as T;
}
