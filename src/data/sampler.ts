// The reference's epoch-based infinite batch sampler (SparK utils/sampler.py DistInfiniteBatchSampler,
// shuffle=True, filling=True):
//  - iterations per epoch = ceil(N / (batchSize · worldSize)) (the global batch is batchSize · worldSize);
//  - each epoch draws a permutation from a generator seeded with seed + epoch (the same on every rank);
//  - the last batch is filled from the start of that permutation, so every batch has batchSize images;
//  - the filled sequence is cut into worldSize contiguous shards, rank r iterating over shard r.
// We keep wrapping around when batchSize > N (the reference would yield a short batch there).
// The position {epoch, iter} is the whole state: a run resumed from it continues identically.

import { Rng, permutation } from './rng.js';

export interface SamplerOptions {
  /** Dataset size. */
  n: number;
  batchSize: number;
  seed?: number;
  startEpoch?: number;
  /** Iteration inside startEpoch to start from, in [0, itersPerEpoch). */
  startIter?: number;
  /** Data parallelism: this rank's shard of each epoch (batchSize is the per-rank batch). */
  rank?: number;
  worldSize?: number;
}

export interface SampledBatch {
  epoch: number;
  /** Iteration inside the epoch, in [0, itersPerEpoch). */
  iter: number;
  /** Dataset indices, exactly batchSize of them. */
  indices: number[];
  /**
   * Position of each index inside the epoch's (filled) sequence: (rank·itersPerEpoch + iter)·batchSize + k.
   * Unique per epoch over all ranks.
   */
  positions: number[];
}

function checkInt(name: string, v: number, min: number): void {
  if (!Number.isSafeInteger(v) || v < min) throw new Error(`sampler: ${name} must be an integer >= ${min}, got ${v}`);
}

export class InfiniteBatchSampler {
  readonly n: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly itersPerEpoch: number;
  readonly rank: number;
  readonly worldSize: number;
  private epoch: number;
  private iter: number;
  private perm: Int32Array | null = null;
  private permEpoch = -1;

  constructor(opts: SamplerOptions) {
    const { n, batchSize, seed = 0, startEpoch = 0, startIter = 0, rank = 0, worldSize = 1 } = opts;
    checkInt('n (the number of images)', n, 1);
    checkInt('batchSize', batchSize, 1);
    checkInt('worldSize', worldSize, 1);
    checkInt('rank', rank, 0);
    if (rank >= worldSize) throw new Error(`sampler: rank ${rank} is not below worldSize ${worldSize}`);
    if (!Number.isSafeInteger(seed)) throw new Error(`sampler: seed must be an integer, got ${seed}`);
    checkInt('startEpoch', startEpoch, 0);
    checkInt('startIter', startIter, 0);
    this.n = n;
    this.batchSize = batchSize;
    this.seed = seed;
    this.rank = rank;
    this.worldSize = worldSize;
    this.itersPerEpoch = Math.ceil(n / (batchSize * worldSize));
    if (startIter >= this.itersPerEpoch) {
      throw new Error(`sampler: startIter ${startIter} is past the end of an epoch (${this.itersPerEpoch} iterations of ${batchSize} over ${n} images)`);
    }
    this.epoch = startEpoch;
    this.iter = startIter;
  }

  /** The order of dataset indices for `epoch` (before filling). */
  epochPermutation(epoch: number): Int32Array {
    if (this.permEpoch !== epoch || !this.perm) {
      this.perm = permutation(this.n, new Rng(this.seed + epoch));
      this.permEpoch = epoch;
    }
    return this.perm;
  }

  /** Where the next batch comes from: resume a sampler with these as startEpoch/startIter. */
  get state(): { epoch: number; iter: number } {
    return { epoch: this.epoch, iter: this.iter };
  }

  /** The batch at a given position, without moving. */
  batchAt(epoch: number, iter: number): SampledBatch {
    const perm = this.epochPermutation(epoch);
    const indices: number[] = [];
    const positions: number[] = [];
    const shardStart = this.rank * this.itersPerEpoch * this.batchSize;
    for (let k = 0; k < this.batchSize; k++) {
      const p = shardStart + iter * this.batchSize + k;
      positions.push(p);
      indices.push(perm[p % this.n]!);
    }
    return { epoch, iter, indices, positions };
  }

  /** The next batch; advances to the next iteration (and epoch). */
  next(): SampledBatch {
    const b = this.batchAt(this.epoch, this.iter);
    this.iter++;
    if (this.iter === this.itersPerEpoch) {
      this.iter = 0;
      this.epoch++;
    }
    return b;
  }
}
