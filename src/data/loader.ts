// The batching loader: sampler -> per-sample decode tasks on the worker pool -> full float32 batches,
// prefetched so that a training step does not wait when the machine keeps up.
//
// Determinism: every sample's augmentation is seeded by (seed, epoch, position in the epoch), so the
// batches depend on the seed and the start position only, not on the number of workers or on timing.
// Unreadable files: skipped with one warning each, counted in `stats`, and replaced by the next readable
// file in dataset order (same augmentation seed), so every batch stays full and stays deterministic.

import * as path from 'node:path';
import { listImages } from './folder.js';
import { DecodePool, defaultWorkerCount } from './pool.js';
import { hashSeed } from './rng.js';
import { InfiniteBatchSampler, type SampledBatch } from './sampler.js';

export interface LoaderOptions {
  /** Dataset folder (ImageNet layout or any folder of images, searched recursively). Give this or `files`. */
  root?: string;
  /** Explicit list of image files (instead of `root`). */
  files?: string[];
  /** Output side S (the reference's --input_size). */
  inputSize: number;
  batchSize: number;
  seed?: number;
  /** Decode workers; 0 decodes on the main thread. Default: available cores, at most 8. */
  workers?: number;
  /** Batches decoded ahead of the one being consumed. Default 3. */
  prefetch?: number;
  startEpoch?: number;
  startIter?: number;
  /** Data parallelism: this rank's shard (batchSize is then the per-rank batch); default 0 of 1. */
  rank?: number;
  worldSize?: number;
  /** true (default): the pretraining augmentation; false: resize shorter side + center crop (visualisation). */
  augment?: boolean;
  /** true (default): ImageNet mean/std normalisation; false: values in [0, 1]. */
  normalize?: boolean;
  /** Receives one line per unreadable file (default: printed to stderr). */
  onWarning?: (message: string) => void;
}

export interface Batch {
  /** B·3·S·S float32, CHW per image. */
  data: Float32Array;
  shape: [number, number, number, number];
  epoch: number;
  /** Iteration inside the epoch. */
  iter: number;
  /** Dataset index of each image (after replacing unreadable files). */
  indices: number[];
  files: string[];
}

export interface LoaderStats {
  /** Number of distinct unreadable files met so far. */
  skipped: number;
  skippedFiles: string[];
  /** Batches handed out by next(). */
  batches: number;
}

export interface Loader extends AsyncIterable<Batch> {
  next(): Promise<Batch>;
  close(): Promise<void>;
  readonly stats: LoaderStats;
  readonly files: readonly string[];
  readonly itersPerEpoch: number;
  readonly workers: number;
  /** Position of the next batch next() returns: pass as startEpoch/startIter to resume. */
  readonly position: { epoch: number; iter: number };
}

function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`data loader: ${name} must be a positive integer, got ${v}`);
}

class DataLoader implements Loader {
  readonly files: readonly string[];
  readonly itersPerEpoch: number;
  readonly workers: number;
  readonly stats: LoaderStats = { skipped: 0, skippedFiles: [], batches: 0 };
  private readonly size: number;
  private readonly batchSize: number;
  private readonly seed: number;
  private readonly prefetch: number;
  private readonly augment: boolean;
  private readonly normalize: boolean;
  private readonly warn: (m: string) => void;
  private readonly source: string;
  private readonly sampler: InfiniteBatchSampler;
  private readonly pool: DecodePool;
  private readonly queue: Promise<Batch>[] = [];
  private readonly bad = new Set<number>();
  private firstError: string | null = null;
  private failure: Error | null = null;
  private closed = false;
  private pos: { epoch: number; iter: number };

