// Evaluation on a labelled val split (main.py evaluate, plus what `spark eval` reports): every image
// once, in dataset order, through the reference's val transform; for each model given (the model and
// its EMA share the decoded batches) the top-1 and top-5 hits overall and per class.
// A val split small enough is decoded once and kept by the loader (the eval transform is deterministic,
// so the numbers are the same), which makes the per-epoch evaluations of small runs cheap.
// Data parallel (the reference's evaluate under torch.distributed): each rank evaluates its contiguous
// share of the dataset order (DistInfiniteBatchSampler with shuffle=False, filling=False: no image padded
// or seen twice) and the hit and image counts are summed over the ranks — counts, not a mean of the ranks'
// accuracies — so every rank gets the accuracy one process computes on the whole split.
import * as torch from '../torch/index.js';
import type { Tensor, nn } from '../torch/index.js';
import { createClassificationLoader, type ClassificationFolders, type ClassificationLoader, type LabelledBatch } from '../data/index.js';

export interface ClassAccuracy { name: string; count: number; top1: number; top5: number }

export interface EvalResult {
  /** images evaluated (the reference's tot_pred) */
  count: number;
  /** accuracies in percent */
  top1: number;
  top5: number;
  perClass: ClassAccuracy[];
}

export interface ValSetOptions {
  imgSize: number;
  /** the reference evaluates with twice the training batch */
  batchSize: number;
  workers: number;
  device: string;
  /** keep the decoded split in memory when it takes at most this many bytes (default 256 MiB) */
  cacheBytes?: number;
  /** data parallel: this rank's share, and the sum of counts over the ranks (a DistContext); default one process */
  ranks?: { rank: number; worldSize: number; sumOverRanks(values: number[]): number[] };
}

/** The val split of a dataset, iterable once per evaluation. Call close() when done. */
export class ValSet {
  private loader: ClassificationLoader | null = null;
  constructor(readonly folders: ClassificationFolders, readonly o: ValSetOptions) {
    if (folders.val.files.length === 0) throw new Error(`no images in ${folders.root}/val`);
    const world = o.ranks?.worldSize ?? 1;
    if (folders.val.files.length < world) {
      throw new Error(`${folders.root}/val has ${folders.val.files.length} image(s), fewer than the ${world} ranks evaluating it; add val images or run on fewer processes`);
    }
  }

  get size(): number { return this.folders.val.files.length; }

  // One loader for the whole run, one epoch of it per evaluation (main.py's infinite val iterator);
  // it keeps the decoded images when they fit in cacheBytes.
  private async *batches(): AsyncGenerator<LabelledBatch> {
    if (!this.loader) {
      const bytes = this.size * 3 * this.o.imgSize * this.o.imgSize * 4;
      this.loader = createClassificationLoader({
        folders: this.folders, split: 'val', imgSize: this.o.imgSize, batchSize: Math.min(this.o.batchSize, this.size), workers: this.o.workers,
        rank: this.o.ranks?.rank ?? 0, world: this.o.ranks?.worldSize ?? 1,
        cache: bytes <= (this.o.cacheBytes ?? 256 * 2 ** 20),
      });
    }
    for (let i = 0; i < this.loader.itersPerEpoch; i++) yield await this.loader.next();
  }

  async close(): Promise<void> {
    await this.loader?.close();
    this.loader = null;
  }

  /** Evaluate each model (in eval mode, no grad; modes restored) on the whole split (this rank's share, counts summed over ranks). */
  async evaluate(models: nn.Module[]): Promise<EvalResult[]> {
    const classes = this.folders.classes;
    let acc = models.map(() => classes.map(() => ({ count: 0, top1: 0, top5: 0 })));
    const modes = models.map((m) => m.training);
    for (const m of models) m.eval();
    try {
      for await (const b of this.batches()) {
        torch.tidy(() => torch.noGrad(() => {
          const x = torch.tensor(b.images, { shape: b.shape, device: this.o.device });
          models.forEach((m, mi) => {
            const top = topK(m.forward(x) as Tensor, 5);
            for (let i = 0; i < b.targets.length; i++) {
              const y = Number(b.targets[i]);
              const row = top[i]!;
              const c = acc[mi]![y]!;
              c.count++;
              if (row[0] === y) c.top1++;
              if (row.includes(y)) c.top5++;
            }
          });
        }));
      }
    } finally {
      models.forEach((m, i) => m.train(modes[i]));
    }
    if (this.o.ranks) acc = sumCounts(acc, this.o.ranks.sumOverRanks.bind(this.o.ranks));
    return acc.map((perClass) => {
      const count = perClass.reduce((s, c) => s + c.count, 0);
      const hit1 = perClass.reduce((s, c) => s + c.top1, 0), hit5 = perClass.reduce((s, c) => s + c.top5, 0);
      return {
        count, top1: 100 * hit1 / count, top5: 100 * hit5 / count,
        perClass: perClass.map((c, k) => ({ name: classes[k]!, count: c.count, top1: c.count ? 100 * c.top1 / c.count : NaN, top5: c.count ? 100 * c.top5 / c.count : NaN })),
      };
    });
  }
}

type Counts = { count: number; top1: number; top5: number };

/** Every model's per-class counts summed over the ranks, in one allreduce. */
function sumCounts(acc: Counts[][], sum: (values: number[]) => number[]): Counts[][] {
  const flat = sum(acc.flatMap((perClass) => perClass.flatMap((c) => [c.count, c.top1, c.top5])));
  let i = 0;
  return acc.map((perClass) => perClass.map(() => ({ count: flat[i++]!, top1: flat[i++]!, top5: flat[i++]! })));
}

/**
 * The indices of the k largest logits of each row, largest first (ties: the lower index first, as
 * argmax). The first one is the reference's argmax prediction.
 */
function topK(logits: Tensor, k: number): number[][] {
  const kk = Math.min(k, logits.size(1));
  const [, idx] = torch.topk(logits, kk, 1);
  const argmax = logits.argmax(1);
  const flat = Array.from(idx.to({ device: 'cpu' }).contiguous().toTypedArray() as BigInt64Array, Number);
  const am = Array.from(argmax.to({ device: 'cpu' }).toTypedArray() as BigInt64Array, Number);
  return am.map((a, i) => {
    const row = flat.slice(i * kk, (i + 1) * kk);
    // topk's order among equal logits is unspecified; the top-1 prediction is argmax's, as main.py
    if (row[0] !== a) { row.splice(row.indexOf(a) >= 0 ? row.indexOf(a) : kk - 1, 1); row.unshift(a); }
    return row;
  });
}
