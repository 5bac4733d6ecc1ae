// The fine-tuning/evaluation loader: labelled batches {images, targets} decoded off the main thread by
// the same batching core and worker pool as pretraining (loader.ts, pool.ts), with the reference's
// samplers and transforms (downstream_imagenet/data.py):
//  - train: the 'finetune' transform; repeated-augmentation order when repAug > 0 (timm
//    RepeatAugSampler, num_repeats = repAug), else a shuffled order (torch DistributedSampler,
//    drop_last=True); batches of batchSize with a short last batch, as the reference's DataLoader;
//  - val: the 'eval' transform; dataset order; short last batch.
// Every sample's augmentation is seeded by (seed, epoch, position in the epoch), so the batches depend on
// the seed and the start position only: a run resumed at {epoch, iter} continues identically.
// An unreadable image stops the loader with an error naming the file.

import { LARGE_IMG_SIZE } from './augment.js';
import type { ClassificationFolders } from './classes.js';
import { BatchLoader, defaultWarn, positiveInt, type Batch, type LoaderStats } from './loader.js';
import { defaultWorkerCount } from './pool.js';
import { hashSeed } from './rng.js';
import { EpochBatchSampler, repeatAugOrder, sequentialOrder, shuffledOrder, type EpochOrder } from './sampler.js';

export interface ClassificationLoaderOptions {
  /** From openClassificationFolders(). */
  folders: ClassificationFolders;
  split: 'train' | 'val';
  /** Output side S (the reference's --img_size). */
  imgSize: number;
  /** Images per batch for this process (the last batch of an epoch may be shorter). */
  batchSize: number;
  seed?: number;
  /** Train only: repeated-augmentation count (the reference's --rep_aug); 0 (default) = plain shuffling. */
  repAug?: number;
  /** Distributed share (rank 0 of world 1 by default). */
  rank?: number;
  world?: number;
  /** Decode workers; 0 decodes on the main thread. Default: available cores, at most 8. */
  workers?: number;
  /** Batches decoded ahead. Default 3. */
  prefetch?: number;
  /** Where to start: the `position` of a previous loader. */
  startEpoch?: number;
  startIter?: number;
  /**
   * Val only: keep the decoded val images in memory after the first pass (3·S·S·4 bytes each, e.g.
   * 123 MB for Fashion-MNIST's 10k at 32 px), so later evaluations do not decode again. Default false.
   */
  cache?: boolean;
  /** Warnings (default: stderr). */
  onWarning?: (message: string) => void;
}

export interface LabelledBatch extends Batch {
  /** (B,3,S,S) float32 normalised images: the same array as `data`. */
  images: Float32Array;
  /** (B,) int64 class indices. */
  targets: BigInt64Array;
}

export interface ClassificationLoader extends AsyncIterable<LabelledBatch> {
  next(): Promise<LabelledBatch>;
  close(): Promise<void>;
  /** Class names; target k means classes[k]. */
  readonly classes: readonly string[];
  readonly files: readonly string[];
  /** Images per epoch for this process (after repeats/selection), and batches per epoch. */
  readonly samplesPerEpoch: number;
  readonly itersPerEpoch: number;
  readonly workers: number;
  readonly stats: LoaderStats;
  /** Position of the next batch next() returns: pass as startEpoch/startIter to resume. */
  readonly position: { epoch: number; iter: number };
}

/** The reference's sampler of a split (see the header): one epoch's index sequence for this rank. */
function epochOrder(o: Pick<ClassificationLoaderOptions, 'split' | 'repAug' | 'seed' | 'rank' | 'world'>, n: number): EpochOrder {
  const seed = o.seed ?? 0, repAug = o.repAug ?? 0;
  const rank = { rank: o.rank ?? 0, world: o.world ?? 1 };
  if (o.split === 'val') return sequentialOrder({ n, ...rank });
  if (repAug > 0) return repeatAugOrder({ n, repeats: repAug, seed, ...rank });
  return shuffledOrder({ n, seed, ...rank });
}

/**
 * The epoch a loader with these options would walk, without starting one (no decoding): a job needs
 * the iterations per epoch to place a resumed run before it starts its loader there.
 */
