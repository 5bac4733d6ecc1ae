// Helpers of the SparK tests: Python torch (for cross-checks against PyTorch itself, skipped when
// absent), freeing models, and randomising every parameter/buffer so that no term of the math is 0.
import { pythonWithTorch, runPython } from '../python.js';
import { before, after } from 'node:test';
import * as torch from '../../src/torch/index.js';
import type { nn, Tensor } from '../../src/torch/index.js';

export { pythonWithTorch };

/** Run a Python program (torch available) with arguments; returns its stdout parsed as JSON. */
export function runPythonJson(code: string, args: string[] = []): unknown {
  if (!pythonWithTorch()) throw new Error('python with torch is not available');
  return JSON.parse(runPython(code, args));
}

/** Free a model's parameters and buffers (modules own no other tensors). */
export function disposeModule(m: nn.Module): void {
  for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
}

/**
 * Give every floating parameter and buffer seeded random values (positive running variances), so
 * that zero-initialised BN weights, layer scales and biases cannot make masked positions 0 by accident.
 */
export function randomizeModule(m: nn.Module, seed: number): void {
  const gen = new torch.Generator(seed);
  torch.noGrad(() => torch.tidy(() => {
    for (const [name, t] of [...m.namedParameters(), ...m.namedBuffers()] as [string, Tensor][]) {
      if (t.dtype !== 'float32') continue;
      const r = torch.randn(t.shape, { generator: gen });
      if (name.endsWith('running_var')) t.copy_(r.abs().add(0.5));
      else if (name.endsWith('weight') && t.ndim === 1) t.copy_(r.mul(0.3).add(1));   // norm scales around 1
      else t.copy_(r.mul(t.ndim > 1 ? 0.1 : 0.3));
    }
  }));
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.double().sub(b.double()).abs().maxAll().item());
}

/**
 * Run this file's tests on one intra-op thread and restore the count after. The models here are
 * tiny: on a loaded 2-core machine a second OpenMP thread costs far more than it brings.
 */
export function oneThread(): void {
  let saved = 0;
  before(() => { saved = torch.getNumThreads(); torch.setNumThreads(1); });
  after(() => { torch.setNumThreads(saved); });
}
