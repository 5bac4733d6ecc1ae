// torch.distributed's low level, over the addon's c10d (native/src/dist.cc): a process group (TCPStore
// rendezvous + ProcessGroupGloo, or ProcessGroupNCCL when this libtorch has it) and its collectives.
// Every collective blocks until it is done on this rank and throws when a peer is gone or the group's
// timeout passed. Policy (the torchrun environment, gradient averaging, SyncBN conversion) is src/dist/.
import { native, type GroupHandle } from './native.js';
import { Tensor, wrap } from './tensor.js';

export type Backend = 'gloo' | 'nccl';
export type ReduceOp = 'sum' | 'max' | 'min';

/** Which c10d backends this addon was built with. */
export function availableBackends(): { gloo: boolean; nccl: boolean } {
  return native.dist.distAvailable();
}

export interface ProcessGroupOptions {
  backend: Backend;
  /** rank 0's address (it hosts the TCPStore) and port */
  masterAddr: string;
  masterPort: number;
  rank: number;
  worldSize: number;
  /** rendezvous and per-collective timeout */
  timeoutMs: number;
  /** network interface for gloo (PyTorch's GLOO_SOCKET_IFNAME); '' = by the master's address */
  ifname?: string;
}

export class ProcessGroup {
  readonly rank: number;
  readonly size: number;
  readonly backend: Backend;
  #handle: GroupHandle | null;

  /** Joins the group: blocks until every rank has connected (or the timeout). */
  constructor(o: ProcessGroupOptions) {
    this.rank = o.rank;
    this.size = o.worldSize;
    this.backend = o.backend;
    this.#handle = native.dist.newProcessGroup(o.backend, o.masterAddr, o.masterPort, o.rank, o.worldSize, Math.round(o.timeoutMs), o.ifname ?? '');
  }

  /** @internal the native group, for syncBatchNorm */
  get handle(): GroupHandle {
    if (this.#handle === null) throw new Error('this ProcessGroup was destroyed');
    return this.#handle;
  }

  /** Every tensor := scale · (sum over ranks), in place, sent in buckets of at most capBytes. */
  allreduceBucketed(tensors: Tensor[], o: { capBytes?: number; scale?: number } = {}): void {
    native.dist.allreduceBucketed(this.handle, tensors.map((t) => t.handle), o.capBytes ?? 25 << 20, o.scale ?? 1);
  }
  /** In place; the tensor must be contiguous. */
  allreduce(t: Tensor, op: ReduceOp = 'sum'): Tensor {
    native.dist.allreduce(this.handle, t.handle, op);
    return t;
  }
  /** Every tensor := root's, in place. */
  broadcast(tensors: Tensor[], root = 0): void {
    native.dist.broadcastBucketed(this.handle, tensors.map((t) => t.handle), root);
  }
  /** Every rank's tensor stacked: (size, ...t.shape). */
  allgather(t: Tensor): Tensor { return wrap(native.dist.allgather(this.handle, t.handle)); }
  barrier(): void { native.dist.barrier(this.handle); }
  /** Close the group's sockets and threads now (not at GC). */
  destroy(): void {
    if (this.#handle === null) return;
    native.dist.destroyProcessGroup(this.#handle);
    this.#handle = null;
  }
  get destroyed(): boolean { return this.#handle === null; }
}

/**
 * Batch normalisation (training mode) with statistics over every rank's batch: PyTorch's
 * SyncBatchNorm. Differentiable; its backward reduces through the group too, so every rank must run
 * it the same number of times in the same order (as every collective).
 */
export function syncBatchNorm(x: Tensor, weight: Tensor | null, bias: Tensor | null, runningMean: Tensor | null,
  runningVar: Tensor | null, momentum: number, eps: number, group: ProcessGroup): Tensor {
  return wrap(native.dist.syncBatchNorm(x.handle, weight?.handle ?? null, bias?.handle ?? null, runningMean?.handle ?? null,
    runningVar?.handle ?? null, momentum, eps, group.handle));
}
