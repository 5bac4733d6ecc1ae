// The batching loader: sampler -> per-sample decode tasks on the worker pool -> full float32 batches,
// prefetched so that a training step does not wait when the machine keeps up.
//
// Determinism: every sample's augmentation is seeded by (seed, epoch, position in the epoch), so the
// batches depend on the seed and the start position only, not on the number of workers or on timing.
// Unreadable files (pretraining): skipped with one warning each, counted in `stats`, and replaced by the
// next readable file in dataset order (same augmentation seed), so every batch stays full and stays
// deterministic. A labelled loader (labelled.ts) fails instead, naming the file: replacing an image would
// change its label, and the reference's PIL loader raises too.

import * as path from 'node:path';
import { listImages } from './folder.js';
import { DecodePool, defaultWorkerCount } from './pool.js';
import { hashSeed } from './rng.js';
import type { SampleTransform } from './sample.js';
import { InfiniteBatchSampler, type BatchSampler, type SampledBatch } from './sampler.js';

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
  /** B·3·S·S float32, CHW per image (B = batchSize, or fewer in the short last batch of a fine-tuning epoch). */
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
  /** Samples decoded (a cached sample is decoded once). */
  decoded: number;
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

/** What the batching core needs: the files, an index sampler, the per-sample transform and the policies. */
export interface BatchLoaderConfig {
  files: readonly string[];
  /** Where the files come from, for messages. */
  source: string;
  sampler: BatchSampler;
  transform: SampleTransform;
  inputSize: number;
  seed: number;
  normalize: boolean;
  workers: number;
  prefetch: number;
  /** 'skip': replace an unreadable image by the next readable one; 'fail': stop with an error naming it. */
  badImages: 'skip' | 'fail';
  /**
   * Keep every decoded sample in memory and reuse it in later epochs (3·S·S float32 per image). Only
   * for the deterministic transforms ('eval', 'center'), whose output does not depend on the seed.
   */
  cache?: boolean;
  warn: (message: string) => void;
}

export function positiveInt(name: string, v: number): void {
  if (!Number.isSafeInteger(v) || v < 1) throw new Error(`data loader: ${name} must be a positive integer, got ${v}`);
}

export class BatchLoader implements Loader {
  readonly files: readonly string[];
  readonly itersPerEpoch: number;
  readonly workers: number;
  readonly stats: LoaderStats = { skipped: 0, skippedFiles: [], batches: 0, decoded: 0 };
  private readonly c: BatchLoaderConfig;
  private readonly pool: DecodePool;
  private readonly queue: Promise<Batch>[] = [];
  private readonly bad = new Set<number>();
  private readonly cache: Map<number, Float32Array> | null;
  private firstError: string | null = null;
  private failure: Error | null = null;
  private closed = false;
  private pos: { epoch: number; iter: number };

  constructor(c: BatchLoaderConfig) {
    positiveInt('inputSize', c.inputSize);
    positiveInt('prefetch', c.prefetch);
    if (c.cache && c.transform !== 'eval' && c.transform !== 'center') {
      throw new Error(`data loader: cache needs a deterministic transform ('eval' or 'center'), not '${c.transform}' (its samples differ every epoch)`);
    }
    this.c = c;
    this.cache = c.cache ? new Map() : null;
    this.files = c.files;
    this.itersPerEpoch = c.sampler.itersPerEpoch;
    this.pos = c.sampler.state;
    this.workers = c.workers;
    this.pool = new DecodePool(this.workers);
    const uv = Number(process.env.UV_THREADPOOL_SIZE);
    if (this.workers > uv) {
      c.warn(`UV_THREADPOOL_SIZE=${uv} lets only ${uv} of ${this.workers} workers decode at once (set UV_THREADPOOL_SIZE=${this.workers + 2} before starting node)`);
    }
    this.fill();
  }

  get position(): { epoch: number; iter: number } {
    return { ...this.pos };
  }

  private fill(): void {
    while (!this.closed && !this.failure && this.queue.length < this.c.prefetch) {
      const p = this.loadBatch(this.c.sampler.next());
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
    this.c.warn(`skipping unreadable image ${file}: ${msg} (replaced by another image; fix or remove the file)`);
  }

  private allBad(): Error {
    return new Error(
      `no readable image in ${this.c.source}: all ${this.files.length} failed to decode (first: ${this.firstError}); check the files or pass another --data_path`,
    );
  }

  // The first readable file at or after `index` in dataset order: the same choice whatever the timing.
  private async loadSlot(index: number, seed: number): Promise<{ data: Float32Array; index: number }> {
    const n = this.files.length;
    for (let step = 0, idx = index; step < n; step++, idx = (idx + 1) % n) {
      if (this.bad.has(idx)) continue;
      const cached = this.cache?.get(idx);
      if (cached) return { data: cached, index: idx };
      try {
        const data = await this.pool.run({
          file: this.files[idx]!,
          size: this.c.inputSize,
          transform: this.c.transform,
          normalize: this.c.normalize,
          seed,
        });
        this.stats.decoded++;
        this.cache?.set(idx, data);
        return { data, index: idx };
      } catch (e) {
        if (this.closed) throw e;
        const msg = (e as Error).message;
        if (msg.startsWith('decode worker failed')) throw e;
        if (this.c.badImages === 'fail') throw new Error(`cannot read image ${this.files[idx]}: ${msg} (fix or remove the file)`);
        this.markBad(idx, msg);
      }
    }
    throw this.allBad();
  }

  private async loadBatch(sb: SampledBatch): Promise<Batch> {
    const S = this.c.inputSize;
    const per = 3 * S * S;
    const B = sb.indices.length;
    const data = new Float32Array(B * per);
    const indices = new Array<number>(B);
    try {
      await Promise.all(
        sb.indices.map(async (idx, k) => {
          const r = await this.loadSlot(idx, hashSeed(this.c.seed, sb.epoch, sb.positions[k]!));
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
      shape: [B, 3, S, S],
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

/**
 * Start the pretraining loader (SparK's infinite sampler, unreadable images skipped); its workers start
 * decoding the first batches at once. Call close() when done.
 */
export function createLoader(o: LoaderOptions): Loader {
  if ((o.root === undefined) === (o.files === undefined)) {
    throw new Error('data loader: give either root (a folder of images) or files (a list of image paths)');
  }
  let files: string[];
  let source: string;
  if (o.files !== undefined) {
    if (o.files.length === 0) throw new Error('data loader: files is empty (give at least one image path)');
    files = o.files.map((f) => path.resolve(f));
    source = `the ${files.length} given files`;
  } else {
    files = listImages(o.root!);
    source = path.resolve(o.root!);
  }
  positiveInt('inputSize', o.inputSize);
  positiveInt('batchSize', o.batchSize);
  const seed = o.seed ?? 0;
  const sampler = new InfiniteBatchSampler({
    n: files.length,
    batchSize: o.batchSize,
    seed,
    startEpoch: o.startEpoch ?? 0,
    startIter: o.startIter ?? 0,
    rank: o.rank ?? 0,
    worldSize: o.worldSize ?? 1,
  });
  return new BatchLoader({
    files,
    source,
    sampler,
    transform: (o.augment ?? true) ? 'pretrain' : 'center',
    inputSize: o.inputSize,
    seed,
    normalize: o.normalize ?? true,
    workers: o.workers ?? defaultWorkerCount(),
    prefetch: o.prefetch ?? 3,
    badImages: 'skip',
    warn: o.onWarning ?? defaultWarn,
  });
}

export function defaultWarn(m: string): void {
  process.stderr.write(`warning: ${m}\n`);
}
