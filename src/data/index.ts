// The data layer's public surface.
export { IMAGE_EXTENSIONS, isImageFile, listImages, readDirSorted, resolveImageRoot } from './folder.js';
export { openClassificationFolders, openValFolder, type ClassificationFolders, type LabelledSplit } from './classes.js';
export { decodeBmp, isBmp, type RgbImage } from './bmp.js';
export {
  IMAGENET_DEFAULT_MEAN,
  IMAGENET_DEFAULT_STD,
  PRETRAIN_CROP_SCALE,
  DEFAULT_CROP_RATIO,
  FINETUNE_CROP_SCALE,
  EVAL_CROP_PCT,
  LARGE_IMG_SIZE,
  evalGeometry,
  flipRgbInPlace,
  pyRound,
  randomResizedCropParams,
  resizeShorterThenCenterCrop,
  rgbToChw,
  sampleFlip,
  type CropBox,
} from './augment.js';
export { Rng, hashSeed, mix32, permutation } from './rng.js';
export { loadSample, type SampleRequest, type SampleTransform } from './sample.js';
export { TAW_OPS, applyTrivialAugmentOp, sampleTrivialAugment, trivialAugmentWide, type TawOp } from './trivialaugment.js';
export { FINETUNE_ERASING, randomErasing, type ErasingOptions } from './erasing.js';
export { DecodePool, defaultWorkerCount } from './pool.js';
export {
  InfiniteBatchSampler,
  EpochBatchSampler,
  shuffledOrder,
  repeatAugOrder,
  sequentialOrder,
  type BatchSampler,
  type EpochOrder,
  type RankOptions,
  type SamplerOptions,
  type SampledBatch,
} from './sampler.js';
export { createLoader, type Batch, type Loader, type LoaderOptions, type LoaderStats } from './loader.js';
export {
  createClassificationLoader,
  classificationEpoch,
  type ClassificationLoader,
  type ClassificationLoaderOptions,
  type LabelledBatch,
} from './labelled.js';
export { DEMO_DATA_ENV, demoDataPath, repoRoot } from './demo.js';
export { measureLoaderThroughput, type ThroughputOptions } from './throughput.js';