export function classificationEpoch(o: Pick<ClassificationLoaderOptions, 'folders' | 'split' | 'batchSize' | 'repAug' | 'rank' | 'world'>): { samplesPerEpoch: number; itersPerEpoch: number } {
  const split = o.split === 'train' ? o.folders.train : o.folders.val;
  const order = epochOrder(o, split.files.length);
  return { samplesPerEpoch: order.length, itersPerEpoch: new EpochBatchSampler({ order, batchSize: o.batchSize }).itersPerEpoch };
}

class LabelledLoader implements ClassificationLoader {
  readonly classes: readonly string[];
  readonly samplesPerEpoch: number;
  private readonly labels: Int32Array;
  private readonly core: BatchLoader;

  constructor(o: ClassificationLoaderOptions) {
    const split = o.split === 'train' ? o.folders.train : o.split === 'val' ? o.folders.val : null;
    if (!split) throw new Error(`classification loader: split must be 'train' or 'val', got ${String(o.split)}`);
    positiveInt('imgSize', o.imgSize);
    positiveInt('batchSize', o.batchSize);
    if (o.split === 'train' && o.imgSize >= LARGE_IMG_SIZE) {
      throw new Error(
        `fine-tuning at img_size ${o.imgSize} is not supported yet: from ${LARGE_IMG_SIZE} px the reference augments with timm's AutoAugment 'v0' instead of TrivialAugmentWide, which sparkts does not implement (use --img_size below ${LARGE_IMG_SIZE}; evaluation works at any size)`,
      );
    }
    if (o.cache && o.split !== 'val') throw new Error('classification loader: cache is for the val split only (the train transform is random every epoch)');
    const repAug = o.repAug ?? 0;
    if (!Number.isSafeInteger(repAug) || repAug < 0) throw new Error(`classification loader: repAug must be an integer >= 0, got ${repAug}`);
    const seed = o.seed ?? 0;
    const rank = { rank: o.rank ?? 0, world: o.world ?? 1 };
    const order = epochOrder(o, split.files.length);
    const sampler = new EpochBatchSampler({ order, batchSize: o.batchSize, startEpoch: o.startEpoch ?? 0, startIter: o.startIter ?? 0 });
    this.classes = o.folders.classes;
    this.labels = split.labels;
    this.samplesPerEpoch = order.length;
    // Samples are seeded by (seed, epoch, position in this rank's epoch). With several ranks the stream also
    // depends on the rank: RepeatAugSampler puts the repeats of an image on different ranks at the same
    // position, and they must get different augmentations (the point of repeating them).
    const streamSeed = rank.world > 1 ? hashSeed(seed, rank.rank) : seed;
    this.core = new BatchLoader({
      files: split.files,
      source: `${o.folders.root}/${o.split}`,
      sampler,
      transform: o.split === 'train' ? 'finetune' : 'eval',
      inputSize: o.imgSize,
      seed: streamSeed,
      normalize: true,
      workers: o.workers ?? defaultWorkerCount(),
      prefetch: o.prefetch ?? 3,
      badImages: 'fail',
      cache: o.cache ?? false,
      warn: o.onWarning ?? defaultWarn,
    });
  }

  get files(): readonly string[] {
    return this.core.files;
  }
  get itersPerEpoch(): number {
    return this.core.itersPerEpoch;
  }
  get workers(): number {
    return this.core.workers;
  }
  get stats(): LoaderStats {
    return this.core.stats;
  }
  get position(): { epoch: number; iter: number } {
    return this.core.position;
  }

  async next(): Promise<LabelledBatch> {
    const b = await this.core.next();
    const targets = BigInt64Array.from(b.indices, (i) => BigInt(this.labels[i]!));
    return { ...b, images: b.data, targets };
  }

  close(): Promise<void> {
    return this.core.close();
  }

  [Symbol.asyncIterator](): AsyncIterator<LabelledBatch> {
    return {
      next: async () => ({ value: await this.next(), done: false }),
      return: async () => {
        await this.close();
        return { value: undefined, done: true };
      },
    };
  }
}

/**
 * Start a labelled loader over one split of openClassificationFolders(); its workers start decoding at
 * once. Run `itersPerEpoch` next() calls per epoch; call close() when done.
 */
export function createClassificationLoader(options: ClassificationLoaderOptions): ClassificationLoader {
  return new LabelledLoader(options);
}
