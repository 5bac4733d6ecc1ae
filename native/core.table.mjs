// The hand-written entry points of the addon (native/src/core.cc, registerCore): what is not an op.
// scripts/gen-ops.mjs turns this list and the op table into src/torch/generated/native_api.ts, the
// TypeScript type of the whole addon, and fails when this list and core.cc's REG(...) names differ.
//
// Entry: [name, TypeScript parameters, TypeScript return type, what it does]
// Types may use Handle (a tensor), GeneratorHandle, DType (from ../dtype.js).

export const CORE = [
  // tensors from and to JS memory
  ['fromBuffer', 'data: ArrayBufferView | ArrayBuffer, dtype: DType, shape: number[]', 'Handle', 'a new tensor holding a copy of the bytes'],
  ['toBuffer', 'self: Handle', 'ArrayBuffer', "the tensor's bytes (contiguous, on the CPU)"],
  ['item', 'self: Handle', 'number | boolean', 'the value of a one-element tensor'],
  // metadata and lifetime
  ['meta', 'self: Handle', '[shape: number[], dtype: DType, device: string, requiresGrad: boolean]', 'shape, dtype, device and requiresGrad in one crossing'],
  ['strides', 'self: Handle', 'number[]', 'the strides in elements'],
  ['dispose', 'self: Handle', 'void', 'release the handle now (idempotent)'],
  ['isDisposed', 'self: Handle', 'boolean', 'whether the handle was released'],
  ['liveTensorCount', '', 'number', 'handles alive now'],
  ['externalMemory', '', '[reportedBytes: number, v8ExternalBytes: number]', 'bytes reported to V8, and V8\'s external-memory total'],
  // autograd
  ['setRequiresGrad', 'self: Handle, requiresGrad: boolean', 'void', 'requires_grad_()'],
  ['grad', 'self: Handle', 'Handle | null', 'a new handle onto the accumulated gradient, or null'],
  ['setGrad', 'self: Handle, grad: Handle | null', 'void', 'replace (or clear) the gradient'],
  ['setData', 'self: Handle, value: Handle', 'void', 'swap the data under a tensor, keeping its identity'],
  ['isLeaf', 'self: Handle', 'boolean', 'whether the tensor is an autograd leaf'],
  ['retainGrad', 'self: Handle', 'void', 'keep the gradient of a non-leaf'],
  ['backward', 'tensors: Handle[], gradients: Handle[] | null, retainGraph: boolean, createGraph: boolean', 'void', 'torch.autograd.backward'],
  ['setGradEnabled', 'on: boolean', 'boolean', 'set grad mode; returns the previous one'],
  ['isGradEnabled', '', 'boolean', 'the current grad mode'],
  // threads, seeds, generators, devices
  ['setNumThreads', 'n: number', 'void', 'intra-op threads'],
  ['getNumThreads', '', 'number', 'intra-op threads'],
  ['manualSeed', 'seed: number', 'void', 'seed every default generator'],
  ['newGenerator', 'seed: number', 'GeneratorHandle', 'a new CPU generator'],
  ['defaultGenerator', '', 'GeneratorHandle', 'the default CPU generator'],
  ['generatorState', 'generator: GeneratorHandle', 'Handle', 'the generator state as a uint8 tensor'],
  ['setGeneratorState', 'generator: GeneratorHandle, state: Handle', 'void', 'restore a generator state'],
  ['cudaIsAvailable', '', 'boolean', 'whether CUDA can be used'],
  ['cudaDeviceCount', '', 'number', 'visible CUDA devices'],
  ['cudaSynchronize', '', 'void', 'wait for the current CUDA device'],
  ['setAllowTF32', 'on: boolean', 'void', 'TF32 in cuDNN convolutions and cuBLAS matmuls'],
  ['buildInfo', '', '{ torchVersion: string; parallelInfo: string; cuda: boolean }', 'libtorch version, parallel backend, CUDA'],
];
