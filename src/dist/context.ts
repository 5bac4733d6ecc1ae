// Data parallelism for any training job (pretrain, fine-tune): one process per rank, the
// reference's DDP semantics on libtorch's c10d.
//   - the model's parameters and buffers are broadcast from rank 0 once (DDP's construction);
//   - after backward, gradients are averaged over ranks with a bucketed allreduce (DDP's reducer);
//   - BatchNorms can synchronise their batch statistics (SyncBN, src/dist/syncbn.ts);
//   - rank 0 alone writes (checkpoints, logs, TensorBoard, pictures): masterOnly();
//   - scalars (the loss, a stop request) are agreed on by every rank each step, so that all ranks
//     stop at the same step and a NaN on one rank stops all.
// One process (no torchrun variables) gets a context whose collectives are identities, so a job calls
// the same hooks either way and a single-process run is unchanged.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import type { Module } from '../torch/nn/index.js';
import { readDistEnv, type DistEnv } from './env.js';
import { DistError, collectiveError, rendezvousError, exitedPeers, hostHash, type Peer } from './errors.js';
import { convertSyncBatchNorm } from './syncbn.js';

const { ProcessGroup, availableBackends } = torch.distributed;
type ProcessGroup = torch.distributed.ProcessGroup;

/** What gloo/NCCL/c10d say when a peer is gone or a collective timed out. */
const C10D_FAILURE = /gloo|c10d|nccl|Connection (reset|closed)|Read error|Write error|Timed out|timeout/i;

/** DDP's default bucket size. */
export const BUCKET_CAP_BYTES = 25 << 20;

export class DistContext {
  readonly rank: number;
  readonly worldSize: number;
  readonly localRank: number;
  readonly group: ProcessGroup | null;
  readonly timeoutMs: number;
  private readonly peers: Peer[];
  private readonly launcherPid: number | null;

  /** @internal use initDistributed() */
  constructor(env: DistEnv | null, group: ProcessGroup | null, peers: Peer[]) {
    this.rank = env?.rank ?? 0;
    this.worldSize = env?.worldSize ?? 1;
    this.localRank = env?.localRank ?? 0;
    this.timeoutMs = env?.timeoutMs ?? 0;
    this.launcherPid = env?.launcherPid ?? null;
    this.group = group;
    this.peers = peers;
  }

  get distributed(): boolean { return this.group !== null; }
  get isMaster(): boolean { return this.rank === 0; }

  /** Run a collective; a failure becomes one line naming the rank that is gone. */
  private collective<T>(what: string, fn: (g: ProcessGroup) => T): T | undefined {
    if (!this.group) return undefined;
    try { return fn(this.group); } catch (e) {
      throw collectiveError(e, what, this.rank, this.peers, this.timeoutMs);
    }
  }

  /**
   * Run a training step whose model reduces through the group inside autograd (SyncBN's forward and
   * backward): a failure there, when a peer is gone or the message is c10d's, becomes the same one line
   * as a failed collective. Other errors pass unchanged.
   */
  guard<T>(step: () => T): T {
    if (!this.group) return step();
    try { return step(); } catch (e) {
      if (e instanceof DistError) throw e;
      const msg = e instanceof Error ? e.message : String(e);
      if (C10D_FAILURE.test(msg) || exitedPeers(this.peers, this.rank, 0).length) throw collectiveError(e, 'a training step', this.rank, this.peers, this.timeoutMs);
      throw e;
    }
  }

  /**
   * 'cuda' means this rank's GPU (cuda:LOCAL_RANK) when distributed, as torchrun jobs do with
   * torch.cuda.set_device(local_rank); anything else is kept.
   */
  deviceFor(requested: string): string {
    return this.distributed && requested === 'cuda' ? `cuda:${this.localRank}` : requested;
  }

  /** The per-rank batch of a global batch; the global batch must divide evenly (the reference asserts it). */
  localBatchSize(globalBatch: number, flag = '--bs'): number {
    if (globalBatch % this.worldSize) {
      throw new Error(`${flag} ${globalBatch} is not divisible by the ${this.worldSize} ranks; use a multiple of ${this.worldSize} (e.g. ${Math.max(1, Math.round(globalBatch / this.worldSize)) * this.worldSize})`);
    }
    return globalBatch / this.worldSize;
  }

  /**
   * DDP's start: every rank gets rank 0's parameters and buffers; with sbn, the model's BatchNorms
   * compute their batch statistics over all ranks.
   */
  prepareModel(model: Module, o: { syncBatchNorm: boolean }): void {
    if (!this.group) return;
    if (o.syncBatchNorm) convertSyncBatchNorm(model, this.group);
    torch.noGrad(() => this.collective('the parameter broadcast', (g) => g.broadcast([...model.parameters(), ...model.buffers()], 0)));
  }

