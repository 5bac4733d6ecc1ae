// Devices: CUDA when the linked libtorch has it.
import { native } from './native.js';

export const cuda = {
  isAvailable: (): boolean => native.cudaIsAvailable(),
  deviceCount: (): number => native.cudaDeviceCount(),
  synchronize: (): void => native.cudaSynchronize(),
  /** TF32 for cuDNN convolutions and cuBLAS matmuls (PyTorch's default: on for convolutions). */
  setAllowTF32: (on: boolean): void => native.setAllowTF32(on),
};

/** libtorch version and build facts, for benchmarks and bug reports. */
export function buildInfo(): { torchVersion: string; parallelInfo: string; cuda: boolean } {
  return native.buildInfo();
}
