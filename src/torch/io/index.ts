// Weight file formats, independent of the tensor engine: safetensors, torch.save .pth (zip +
// pickle), and the atomic file writes that checkpoints use.
export * from './dtypes.js';
export { numel, contiguousStrides, checkRawTensor, toNumbers, fromNumbers, rawEqual } from './raw.js';
export { writeFileAtomic } from './atomic.js';
export { readSafetensors, writeSafetensors, SafetensorsReader, type SafetensorsContents, type SafetensorsEntry } from './safetensors.js';
export * from './pyvalue.js';
export { pickle, unpickle, type PickleOptions, type UnpickleOptions, type UnpickleResult, type PyCallable } from './pickle.js';
export { loadPth, loadPthDetailed, savePth, archiveNameFor, type LoadPthResult, type SavePthOptions } from './pth.js';
export { ZipReader, ZipWriter, type ZipEntry } from './zip.js';
