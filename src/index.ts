// The public surface of the `sparkts` package (package.json "exports": "." → dist/src/index.js). It
// sits at the top with the CLI: it re-exports from every layer and nothing imports it. What is not
// here is internal and may change between versions.

/** The tensor library: Tensor, creation, ops, autograd, tidy/keep/dispose, nn, optim, io. */
export * as torch from './torch/index.js';
export type { Tensor } from './torch/index.js';

// encoders: the registry and the contract any CNN implements to be pretrained
export { createModel, listModels, isModelName, createPretrainEncoder, createClassifier, modelRecord } from './models/index.js';
export type { ModelName, CreateModelOptions, ModelRecord, ResNet, ConvNeXt } from './models/index.js';
export { isEncoder, assertEncoder, encoderProblems } from './models/index.js';
export type { Encoder, EncoderForwardOptions, ForwardContext } from './models/index.js';

// SparK itself
export { SparK, type SparKOptions, type DensifyNorm, type Visualization } from './spark/index.js';

// the jobs, with the CLI's options (camelCase) and defaults
export { pretrain, PRETRAIN_DEFAULTS, type PretrainOptions, type PretrainResult, type PretrainProgress } from './train/pretrain.js';
export { finetune, type FinetuneResult } from './train/finetune.js';
export { FINETUNE_DEFAULTS, type FinetuneOptions, type FinetuneProgress } from './train/finetune_options.js';
export { evaluate, EVALUATE_DEFAULTS, type EvaluateOptions, type EvaluateResult } from './train/eval_checkpoint.js';
export { reconstruct, RECONSTRUCT_DEFAULTS, type ReconstructOptions, type ReconstructResult } from './train/reconstruct.js';
