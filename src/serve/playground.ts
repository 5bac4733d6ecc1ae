// The playground's inference: uploaded images kept by id (a few, least recently used dropped), one
// model per checkpoint loaded once and kept while its file is unchanged, and one request at a time
// (a queue), all through the code `spark reconstruct` runs (train/reconstruct.ts).
import fs from 'node:fs';
import { randomUUID } from 'node:crypto';
import * as torch from '../torch/index.js';
import type { SparK } from '../spark/index.js';
import {
  loadReconstructionModel, disposeModel, decodeForModel, seededMask, patchMask, reconstructOne,
} from '../train/reconstruct.js';
import { HttpError } from './paths.js';

/** The size uploads are checked at: a full decode, small output, so corrupt files are caught at upload. */
const CHECK_SIZE = 32;

interface Upload { bytes: Uint8Array; name: string }

export class UploadStore {
  private readonly items = new Map<string, Upload>();
  constructor(private readonly capacity = 16) {}

  /** Decode once to reject non-images and corrupt files with a message (415); returns the upload's id. */
  async add(bytes: Uint8Array, name: string): Promise<string> {
    if (!bytes.length) throw new HttpError(400, 'the upload is empty; choose an image file');
    try { await decodeForModel(bytes, CHECK_SIZE, name); } catch (e) { throw new HttpError(415, (e as Error).message); }
    const id = randomUUID();
    this.items.set(id, { bytes, name });
    while (this.items.size > this.capacity) this.items.delete(this.items.keys().next().value!);
    return id;
  }

  get(id: string): Upload {
    const u = this.items.get(id);
    if (!u) throw new HttpError(404, 'this image is no longer on the server (it keeps the last few uploads); upload it again');
    this.items.delete(id); this.items.set(id, u);       // most recently used last
    return u;
  }
}

/** One loaded model, replaced when another checkpoint (or a rewritten file) is asked for. */
export class ModelCache {
  private entry: { key: string; model: SparK; epoch?: number } | null = null;
  loads = 0;
  constructor(private readonly device = 'cpu') {}

  get(file: string): SparK {
    const st = fs.statSync(file);
    const key = `${file}\0${st.size}\0${st.mtimeMs}`;
    if (this.entry?.key === key) return this.entry.model;
    this.dispose();        // one model in memory at a time: a ResNet-50 SparK is ~0.5 GB with its decoder
    const model = loadReconstructionModel(file, { device: this.device });
    this.loads++;
    this.entry = { key, model };
    return model;
  }

  dispose(): void {
    if (this.entry) disposeModel(this.entry.model);
    this.entry = null;
  }
}

/** Runs jobs one after another, in arrival order; a failing job does not stop the ones behind it. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();
  pending = 0;

  run<T>(job: () => Promise<T> | T): Promise<T> {
    this.pending++;
    const p = this.tail.then(job);
    this.tail = p.then(() => undefined, () => undefined).finally(() => { this.pending--; });
    return p;
  }
}

export interface ReconstructRequest {
  image: string;
  /** the checkpoint file (already resolved) */
  ckptFile: string;
  /** mask ratio and seed of a random mask (used when `visible` is absent) */
  ratio: number;
  seed: number;
  /** f·f characters '1' (visible) / '0' (masked), row-major: a hand-made mask */
  visible?: string;
}

export interface ReconstructResponse {
  /** the picture: input | masked | reconstruction | full reconstruction, as a PNG */
  png: Uint8Array;
  width: number;
  height: number;
  /** the model's input side and its patch grid side (input / 32) */
  inputSize: number;
  fmap: number;
  patch: number;
  /** the mask used, as `visible` takes it */
  visible: string;
  ms: number;
}

export class Playground {
  readonly uploads = new UploadStore();
  readonly models: ModelCache;
  readonly queue = new SerialQueue();

  constructor(private readonly device = 'cpu') { this.models = new ModelCache(device); }

  reconstruct(r: ReconstructRequest): Promise<ReconstructResponse> {
    const upload = this.uploads.get(r.image);          // before queueing: a stale id fails at once
    if (!(r.ratio > 0 && r.ratio < 1)) throw new HttpError(400, `mask ratio must be in (0, 1), got ${r.ratio}`);
    if (!Number.isInteger(r.seed) || r.seed < 0) throw new HttpError(400, `seed must be a non-negative integer, got ${r.seed}`);
    if (r.visible !== undefined && !/^[01]+$/.test(r.visible)) throw new HttpError(400, "the mask must be a string of '0' (masked) and '1' (visible), one per patch");
    return this.queue.run(async () => {
      const t0 = performance.now();
      let model: SparK;
      try { model = this.models.get(r.ckptFile); } catch (e) { throw new HttpError(422, (e as Error).message); }
      const input = await decodeForModel(upload.bytes, model.inputSize, upload.name).catch((e: Error) => { throw new HttpError(415, e.message); });
      const f = model.fmapSize;
      if (r.visible !== undefined && r.visible.length !== f * f) {
        throw new HttpError(400, `the mask has ${r.visible.length} patches but this checkpoint's model takes ${f}×${f}; pick the patches again`);
      }
      return torch.tidy(() => {
        const active = r.visible !== undefined ? patchMask(model, [...r.visible].map((c) => c === '1'), this.device)
          : seededMask(model, r.ratio, r.seed, this.device);
        const visible = Array.from(active.to({ device: 'cpu', dtype: 'uint8' }).contiguous().toTypedArray() as Uint8Array, (v) => (v ? '1' : '0')).join('');
        const g = reconstructOne(model, input, active, this.device);
        return {
          png: g.png, width: g.width, height: g.height, inputSize: model.inputSize, fmap: f, patch: model.downsampleRatio,
          visible, ms: Math.round(performance.now() - t0),
        };
      });
    });
  }

  close(): void { this.models.dispose(); }
}
