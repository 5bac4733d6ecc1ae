// The hand-written entry points of the addon (native/src/core.cc, registerCore): what is not an op.
// scripts/gen-ops.mjs turns this list and the op table into src/torch/generated/native_api.ts, the
// TypeScript type of the whole addon, and fails when this list and core.cc's REG(...) names differ.
//
// Entry: [name, TypeScript parameters, TypeScript return type, what it does]
// Types may use Handle (a tensor), GeneratorHandle, GroupHandle (a process group), DType (from ../dtype.js).

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
  // the caching CPU allocator (native/src/cpu_allocator.cc)
  ['cpuAllocatorStats', '', '{ caching: boolean; liveBytes: number; cachedBytes: number; highWaterBytes: number; freshMaps: number; reuses: number; unmaps: number }', 'large-block counters of the caching CPU allocator'],
  ['cpuAllocatorEmptyCache', '', 'void', 'unmap every cached block and reset the high-water mark'],
  // libtorch's op profiler (native/src/profiler.cc)
  ['profilerStart', '', 'void', 'record every op dispatched on this thread'],
  ['profilerStop', '', '{ name: string; selfUs: number; totalUs: number; calls: number }[]', 'stop; per op name (\'[optimizer] \' prefixed inside an optimizer step): self and total µs, calls'],
  ['profilerRangeStart', 'name: string', 'unknown', 'open a named user range (record_function); returns its handle'],
  ['profilerRangeEnd', 'range: unknown', 'void', 'close a range opened by profilerRangeStart'],
];

// The c10d entries (native/src/dist.cc, registerDist), under the addon's `dist` object. Without gloo
// (the addon built without USE_C10D_GLOO) they exist and throw one line saying how to get it.
// GroupHandle: an opaque process group.
export const DIST = [
  ['distAvailable', '', '{ gloo: boolean; nccl: boolean }', 'which c10d backends the addon was built with'],
  ['newProcessGroup', 'backend: string, masterAddr: string, masterPort: number, rank: number, worldSize: number, timeoutMs: number, ifname: string', 'GroupHandle',
    'join a process group: TCPStore rendezvous (rank 0 hosts it), then ProcessGroupGloo/NCCL; blocks until all ranks joined or the timeout'],
  ['destroyProcessGroup', 'group: GroupHandle', 'void', 'close the group now (idempotent)'],
  ['barrier', 'group: GroupHandle', 'void', 'wait for every rank'],
  ['allgather', 'group: GroupHandle, tensor: Handle', 'Handle', "every rank's tensor stacked: (world, ...shape)"],
  ['allreduce', 'group: GroupHandle, tensor: Handle, op: string', 'void', 'in place; op sum, max or min'],
  ['allreduceBucketed', 'group: GroupHandle, tensors: Handle[], capBytes: number, scale: number', 'void',
    'every tensor := scale · Σ over ranks, flattened into persistent buckets of at most capBytes'],
  ['broadcastBucketed', 'group: GroupHandle, tensors: Handle[], root: number', 'void', "every tensor := root's, in place"],
  ['syncBatchNorm', 'input: Handle, weight: Handle | null, bias: Handle | null, runningMean: Handle | null, runningVar: Handle | null, momentum: number, eps: number, group: GroupHandle', 'Handle',
    'training-mode batch norm with statistics over all ranks (differentiable)'],
];
