// The reference's fine-tuning recipe: mixing, losses, EMA and the one step function the job and
// `spark verify` share.
export * from './mixup.js';
export * from './criteria.js';
export * from './ema.js';
export * from './step.js';
