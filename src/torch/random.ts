// Seeds and explicit random generators (CPU generators; ATen's per-device defaults otherwise).
import { native, type GeneratorHandle } from './native.js';
import type { Tensor } from './tensor.js';
import { wrap } from './tensor.js';

export class Generator {
  readonly handle: GeneratorHandle;
  constructor(seed: number | bigint = 0, handle?: GeneratorHandle) {
    this.handle = handle ?? native.newGenerator(Number(seed));
  }
  /** The generator's full state as a uint8 tensor (for exact resume). */
  getState(): Tensor { return wrap(native.generatorState(this.handle)); }
  setState(state: Tensor): void { native.setGeneratorState(this.handle, state.handle); }
}

/** Seed every default generator (CPU and CUDA), like torch.manual_seed. */
export function manualSeed(seed: number): void {
  native.manualSeed(seed);
}

/** The process-wide default CPU generator (used when an op gets no explicit generator). */
export function defaultGenerator(): Generator {
  return new Generator(0, native.defaultGenerator());
}
