// The data layer's public surface.
export { IMAGE_EXTENSIONS, isImageFile, listImages, resolveImageRoot } from './folder.js';
export { decodeBmp, isBmp, type RgbImage } from './bmp.js';
export {
  IMAGENET_DEFAULT_MEAN,
  IMAGENET_DEFAULT_STD,
  PRETRAIN_CROP_SCALE,
  DEFAULT_CROP_RATIO,
  pyRound,
  randomResizedCropParams,
  resizeShorterThenCenterCrop,
  rgbToChw,
  sampleFlip,
  type CropBox,
} from './augment.js';
export { Rng, hashSeed, mix32, permutation } from './rng.js';
export { loadSample, type SampleRequest } from './sample.js';
export { DecodePool, defaultWorkerCount } from './pool.js';
export { InfiniteBatchSampler, type SamplerOptions, type SampledBatch } from './sampler.js';
export { createLoader, type Batch, type Loader, type LoaderOptions, type LoaderStats } from './loader.js';
export { DEMO_DATA_ENV, demoDataPath, repoRoot } from './demo.js';
export { measureLoaderThroughput, type ThroughputOptions } from './throughput.js';
