// Intra-op threads. Debian's libtorch starts with 1; sparkts defaults to every available core.
import os from 'node:os';
import { native } from './native.js';

export function setNumThreads(n: number): void { native.setNumThreads(n); }
export function getNumThreads(): number { return native.getNumThreads(); }
export function defaultNumThreads(): number {
  const env = Number(process.env.SPARKTS_NUM_THREADS);
  return Number.isInteger(env) && env > 0 ? env : os.availableParallelism();
}
setNumThreads(defaultNumThreads());
