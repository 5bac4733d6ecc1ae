// The torchrun environment: what every rank of a data-parallel job reads to find its place.
// RANK, WORLD_SIZE, LOCAL_RANK, LOCAL_WORLD_SIZE, MASTER_ADDR, MASTER_PORT are torchrun's names, so
// `torchrun`-style launchers (and `spark launch`) start sparkts jobs unchanged. No WORLD_SIZE, or
// WORLD_SIZE=1: one process, exactly as without any of it.

export interface DistEnv {
  rank: number;
  worldSize: number;
  localRank: number;
  localWorldSize: number;
  masterAddr: string;
  masterPort: number;
  /** rendezvous and per-collective timeout (SPARKTS_DIST_TIMEOUT seconds, default 300) */
  timeoutMs: number;
  /** GLOO_SOCKET_IFNAME, as PyTorch reads it */
  ifname: string;
  /** the launcher's pid (SPARKTS_LAUNCHER_PID): a rank whose launcher is gone stops */
  launcherPid: number | null;
}

export const DEFAULT_TIMEOUT_S = 300;

function intVar(env: NodeJS.ProcessEnv, name: string, min: number): number {
  const raw = env[name];
  const v = Number(raw);
  if (raw === undefined || raw.trim() === '' || !Number.isInteger(v) || v < min) {
    throw new Error(`${name}=${raw ?? ''} is not an integer ≥ ${min}; set the torchrun variables RANK, WORLD_SIZE, LOCAL_RANK, MASTER_ADDR, MASTER_PORT (or start with \`spark launch\`)`);
  }
  return v;
}

/** The torchrun variables of this process, or null when it runs alone. */
export function readDistEnv(env: NodeJS.ProcessEnv = process.env): DistEnv | null {
  if (env.WORLD_SIZE === undefined || env.WORLD_SIZE === '1') return null;
  const worldSize = intVar(env, 'WORLD_SIZE', 1);
  const rank = intVar(env, 'RANK', 0);
  if (rank >= worldSize) throw new Error(`RANK=${rank} is not below WORLD_SIZE=${worldSize}; ranks are 0 … ${worldSize - 1}`);
  const localRank = env.LOCAL_RANK === undefined ? rank : intVar(env, 'LOCAL_RANK', 0);
  const localWorldSize = env.LOCAL_WORLD_SIZE === undefined ? worldSize : intVar(env, 'LOCAL_WORLD_SIZE', 1);
  const masterAddr = env.MASTER_ADDR;
  if (!masterAddr) throw new Error('MASTER_ADDR is not set; set it to rank 0\'s address (127.0.0.1 on one machine)');
  const masterPort = intVar(env, 'MASTER_PORT', 1);
  if (masterPort > 65535) throw new Error(`MASTER_PORT=${masterPort} is not a port (1 … 65535)`);
  const t = env.SPARKTS_DIST_TIMEOUT === undefined ? DEFAULT_TIMEOUT_S : Number(env.SPARKTS_DIST_TIMEOUT);
  if (!(t > 0)) throw new Error(`SPARKTS_DIST_TIMEOUT=${env.SPARKTS_DIST_TIMEOUT} must be a positive number of seconds`);
  const lp = Number(env.SPARKTS_LAUNCHER_PID);
  return {
    rank, worldSize, localRank, localWorldSize, masterAddr, masterPort, timeoutMs: t * 1000,
    ifname: env.GLOO_SOCKET_IFNAME ?? '', launcherPid: Number.isInteger(lp) && lp > 0 ? lp : null,
  };
}