  constructor(o: LoaderOptions) {
    if ((o.root === undefined) === (o.files === undefined)) {
      throw new Error('data loader: give either root (a folder of images) or files (a list of image paths)');
    }
    if (o.files !== undefined) {
      if (o.files.length === 0) throw new Error('data loader: files is empty (give at least one image path)');
      this.files = o.files.map((f) => path.resolve(f));
      this.source = `the ${this.files.length} given files`;
    } else {
      this.files = listImages(o.root!);
      this.source = path.resolve(o.root!);
    }
    positiveInt('inputSize', o.inputSize);
    positiveInt('batchSize', o.batchSize);
    this.size = o.inputSize;
    this.batchSize = o.batchSize;
    this.seed = o.seed ?? 0;
    this.prefetch = o.prefetch ?? 3;
    positiveInt('prefetch', this.prefetch);
    this.augment = o.augment ?? true;
    this.normalize = o.normalize ?? true;
    this.warn = o.onWarning ?? ((m) => process.stderr.write(`warning: ${m}\n`));
    this.sampler = new InfiniteBatchSampler({
      n: this.files.length,
      batchSize: this.batchSize,
      seed: this.seed,
      startEpoch: o.startEpoch ?? 0,
      startIter: o.startIter ?? 0,
      rank: o.rank ?? 0,
      worldSize: o.worldSize ?? 1,
    });
    this.itersPerEpoch = this.sampler.itersPerEpoch;
    this.pos = this.sampler.state;
    this.workers = o.workers ?? defaultWorkerCount();
    this.pool = new DecodePool(this.workers);
    const uv = Number(process.env.UV_THREADPOOL_SIZE);
    if (this.workers > uv) {
      this.warn(`UV_THREADPOOL_SIZE=${uv} lets only ${uv} of ${this.workers} workers decode at once (set UV_THREADPOOL_SIZE=${this.workers + 2} before starting node)`);
    }
    this.fill();
  }

  get position(): { epoch: number; iter: number } {
    return { ...this.pos };
  }

  private fill(): void {
    while (!this.closed && !this.failure && this.queue.length < this.prefetch) {
      const p = this.loadBatch(this.sampler.next());
      p.catch(() => undefined); // awaited later by next(); don't let an early failure be "unhandled"
      this.queue.push(p);
    }
  }

  private markBad(idx: number, msg: string): void {
    if (this.bad.has(idx)) return;
    this.bad.add(idx);
    const file = this.files[idx]!;
    this.firstError ??= `${file}: ${msg}`;
    this.stats.skipped++;
    this.stats.skippedFiles.push(file);
    this.warn(`skipping unreadable image ${file}: ${msg} (replaced by another image; fix or remove the file)`);
  }

  private allBad(): Error {
    return new Error(
      `no readable image in ${this.source}: all ${this.files.length} failed to decode (first: ${this.firstError}); check the files or pass another --data_path`,
    );
  }

  // The first readable file at or after `index` in dataset order: the same choice whatever the timing.
  private async loadSlot(index: number, seed: number): Promise<{ data: Float32Array; index: number }> {
    const n = this.files.length;
    for (let step = 0, idx = index; step < n; step++, idx = (idx + 1) % n) {
      if (this.bad.has(idx)) continue;
      try {
        const data = await this.pool.run({
          file: this.files[idx]!,
          size: this.size,
          augment: this.augment,
          normalize: this.normalize,
          seed,
        });
        return { data, index: idx };
      } catch (e) {
        if (this.closed) throw e;
        const msg = (e as Error).message;
        if (msg.startsWith('decode worker failed')) throw e;
        this.markBad(idx, msg);
      }
    }
    throw this.allBad();
  }

  private async loadBatch(sb: SampledBatch): Promise<Batch> {
    const S = this.size;
    const per = 3 * S * S;
    const data = new Float32Array(this.batchSize * per);
    const indices = new Array<number>(this.batchSize);
    try {
      await Promise.all(
        sb.indices.map(async (idx, k) => {
          const r = await this.loadSlot(idx, hashSeed(this.seed, sb.epoch, sb.positions[k]!));
          data.set(r.data, k * per);
          indices[k] = r.index;
        }),
      );
    } catch (e) {
      if (!this.closed) this.failure ??= e as Error;
      throw e;
    }
    return {
      data,
      shape: [this.batchSize, 3, S, S],
      epoch: sb.epoch,
      iter: sb.iter,
      indices,
      files: indices.map((i) => this.files[i]!),
    };
  }

  async next(): Promise<Batch> {
    if (this.closed) throw new Error('data loader is closed');
    if (this.failure) throw this.failure;
    this.fill();
    const p = this.queue.shift()!;
    this.fill();
    const b = await p;
    this.stats.batches++;
    this.pos = b.iter + 1 === this.itersPerEpoch ? { epoch: b.epoch + 1, iter: 0 } : { epoch: b.epoch, iter: b.iter + 1 };
    return b;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue.length = 0;
    await this.pool.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<Batch> {
    return {
      next: async () => ({ value: await this.next(), done: false }),
      // leaving a for-await loop (break, throw) ends the loader
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/** Start a loader; its workers start decoding the first batches at once. Call close() when done. */
export function createLoader(options: LoaderOptions): Loader {
  return new DataLoader(options);
}
