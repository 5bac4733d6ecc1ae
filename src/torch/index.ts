// The sparkts tensor library: `import * as torch from 'sparkts/torch'` reads like PyTorch.
export * from './generated/ops.js';
export { Tensor, tensor, wrap, type NestedArray } from './tensor.js';
export { zeros, ones, empty, full, eye, linspace, arange, rand, randn, randint, randperm, normal, bernoulli } from './creation.js';
export { tidy, keep, dispose, liveTensorCount, nativeMemory, cpuAllocatorStats, emptyCpuCache, type CpuAllocatorStats } from './memory.js';
export { noGrad, enableGrad, isGradEnabled, backward } from './autograd.js';
export { Generator, manualSeed, defaultGenerator } from './random.js';
export { setNumThreads, getNumThreads, defaultNumThreads } from './threads.js';
export { cuda, buildInfo } from './device.js';
export type { DType, Device, MemoryFormat, TensorOptions, TypedArray } from './dtype.js';
export * as nn from './nn/index.js';
export * as optim from './optim/index.js';
export * as distributed from './distributed.js';
export * as profiler from './profiler.js';
// file formats: safetensors and PyTorch .pth (raw tensors), and their bridge to Tensors
export * as io from './io/index.js';
export { loadSafetensors, saveSafetensors, rawToTensor, tensorToRaw } from './io/tensor_bridge.js';