  /**
   * After backward: every gradient := the mean over ranks (DDP's reducer: buckets in order, flattened).
   * A parameter without a gradient on this rank takes part with zeros, so that all ranks send the same
   * buckets.
   */
  averageGradients(params: Tensor[], capBytes = BUCKET_CAP_BYTES): void {
    if (!this.group) return;
    const grads: Tensor[] = [];
    try {
      torch.noGrad(() => {
        for (const p of params) {
          let g = p.grad;
          if (!g) { const z = torch.zerosLike(p); p.grad = z; z.dispose(); g = p.grad!; }
          grads.push(g);
        }
      });
      this.collective('the gradient allreduce', (g) => g.allreduceBucketed(grads, { capBytes, scale: 1 / this.worldSize }));
    } finally {
      for (const g of grads) g.dispose();
    }
  }

  /**
   * The sum over ranks of each value (one small allreduce, float64: counts stay exact up to 2^53), e.g.
   * the correct predictions and images of each rank's share of an evaluation.
   */
  sumOverRanks(values: number[]): number[] {
    if (!this.group) return values;
    const t = torch.tensor(values, { dtype: 'float64' });
    try {
      this.collective('a scalar allreduce', (g) => g.allreduce(t, 'sum'));
      return Array.from(t.toTypedArray() as Float64Array);
    } finally { t.dispose(); }
  }

  /** The mean over ranks of each value (one small allreduce, float64). */
  meanOverRanks(values: number[]): number[] {
    if (!this.group) return values;
    return this.sumOverRanks(values).map((v) => v / this.worldSize);
  }

  /**
   * true on every rank when it is true on any (a stop request: each rank's signal arrives at its own
   * time; all must leave the loop at the same step). A rank whose launcher has gone stops too.
   */
  anyRank(flag: boolean): boolean {
    const local = flag || this.launcherGone();
    if (!this.group) return local;
    const t = torch.tensor([local ? 1 : 0], { dtype: 'float64' });
    try {
      this.collective('the stop agreement', (g) => g.allreduce(t, 'max'));
      return t.item() > 0;
    } finally { t.dispose(); }
  }

  private launcherGone(): boolean {
    return this.launcherPid !== null && process.ppid !== this.launcherPid;
  }

  /**
   * Give ranks other than 0 their own random streams (masks, drop path), as the reference's unseeded
   * ranks have: each generator's state is replaced by a fresh one seeded from (seed, rank, iteration).
   * Rank 0 keeps its streams, so a one-process run and rank 0 of a resumed run continue exactly.
   */
  decorrelateRandomness(generators: torch.Generator[], seed: number, iteration: number): void {
    if (this.rank === 0) return;
    generators.forEach((gen, k) => {
      const fresh = new torch.Generator(seed * 1_000_003 + this.rank * 7919 + iteration * 104_729 + k);
      const st = fresh.getState();
      try { gen.setState(st); } finally { st.dispose(); }
    });
  }

  /** An object whose methods do nothing on ranks other than 0 (loggers, writers): rank 0 writes. */
  masterOnly<T extends object>(make: () => T): T {
    if (this.isMaster) return make();
    return new Proxy({} as T, { get: () => () => undefined });
  }

  barrier(): void { this.collective('a barrier', (g) => g.barrier()); }

  /** Leave the group (its sockets and threads); the context keeps answering rank/world. */
  close(): void { this.group?.destroy(); }
}

/**
 * This process's place in a data-parallel job, from the torchrun environment: joins the process group
 * (blocking until every rank is there) or, without torchrun variables, a one-process context.
 */
export function initDistributed(o: { device?: string; env?: NodeJS.ProcessEnv } = {}): DistContext {
  const env = readDistEnv(o.env);
  if (!env) return new DistContext(null, null, []);
  const backends = availableBackends();
  const cuda = (o.device ?? 'cpu').startsWith('cuda');
  const backend = cuda && backends.nccl ? 'nccl' : 'gloo';
  if (!backends.gloo) {
    throw new DistError('this sparkts addon was built without c10d gloo, so it cannot train over several processes; on Debian/Ubuntu run `apt-get install libgloo-dev` and rebuild with `bash scripts/setup.sh`');
  }
  let group: ProcessGroup;
  try {
    group = new ProcessGroup({
      backend, masterAddr: env.masterAddr, masterPort: env.masterPort, rank: env.rank, worldSize: env.worldSize,
      timeoutMs: env.timeoutMs, ifname: env.ifname,
    });
  } catch (e) {
    throw rendezvousError(e, env.rank, env.worldSize, env.masterAddr, env.masterPort, env.timeoutMs);
  }
  // every rank's pid and host, so that a survivor can name the rank that died
  let peers: Peer[] = [];
  const me = torch.tensor([process.pid, hostHash()], { dtype: 'int64' });
  try {
    const all = group.allgather(me);
    const v = Array.from(all.toTypedArray() as BigInt64Array, Number);
    all.dispose();
    peers = Array.from({ length: env.worldSize }, (_, r) => ({ rank: r, pid: v[2 * r], hostHash: v[2 * r + 1] }));
  } catch (e) {
    group.destroy();
    throw collectiveError(e, 'the start', env.rank, peers, env.timeoutMs);
  } finally { me.dispose(); }
  return new DistContext(env, group, peers);
}
