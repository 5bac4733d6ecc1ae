// SyncBN (the reference's --sbn, on by default when distributed): every BatchNorm of a model computes
// its training statistics over all ranks' batches. PyTorch converts BatchNorm modules into
// SyncBatchNorm ones; ours are the same modules with a process group set (nn.BatchNorm.processGroup),
// which keeps the module tree, its fields and its state-dict names unchanged. That covers the sparse
// encoder's BatchNorms (their statistics are over the visible positions they gather, now of every
// rank: the reference's SparseSyncBatchNorm2d), the decoder's and the densify norms ('bn').
// LayerNorms (ConvNeXt) have no batch statistics and stay as they are.
import { nn } from '../torch/index.js';
import type { ProcessGroup } from '../torch/distributed.js';

/** Set `group` on every BatchNorm of `model` (null turns SyncBN off); returns how many. */
export function convertSyncBatchNorm(model: nn.Module, group: ProcessGroup | null): number {
  let n = 0;
  for (const m of model.modules()) {
    if (m instanceof nn.BatchNorm) { m.processGroup = group; n++; }
  }
  return n;
}
