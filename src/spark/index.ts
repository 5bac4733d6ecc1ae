export { SparK, SparseEncoder, type SparKOptions, type DensifyNorm, type Visualization } from './model.js';
export { LightDecoder, UNetBlock } from './decoder.js';
export { randomMask, expandMask, checkMask, visibleCount } from './mask.js';
export { sparseContext } from './sparse.js';
export { patchify, unpatchify, normalizedTarget, maskedPatchLoss } from './loss.js';
