// c10d's failures as one line a user can act on: which rank is gone, which port is busy, which master
// cannot be reached. libtorch's messages carry source paths and repeat themselves; these name the
// variable to change.
import os from 'node:os';
import { readFileSync } from 'node:fs';

/** A rank's identity, gathered at start so that the survivors can say which one died. */
export interface Peer { rank: number; pid: number; hostHash: number }

/** A 31-bit hash of this machine's name (exact in a float32/int64 tensor). */
export function hostHash(name = os.hostname()): number {
  let h = 0;
  for (let i = 0; i < name.length; i++) h = (Math.imul(h, 31) + name.charCodeAt(i)) & 0x7fffffff;
  return h;
}

export class DistError extends Error {}

/** The first useful line of a c10d/gloo message, without the "[file.cc:123] " prefix. */
export function c10dReason(e: unknown): string {
  const msg = (e instanceof Error ? e.message : String(e)).split('\n')[0];
  return msg.replace(/^\w+\([^)]*\): /, '').replace(/\[[^\]]*\.(cc|cpp|h|hpp):\d+\]\s*/g, '').trim();
}

export function rendezvousError(e: unknown, rank: number, worldSize: number, addr: string, port: number, timeoutMs: number): DistError {
  const why = c10dReason(e);
  const s = Math.round(timeoutMs / 1000);
  if (/address already in use|errno: 98/i.test(why)) {
    return new DistError(`rank ${rank}: MASTER_PORT ${port} is already in use on ${addr} (another run?); choose a free port with --master_port (or MASTER_PORT)`);
  }
  if (rank === 0 && /timed? ?out|timeout/i.test(why)) {
    return new DistError(`rank 0: not every rank joined within ${s} s (WORLD_SIZE=${worldSize}); start all ${worldSize} ranks with the same MASTER_ADDR/MASTER_PORT (${addr}:${port}), or raise SPARKTS_DIST_TIMEOUT`);
  }
  if (/timed? ?out|timeout|connect|refused|unreachable|resolve|getaddrinfo/i.test(why)) {
    return new DistError(`rank ${rank}: could not reach the master at ${addr}:${port} within ${s} s (${why}); check that rank 0 is running, MASTER_ADDR/MASTER_PORT, and the firewall`);
  }
  return new DistError(`rank ${rank}: could not join the process group at ${addr}:${port}: ${why}`);
}

function hasExited(pid: number): boolean {
  try {
    // a killed rank stays a zombie until its launcher reaps it: exited all the same
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return /^\d+ \(.*\) [ZX]/.test(stat);
  } catch {
    try { process.kill(pid, 0); return false; } catch (e) { return (e as NodeJS.ErrnoException).code === 'ESRCH'; }
  }
}

/**
 * Which peers on this host have exited. A dying process closes its sockets a moment before it is
 * marked exited, so a survivor that sees a closed connection looks again for up to `settleMs`.
 * Peers on other hosts cannot be checked from here.
 */
export function exitedPeers(peers: Peer[], self: number, settleMs = 500): Peer[] {
  const host = hostHash();
  const local = peers.filter((p) => p.rank !== self && p.hostHash === host);
  const until = Date.now() + settleMs;
  for (;;) {
    const gone = local.filter((p) => hasExited(p.pid));
    if (gone.length || Date.now() >= until || !local.length) return gone;
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
}

export function collectiveError(e: unknown, what: string, rank: number, peers: Peer[], timeoutMs: number): DistError {
  const why = c10dReason(e);
  const gone = exitedPeers(peers, rank);
  const s = Math.round(timeoutMs / 1000);
  const who = gone.length
    ? `rank${gone.length > 1 ? 's' : ''} ${gone.map((p) => `${p.rank} (pid ${p.pid})`).join(', ')} exited`
    : peers.length === 2 ? `lost rank ${1 - rank}` : 'lost a peer rank';
  return new DistError(`rank ${rank}: ${who} during ${what}; stopping (collective timeout ${s} s; c10d: ${why})`);
}
