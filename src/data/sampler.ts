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
  /** Dataset indices (batchSize of them; fewer in the last batch of a fine-tuning epoch). */
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

/**
 * The {epoch, iter} cursor both samplers move: the batch at the cursor, then one iteration on (and to
 * the next epoch after its last). A sampler supplies its epoch length and the batch at a position.
 */
abstract class EpochCursor {
  protected epoch = 0;
  protected iter = 0;
  abstract readonly itersPerEpoch: number;
  abstract batchAt(epoch: number, iter: number): SampledBatch;

  /** Where the next batch comes from: resume a sampler with these as startEpoch/startIter. */
  get state(): { epoch: number; iter: number } {
    return { epoch: this.epoch, iter: this.iter };
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

export class InfiniteBatchSampler extends EpochCursor implements BatchSampler {
  readonly n: number;
  readonly batchSize: number;
  readonly seed: number;
  readonly itersPerEpoch: number;
  readonly rank: number;
  readonly worldSize: number;
  private perm: Int32Array | null = null;
  private permEpoch = -1;

  constructor(opts: SamplerOptions) {
    super();
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

}

// ---- Fine-tuning samplers: finite epochs of a fixed per-rank index sequence ----
//
// The reference's fine-tuning DataLoader (downstream_imagenet/data.py) walks, every epoch, the sequence
// its sampler yields for this rank, in batches of `batchSize`, the last batch short (DataLoader's default
// drop_last=False). The sequences below take a rank and a world size so that a distributed run can
// plug in later; a single process is rank 0 of world 1.

/** Anything that hands out batches with a resumable {epoch, iter} position. */
export interface BatchSampler {
  readonly itersPerEpoch: number;
  readonly state: { epoch: number; iter: number };
  next(): SampledBatch;
}

/** A rank's share of the dataset. */
export interface RankOptions {
  /** This process's rank, in [0, world). Default 0. */
  rank?: number;
  /** Number of processes. Default 1. */
  world?: number;
}

function rankOf(o: RankOptions): { rank: number; world: number } {
  const rank = o.rank ?? 0;
  const world = o.world ?? 1;
  checkInt('world', world, 1);
  checkInt('rank', rank, 0);
  if (rank >= world) throw new Error(`sampler: rank ${rank} is not below world ${world}`);
  return { rank, world };
}

/** The index sequence of one epoch for this rank; its length is the same every epoch. */
export interface EpochOrder {
  readonly length: number;
  indices(epoch: number): Int32Array;
}

/**
 * torch DistributedSampler(shuffle=True, drop_last=True): a permutation seeded with seed + epoch, the
 * tail cut so that every rank gets the same count, then every world-th index from `rank`.
 */
export function shuffledOrder(o: { n: number; seed?: number } & RankOptions): EpochOrder {
  const { rank, world } = rankOf(o);
  checkInt('n (the number of images)', o.n, 1);
  const seed = o.seed ?? 0;
  const perRank = o.n % world === 0 ? o.n / world : Math.ceil((o.n - world) / world);
  if (perRank < 1) throw new Error(`sampler: ${o.n} images cannot be split over ${world} processes (need at least ${world})`);
  return {
    length: perRank,
    indices(epoch: number): Int32Array {
      const perm = permutation(o.n, new Rng(seed + epoch));
      const out = new Int32Array(perRank);
      for (let k = 0; k < perRank; k++) out[k] = perm[rank + k * world]!;
      return out;
    },
  };
}

/**
 * timm RepeatAugSampler(shuffle=True, num_repeats=repeats): a permutation (seeded with seed + epoch)
 * with every index repeated `repeats` times in a row, padded from its start to a multiple of the world
 * size, every world-th element from `rank`, then cut to floor(n // 256 · 256 / world) elements per rank
 * (timm's selected_round = 256, selected_ratio = world): so each epoch sees about n images, each
 * augmented `repeats` times on different ranks. Fewer than 256 images select nothing: that is an error.
 */
export function repeatAugOrder(o: { n: number; repeats: number; seed?: number } & RankOptions): EpochOrder {
  const { rank, world } = rankOf(o);
  checkInt('n (the number of images)', o.n, 1);
  checkInt('repeats (--rep_aug)', o.repeats, 1);
  const seed = o.seed ?? 0;
  const numSamples = Math.ceil((o.n * o.repeats) / world);
  const totalSize = numSamples * world;
  const selected = Math.floor((Math.floor(o.n / 256) * 256) / world);
  if (selected < 1) {
    throw new Error(
      `repeated augmentation (--rep_aug ${o.repeats}) needs at least 256 training images: timm's RepeatAugSampler keeps floor(N/256)·256 per epoch, which is 0 for N = ${o.n} (use --rep_aug 0)`,
    );
  }
  return {
    length: selected,
    indices(epoch: number): Int32Array {
      const perm = permutation(o.n, new Rng(seed + epoch));
      const full = o.n * o.repeats;
      const out = new Int32Array(selected);
      for (let k = 0; k < selected; k++) {
        const j = (rank + k * world) % totalSize; // position in the padded, repeated sequence
        out[k] = perm[Math.floor((j < full ? j : j - full) / o.repeats)]!;
      }
      return out;
    },
  };
}

/**
 * The reference's val order: dataset order, this rank's contiguous share (DistInfiniteBatchSampler with
 * shuffle=False, filling=False: torch.linspace(0, n, world + 1) boundaries).
 */
export function sequentialOrder(o: { n: number } & RankOptions): EpochOrder {
  const { rank, world } = rankOf(o);
  checkInt('n (the number of images)', o.n, 1);
  const lo = Math.trunc((o.n * rank) / world);
  const hi = Math.trunc((o.n * (rank + 1)) / world);
  const idx = Int32Array.from({ length: hi - lo }, (_, k) => lo + k);
  if (idx.length === 0) throw new Error(`sampler: rank ${rank} of ${world} gets no images out of ${o.n}`);
  return { length: idx.length, indices: () => idx };
}

export interface EpochSamplerOptions {
  order: EpochOrder;
  batchSize: number;
  startEpoch?: number;
  startIter?: number;
}

/**
 * Batches of `batchSize` over each epoch's sequence, the last one short; epochs follow one another
 * without end (the caller runs `itersPerEpoch` iterations per epoch). {epoch, iter} is the whole state.
 */
export class EpochBatchSampler extends EpochCursor implements BatchSampler {
  readonly batchSize: number;
  readonly itersPerEpoch: number;
  private readonly order: EpochOrder;
  private seq: Int32Array | null = null;
  private seqEpoch = -1;

  constructor(o: EpochSamplerOptions) {
    super();
    const { batchSize, startEpoch = 0, startIter = 0 } = o;
    checkInt('batchSize', batchSize, 1);
    checkInt('startEpoch', startEpoch, 0);
    checkInt('startIter', startIter, 0);
    this.order = o.order;
    this.batchSize = batchSize;
    this.itersPerEpoch = Math.ceil(o.order.length / batchSize);
    if (startIter >= this.itersPerEpoch) {
      throw new Error(`sampler: startIter ${startIter} is past the end of an epoch (${this.itersPerEpoch} iterations of ${batchSize} over ${o.order.length} images)`);
    }
    this.epoch = startEpoch;
    this.iter = startIter;
  }


  /** The epoch's index sequence (cached for the current epoch). */
  epochIndices(epoch: number): Int32Array {
    if (this.seqEpoch !== epoch || !this.seq) {
      this.seq = this.order.indices(epoch);
      this.seqEpoch = epoch;
    }
    return this.seq;
  }

  batchAt(epoch: number, iter: number): SampledBatch {
    const seq = this.epochIndices(epoch);
    const begin = iter * this.batchSize;
    const end = Math.min(begin + this.batchSize, seq.length);
    const indices: number[] = [];
    const positions: number[] = [];
    for (let p = begin; p < end; p++) {
      indices.push(seq[p]!);
      positions.push(p);
    }
    return { epoch, iter, indices, positions };
  }

}
