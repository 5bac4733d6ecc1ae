// Decode worker: runs loadSample for tasks posted by the pool (pool.ts), one at a time in arrival order,
// and posts back each float32 sample, transferring its buffer (no copy). Tasks queue up here rather than
// in the main thread so that decoding goes on while the main thread is busy (a synchronous training step).

import { parentPort, workerData } from 'node:worker_threads';
import sharp from 'sharp';
import { loadSample, type SampleRequest } from './sample.js';

export interface WorkerTask extends SampleRequest {
  id: number;
}
export type WorkerReply = { id: number; ok: true; data: Float32Array } | { id: number; ok: false; error: string };

if (!parentPort) throw new Error('src/data/worker.js must be started as a worker thread (by the decode pool)');
const port = parentPort;

// One libvips thread per worker, so that workers × threads stays near the requested worker count
// (libvips would otherwise start one thread per core in every worker). The decoded-image cache is
// useless here (every file is read once per epoch) and would only hold memory.
const threads = (workerData as { vipsThreads?: number } | undefined)?.vipsThreads ?? 1;
sharp.concurrency(threads);
sharp.cache(false);

const queue: WorkerTask[] = [];
let running = false;

async function drain(): Promise<void> {
  running = true;
  while (queue.length > 0) {
    const task = queue.shift()!;
    try {
      const data = await loadSample(task);
      port.postMessage({ id: task.id, ok: true, data } satisfies WorkerReply, [data.buffer as ArrayBuffer]);
    } catch (e) {
      port.postMessage({ id: task.id, ok: false, error: e instanceof Error ? e.message : String(e) } satisfies WorkerReply);
    }
  }
  running = false;
}

port.on('message', (task: WorkerTask) => {
  queue.push(task);
  if (!running) void drain();
});
