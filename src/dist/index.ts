// Data-parallel training over libtorch's c10d: the torchrun environment, the process group, DDP's
// gradient averaging, SyncBN, rank-0-only writes.
export { readDistEnv, DEFAULT_TIMEOUT_S, type DistEnv } from './env.js';
export { DistContext, initDistributed, BUCKET_CAP_BYTES } from './context.js';
export { convertSyncBatchNorm } from './syncbn.js';
export { DistError } from './errors.js';
