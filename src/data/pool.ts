// A pool of decode workers (worker_threads). Each task is handed at once to the worker with the fewest
// outstanding tasks; a worker decodes its tasks one at a time, in order, so `workers` is also the number
// of images decoded concurrently. Handing tasks out eagerly (instead of one per idle worker) keeps the
// workers busy while the main thread is blocked in a synchronous training step and cannot answer them.
// With 0 workers the samples are decoded on the main thread (same code), for debugging and tests.

import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import sharp from 'sharp';
import { loadSample, type SampleRequest } from './sample.js';
import type { WorkerReply, WorkerTask } from './worker.js';

// sharp runs its work on libuv's thread pool, which is shared by the whole process (all workers
// included) and has 4 threads unless UV_THREADPOOL_SIZE says otherwise; libuv reads the variable when
// the pool first starts, so we set it as early as we can (when this module loads), if nobody has.
export const DEFAULT_UV_THREADPOOL_SIZE = Math.max(4, Math.min(os.availableParallelism(), 8) + 2);
if (!process.env.UV_THREADPOOL_SIZE) process.env.UV_THREADPOOL_SIZE = String(DEFAULT_UV_THREADPOOL_SIZE);

/** Default number of decode workers: one per available core, at most 8. */
export function defaultWorkerCount(): number {
  return Math.max(1, Math.min(os.availableParallelism(), 8));
}

interface Pending {
  resolve: (data: Float32Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  pending: Map<number, Pending>;
}

export class DecodePool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private nextId = 0;
  private closed = false;
  private fatal: Error | null = null;

  constructor(workers: number) {
    if (!Number.isInteger(workers) || workers < 0) {
      throw new Error(`workers must be a non-negative integer, got ${workers} (use 0 to decode on the main thread)`);
    }
    this.size = workers;
    if (workers === 0) {
      sharp.cache(false);
      return;
    }
    for (let i = 0; i < workers; i++) {
      const worker = new Worker(new URL('./worker.js', import.meta.url), { workerData: { vipsThreads: 1 } });
      const slot: Slot = { worker, pending: new Map() };
      worker.on('message', (r: WorkerReply) => this.onReply(slot, r));
      worker.on('error', (e) => this.onWorkerDeath(e));
      worker.on('exit', (code) => {
        if (!this.closed) this.onWorkerDeath(new Error(`decode worker exited with code ${code}`));
      });
      // An idle worker must not keep the process alive (a user who forgets close() still exits);
      // it is ref'ed while it has tasks so that a pending batch is awaited.
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Decode one sample; rejects with the decoder's one-line message when the file is unreadable. */
  run(req: SampleRequest): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('data loader is closed'));
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.size === 0) return loadSample(req);
    let slot = this.slots[0]!;
    for (const s of this.slots) if (s.pending.size < slot.pending.size) slot = s;
    const id = this.nextId++;
    return new Promise<Float32Array>((resolve, reject) => {
      if (slot.pending.size === 0) slot.worker.ref();
      slot.pending.set(id, { resolve, reject });
      slot.worker.postMessage({ ...req, id } satisfies WorkerTask);
    });
  }

  private onReply(slot: Slot, r: WorkerReply): void {
    const p = slot.pending.get(r.id);
    if (!p) return;
    slot.pending.delete(r.id);
    if (slot.pending.size === 0) slot.worker.unref();
    if (r.ok) p.resolve(r.data);
    else p.reject(new Error(r.error));
  }

  private rejectAll(err: Error): void {
    for (const s of this.slots) {
      for (const p of s.pending.values()) p.reject(err);
      s.pending.clear();
    }
  }

  // A worker that dies (it should not: decode errors are replies, not crashes) fails everything pending.
  private onWorkerDeath(e: Error): void {
    if (this.closed || this.fatal) return;
    this.fatal = new Error(`decode worker failed: ${e.message}`);
    this.rejectAll(this.fatal);
    void this.close();
  }

  /** Stop the workers; queued and running tasks are rejected. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.rejectAll(new Error('data loader is closed'));
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
