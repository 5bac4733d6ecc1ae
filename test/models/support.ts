// Helpers of the models tests: freeing a model, leak checks, sparse contexts, golden fixture headers.
import assert from 'node:assert/strict';
import { goldenPath } from '../helpers.js';
import * as torch from '../../src/torch/index.js';
import { SafetensorsReader } from '../../src/torch/io/index.js';
import type { nn, Tensor } from '../../src/torch/index.js';

/** Free a model's parameters and buffers (modules own no other tensors). */
export function disposeModule(m: nn.Module): void {
  for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
}

/**
 * Call at the top of a test file; run the returned check as its last test: every tensor created
 * since the call must have been freed.
 */
export function leakCheck(): () => void {
  const start = torch.liveTensorCount();
  return () => assert.equal(torch.liveTensorCount(), start, 'tensors leaked');
}

/** A sparse-execution context from a patch mask (N,1,f,f): nearest upsampling by repetition, cached per size. */
export function maskContext(active: Tensor): { mask: (h: number, w: number) => Tensor; dispose(): void } {
  const cache = new Map<string, Tensor>();
  return {
    mask(h: number, w: number): Tensor {
      const key = `${h}x${w}`;
      let m = cache.get(key);
      if (!m) {
        const rh = h / active.size(2), rw = w / active.size(3);
        assert.ok(Number.isInteger(rh) && Number.isInteger(rw), `mask ${active.shape} does not divide ${h}x${w}`);
        m = torch.keep(active.repeatInterleave(rh, 2).repeatInterleave(rw, 3));
        cache.set(key, m);
      }
      return m;
    },
    dispose(): void { for (const m of cache.values()) m.dispose(); cache.clear(); },
  };
}

export { goldenPath };

export interface FixtureEncoderState {
  case: Record<string, unknown>;
  featureChannels: number[];
  paramNames: string[];
  /** encoder state names (prefix `state.sparse_encoder.sp_cnn.` removed) and shapes, in file order */
  entries: [string, number[]][];
  /** read one encoder tensor's data */
  read(name: string): Tensor;
  close(): void;
}

export const ENCODER_PREFIX = 'sparse_encoder.sp_cnn.';

/** The encoder part of a golden fixture, from its safetensors header (file order = the reference's state-dict order). */
export function fixtureEncoder(file: string): FixtureEncoderState {
  const r = SafetensorsReader.open(goldenPath(file));
  const pre = `state.${ENCODER_PREFIX}`;
  const entries: [string, number[]][] = [...r.entries]
    .filter(([k]) => k.startsWith(pre))
    .map(([k, e]) => [k.slice(pre.length), e.shape]);
  return {
    case: JSON.parse(r.metadata.case),
    featureChannels: JSON.parse(r.metadata.feature_channels),
    paramNames: (JSON.parse(r.metadata.param_names) as string[]).filter((n) => n.startsWith(ENCODER_PREFIX)).map((n) => n.slice(ENCODER_PREFIX.length)),
    entries,
    read(name: string): Tensor {
      const raw = r.read(pre + name);
      return torch.tensor(raw.data, { dtype: raw.dtype as torch.DType, shape: raw.shape });
    },
    close: () => r.close(),
  };
}

/** Max |a - b| as a number. */
export function maxAbsDiff(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.double().sub(b.double()).abs().amax().item());
}
