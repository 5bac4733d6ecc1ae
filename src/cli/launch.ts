// `spark launch`: torchrun for sparkts. Starts --nproc_per_node ranks of a job on this machine with the
// torchrun variables (RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT), forwards
// SIGINT/SIGTERM to them, and exits non-zero when any rank fails (the others are stopped).
//   spark launch --nproc_per_node 2 -- pretrain --data_path imgs --bs 64
//   machine A: spark launch --nproc_per_node 2 --nnodes 2 --node_rank 0 --master_addr A -- pretrain …
//   machine B: spark launch --nproc_per_node 2 --nnodes 2 --node_rank 1 --master_addr A -- pretrain …
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';
import { DEFAULT_TIMEOUT_S } from '../dist/index.js';

export const LAUNCH_FLAGS: FlagSpecs = {
  nproc_per_node: { type: 'int', default: 1, help: 'processes (ranks) on this machine' },
  nnodes: { type: 'int', default: 1, help: 'machines taking part' },
  node_rank: { type: 'int', default: 0, help: 'this machine\'s index, 0 … nnodes-1 (node 0 hosts rank 0)' },
  master_addr: { type: 'string', default: '127.0.0.1', help: 'address of node 0, reachable from every machine' },
  master_port: { type: 'int', default: 29500, help: 'free TCP port on node 0 (0 = pick a free one; one machine only)' },
  timeout: { type: 'float', default: DEFAULT_TIMEOUT_S, help: 'seconds a rank waits for the others (joining, each collective) before it gives up' },
  grace: { type: 'float', default: 10, help: 'seconds the other ranks get to exit on their own after one fails, before they are killed' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark launch [--nproc_per_node N] [--nnodes K --node_rank R --master_addr A --master_port P] -- <command> [flags]';

const say = (s: string): void => { process.stderr.write(`[launch] ${s}\n`); };

/** A free TCP port on this machine (bind port 0, read it, close). */
export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(0, host, () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Whether a port can be bound here now (so a busy --master_port fails before any rank starts). */
function portIsFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, () => srv.close(() => resolve(true)));
  });
}

/** Prefix each line of a rank's output, so that interleaved ranks stay readable. */
function prefixLines(src: NodeJS.ReadableStream, dst: NodeJS.WritableStream, prefix: string): void {
  let rest = '';
  src.setEncoding('utf8');
  src.on('data', (chunk: string) => {
    const lines = (rest + chunk).split('\n');
    rest = lines.pop()!;
    for (const l of lines) dst.write(`${prefix}${l}\n`);
  });
  src.on('end', () => { if (rest) dst.write(`${prefix}${rest}\n`); });
}

