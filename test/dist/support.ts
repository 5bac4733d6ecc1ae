// Helpers of the dist tests: free ports, starting ranks (test/dist/rank_worker.ts or the CLI) as
// child processes with the torchrun variables, and comparing what they computed.
import assert from 'node:assert/strict';
import net from 'node:net';
import path from 'node:path';
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';

export const WORKER = path.join(path.dirname(fileURLToPath(import.meta.url)), 'rank_worker.js');

/** A port nobody listens on now (bind port 0, read it, close). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

export interface Proc { p: ChildProcess; stdout: string; stderr: string; done: Promise<{ code: number | null; signal: NodeJS.Signals | null; ms: number }> }

/** Start `node file args` with extra environment; its output is collected. */
export function start(file: string, args: string[], env: Record<string, string>, timeoutMs = 60_000): Proc {
  const t0 = Date.now();
  const p = spawn(process.execPath, [file, ...args], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SPARKTS_DEBUG: '', ...env } });
  const r: Proc = { p, stdout: '', stderr: '', done: null as never };
  p.stdout!.on('data', (d) => { r.stdout += String(d); });
  p.stderr!.on('data', (d) => { r.stderr += String(d); });
  r.done = new Promise((resolve, reject) => {
    const timer = setTimeout(() => { p.kill('SIGKILL'); reject(new Error(`${path.basename(file)} ${args.join(' ')} ran over ${timeoutMs} ms\n${r.stdout}\n${r.stderr}`)); }, timeoutMs);
    p.on('error', reject);
    p.on('close', (code, signal) => { clearTimeout(timer); resolve({ code, signal, ms: Date.now() - t0 }); });
  });
  return r;
}

/** The torchrun variables of rank `rank` of `world` on this machine. */
export function rankEnv(rank: number, world: number, port: number, extra: Record<string, string> = {}): Record<string, string> {
  return {
    RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(rank), LOCAL_WORLD_SIZE: String(world),
    MASTER_ADDR: '127.0.0.1', MASTER_PORT: String(port), SPARKTS_NUM_THREADS: '1', ...extra,
  };
}

/** Resolves when `proc`'s stdout matches `re` (polling). */
export async function waitForOutput(proc: Proc, re: RegExp, timeoutMs = 30_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!re.test(proc.stdout)) {
    if (Date.now() > until) throw new Error(`no ${re} in the output within ${timeoutMs} ms:\n${proc.stdout}\n${proc.stderr}`);
    if (proc.p.exitCode !== null) throw new Error(`exited (${proc.p.exitCode}) before ${re}:\n${proc.stdout}\n${proc.stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/**
 * Float32 closeness per tensor: |a − b| ≤ 1e-4 · max|b| element-wise. The two sides sum in different
 * orders (over ranks, then within; or all at once), so the bound scales with the tensor, not the element.
 * Measured: ≤ 4e-6 · max for pretraining's gradients, parameters and BN statistics; fine-tuning's
 * parameters and EMA ≤ 1.1e-5 · max (LAMB's trust ratio and clipping), its gradients ≤ 1.3e-6.
 */
export function worstRelDiff(a: Record<string, number[]>, b: Record<string, number[]>): { worst: number; name: string } {
  assert.deepEqual(Object.keys(a).sort(), Object.keys(b).sort());
  let worst = 0, name = '';
  for (const [n, y] of Object.entries(b)) {
    const x = a[n];
    assert.equal(x.length, y.length, n);
    const scale = Math.max(1e-12, ...y.map(Math.abs));
    for (let i = 0; i < y.length; i++) {
      const r = Math.abs(x[i] - y[i]) / scale;
      if (!(r <= worst)) { worst = r; name = n; }   // NaN counts as worst
    }
  }
  return { worst, name };
}

/** The bound worstRelDiff is held to. */
export const TOL = 1e-4;
