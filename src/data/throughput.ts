// Loader throughput, for benchmarks: images per second delivered by next() in steady state.

import { createLoader, type LoaderOptions } from './loader.js';

export interface ThroughputOptions {
  root?: string;
  files?: string[];
  inputSize: number;
  batchSize: number;
  workers: number;
  /** Batches timed after one warm-up batch (worker start-up and first decodes are excluded). */
  batches: number;
  seed?: number;
  prefetch?: number;
}

/** Images per second that the loader delivers when nothing else consumes the CPU. */
export async function measureLoaderThroughput(o: ThroughputOptions): Promise<number> {
  const opts: LoaderOptions = {
    inputSize: o.inputSize,
    batchSize: o.batchSize,
    workers: o.workers,
    seed: o.seed ?? 0,
    onWarning: () => undefined,
  };
  if (o.root !== undefined) opts.root = o.root;
  if (o.files !== undefined) opts.files = o.files;
  if (o.prefetch !== undefined) opts.prefetch = o.prefetch;
  const loader = createLoader(opts);
  try {
    await loader.next(); // warm-up
    const t0 = performance.now();
    for (let i = 0; i < o.batches; i++) await loader.next();
    const seconds = (performance.now() - t0) / 1000;
    return (o.batches * o.batchSize) / seconds;
  } finally {
    await loader.close();
  }
}