export async function launchCommand(argv: string[]): Promise<number> {
  const sep = argv.indexOf('--');
  const own = sep < 0 ? argv : argv.slice(0, sep);
  const job = sep < 0 ? [] : argv.slice(sep + 1);
  const { flags: f, positional } = parseArgs(own, LAUNCH_FLAGS);
  if (f.help) { console.log(helpText(USAGE, LAUNCH_FLAGS)); return 0; }
  if (positional.length && !job.length) throw new UsageError(`put the job after --: spark launch [flags] -- ${positional.join(' ')}`);
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}' before --`);
  if (!job.length) throw new UsageError(`no job to launch; ${USAGE}`);
  const nproc = f.nproc_per_node as number, nnodes = f.nnodes as number, nodeRank = f.node_rank as number;
  if (nproc < 1) throw new UsageError(`--nproc_per_node must be ≥ 1, got ${nproc}`);
  if (nnodes < 1) throw new UsageError(`--nnodes must be ≥ 1, got ${nnodes}`);
  if (nodeRank < 0 || nodeRank >= nnodes) throw new UsageError(`--node_rank ${nodeRank} is not in 0 … ${nnodes - 1}`);
  let port = f.master_port as number;
  if (port < 0 || port > 65535) throw new UsageError(`--master_port ${port} is not a port (1 … 65535, or 0 for a free one)`);
  if (port === 0) {
    if (nnodes > 1) throw new UsageError('--master_port 0 works on one machine only; give every machine the same free port');
    port = await freePort();
  } else if (nodeRank === 0 && !(await portIsFree(port))) {
    throw new UsageError(`--master_port ${port} is already in use on this machine (another run?); choose a free port, e.g. --master_port ${port + 1}`);
  }
  const timeout = f.timeout as number;
  if (!(timeout > 0)) throw new UsageError(`--timeout must be a positive number of seconds, got ${timeout}`);
  const world = nproc * nnodes;
  // torchrun leaves each rank one thread (OMP_NUM_THREADS=1) unless told; sparkts splits the cores
  const threads = process.env.SPARKTS_NUM_THREADS ?? String(Math.max(1, Math.floor(os.availableParallelism() / nproc)));
  const main = fileURLToPath(new URL('./main.js', import.meta.url));

  say(`${nproc} rank(s) on this machine (node ${nodeRank} of ${nnodes}, world size ${world}), master ${f.master_addr}:${port}, ` +
    `${threads} thread(s) each, timeout ${timeout} s: spark ${job.join(' ')}`);
  const children: { rank: number; proc: ChildProcess; code: number | null; signal: NodeJS.Signals | null; done: boolean }[] = [];
  for (let local = 0; local < nproc; local++) {
    const rank = nodeRank * nproc + local;
    const env = {
      ...process.env, RANK: String(rank), WORLD_SIZE: String(world), LOCAL_RANK: String(local), LOCAL_WORLD_SIZE: String(nproc),
      GROUP_RANK: String(nodeRank), MASTER_ADDR: f.master_addr as string, MASTER_PORT: String(port),
      SPARKTS_DIST_TIMEOUT: String(timeout), SPARKTS_LAUNCHER_PID: String(process.pid), SPARKTS_NUM_THREADS: threads,
    };
    // Own process group: a terminal's Ctrl-C reaches the launcher only, which forwards it once (a
    // second signal to a rank means "quit now").
    const proc = spawn(process.execPath, [main, ...job], { env, detached: true, stdio: rank === 0 ? 'inherit' : ['ignore', 'pipe', 'pipe'] });
    if (rank !== 0) {
      prefixLines(proc.stdout!, process.stdout, `[rank ${rank}] `);
      prefixLines(proc.stderr!, process.stderr, `[rank ${rank}] `);
    }
    children.push({ rank, proc, code: null, signal: null, done: false });
  }

  const forward = (sig: NodeJS.Signals): void => {
    say(`${sig}: passing it to the ranks`);
    for (const c of children) if (!c.done) { try { c.proc.kill(sig); } catch { /* already gone */ } }
  };
  process.on('SIGINT', forward);
  process.on('SIGTERM', forward);
  // ranks whose launcher dies see it (SPARKTS_LAUNCHER_PID) and stop; an exception here should not orphan them
  const killAll = (): void => { for (const c of children) if (!c.done) { try { c.proc.kill('SIGKILL'); } catch { /* gone */ } } };
  process.on('exit', killAll);

  let firstFailure: (typeof children)[number] | null = null;
  let killTimer: NodeJS.Timeout | null = null;
  try {
    await Promise.all(children.map((c) => new Promise<void>((resolve) => {
      c.proc.on('exit', (code, signal) => {
        c.done = true; c.code = code; c.signal = signal;
        const failed = signal !== null || code !== 0;
        if (failed && !firstFailure) {
          firstFailure = c;
          const how = signal ? `was killed by ${signal}` : `exited with code ${code}`;
          const left = children.filter((o) => !o.done);
          say(`rank ${c.rank} (pid ${c.proc.pid}) ${how}` + (left.length ? `; the other ranks stop (killed if still running in ${f.grace} s)` : ''));
          if (left.length) {
            killTimer = setTimeout(() => {
              for (const o of children) if (!o.done) { say(`rank ${o.rank} (pid ${o.proc.pid}) did not stop; killing it`); o.proc.kill('SIGKILL'); }
            }, (f.grace as number) * 1000);
          }
        }
        resolve();
      });
    })));
  } finally {
    if (killTimer) clearTimeout(killTimer);
    process.off('SIGINT', forward);
    process.off('SIGTERM', forward);
    process.off('exit', killAll);
  }
  const failure = firstFailure as (typeof children)[number] | null;
  if (!failure) return 0;
  return failure.code && failure.code > 0 ? failure.code : 1;
}
