// A pool of decode workers (worker_threads). Tasks are queued first-in first-out and each worker runs
// one task at a time, so `workers` is also the number of images decoded concurrently. With 0 workers
// the samples are decoded on the main thread (through the same code), for debugging and tests.

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
  task: WorkerTask;
  resolve: (data: Float32Array) => void;
  reject: (e: Error) => void;
}

interface Slot {
  worker: Worker;
  busy: Pending | null;
}

export class DecodePool {
  readonly size: number;
  private readonly slots: Slot[] = [];
  private readonly queue: Pending[] = [];
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
      const slot: Slot = { worker, busy: null };
      worker.on('message', (r: WorkerReply) => this.onReply(slot, r));
      worker.on('error', (e) => this.onWorkerDeath(slot, e));
      worker.on('exit', (code) => {
        if (!this.closed) this.onWorkerDeath(slot, new Error(`decode worker exited with code ${code}`));
      });
      // An idle worker must not keep the process alive (a user who forgets close() still exits);
      // it is ref'ed while it has a task so that a pending batch is awaited.
      worker.unref();
      this.slots.push(slot);
    }
  }

  /** Decode one sample; rejects with the decoder's one-line message when the file is unreadable. */
  run(req: SampleRequest): Promise<Float32Array> {
    if (this.closed) return Promise.reject(new Error('data loader is closed'));
    if (this.fatal) return Promise.reject(this.fatal);
    if (this.size === 0) return loadSample(req);
    return new Promise<Float32Array>((resolve, reject) => {
      this.queue.push({ task: { ...req, id: this.nextId++ }, resolve, reject });
      this.dispatch();
    });
  }

  private dispatch(): void {
    for (const slot of this.slots) {
      if (this.queue.length === 0) return;
      if (slot.busy) continue;
      const p = this.queue.shift()!;
      slot.busy = p;
      slot.worker.ref();
      slot.worker.postMessage(p.task);
    }
  }

  private onReply(slot: Slot, r: WorkerReply): void {
    const p = slot.busy;
    slot.busy = null;
    slot.worker.unref();
    if (p && p.task.id === r.id) {
      if (r.ok) p.resolve(r.data);
      else p.reject(new Error(r.error));
    }
    this.dispatch();
  }

  // A worker that dies (it should not: decode errors are replies, not crashes) fails everything
  // pending, since its task may be the one that kills workers.
  private onWorkerDeath(slot: Slot, e: Error): void {
    if (this.closed) return;
    this.fatal = new Error(`decode worker failed: ${e.message}`);
    const pending = [...(slot.busy ? [slot.busy] : []), ...this.queue.splice(0)];
    slot.busy = null;
    for (const p of pending) p.reject(this.fatal);
    void this.close();
  }

  /** Stop the workers; queued and running tasks are rejected. Safe to call twice. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const err = new Error('data loader is closed');
    for (const p of this.queue.splice(0)) p.reject(err);
    for (const s of this.slots) {
      if (s.busy) s.busy.reject(err);
      s.busy = null;
    }
    await Promise.all(this.slots.map((s) => s.worker.terminate()));
  }
}
