// torch.optim: SGD, AdamW, the reference's LAMB, gradient clipping, PyTorch-layout state dicts.
export { Optimizer, REQUIRED, type OptionValue, type Options, type ParamGroup, type ParamGroupInput, type ParamState, type OptimizerStateDict } from './optimizer.js';
export { SGD, type SGDOptions } from './sgd.js';
export { AdamW, type AdamWOptions } from './adamw.js';
export { LAMB, type LAMBOptions } from './lamb.js';
export { clipGradNorm, type ClipGradNormOptions } from './clip_grad.js';
export { optimizerStateDictFromPy, optimizerStateDictToPy } from './pystate.js';
