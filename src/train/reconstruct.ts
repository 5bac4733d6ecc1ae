// Reconstruction: the job (`spark reconstruct`, the library's reconstruct(): files → PNGs) and the
// inference it shares with `spark serve` (uploads → the playground): the model a spark-style checkpoint
// was saved from, an image decoded and cropped as the evaluation transform does, a random or hand-made
// patch mask, and the reference's picture.
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import { writeFileAtomic } from '../torch/io/atomic.js';
import type { Tensor } from '../torch/index.js';
import { createPretrainEncoder, isModelName, listModels, modelRecord } from '../models/index.js';
import { SparK, randomMask, type DensifyNorm } from '../spark/index.js';
import { createLoader, loadSample } from '../data/index.js';
import { loadCheckpoint, loadIntoSpark, disposeCheckpoint, type LoadedCheckpoint } from './checkpoint.js';
import { reconstructionGrid, type ReconstructionGrid } from './visualize.js';

export interface ReconstructOptions {
  /** a *_withdecoder_1kpretrained_spark_style.pth (ours or the reference's) */
  ckpt: string;
  /** one or more image files */
  images: string[];
  /** mask ratio; 0 = the checkpoint's */
  mask?: number;
  /** seed of the random masks */
  seed?: number;
  /** output folder */
  out?: string;
  device?: string;
  /** false: no "wrote …" lines */
  verbose?: boolean;
}

export const RECONSTRUCT_DEFAULTS = { mask: 0, seed: 0, out: 'reconstructions', device: 'cpu', verbose: true } as const;

export interface ReconstructResult {
  /** one PNG per image (input | masked | reconstruction with visible patches | full reconstruction), then the grid of all when there are several */
  files: string[];
}

/** The checks that need no file read: one line naming the option and the fix. */
export function validateReconstructOptions(o: ReconstructOptions): void {
  if (!o.ckpt) throw new Error('--ckpt is required');
  if (!o.images?.length) throw new Error('give at least one --image');
  for (const img of o.images) if (!existsSync(img)) throw new Error(`image ${img} does not exist`);
  const mask = o.mask ?? RECONSTRUCT_DEFAULTS.mask;
  if (mask !== 0 && !(mask > 0 && mask < 1)) throw new Error(`--mask must be in (0, 1), got ${mask}`);
}

function configValue(c: LoadedCheckpoint, key: string): unknown {
  const v = c.config?.get(key);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Build the SparK model a spark-style checkpoint was saved from (weights not loaded). */
export function modelForCheckpoint(c: LoadedCheckpoint, maskOverride = 0): SparK {
  if (c.kind !== 'spark') throw new Error(`${c.path} holds ${c.kind === 'finetune' ? 'a fine-tuned classifier' : 'encoder weights only'}; reconstruction needs the decoder: pass a *_withdecoder_1kpretrained_spark_style.pth`);
  const arch = c.arch ?? '';
  if (!isModelName(arch)) throw new Error(`${c.path} was saved for model '${arch}', which sparkts does not know; known: ${listModels().join(', ')}`);
  const inputSize = Number(configValue(c, 'sparse_encoder.input_size') ?? c.inputSize ?? 224);
  const maskRatio = maskOverride || Number(configValue(c, 'mask_ratio') ?? 0.6);
  const dn = String(configValue(c, 'densify_norm_str') ?? modelRecord(arch).pretrain.densifyNorm);
  const densifyNorm: DensifyNorm = dn === 'bn' || dn === 'ln' ? dn : 'identity';
  return new SparK(createPretrainEncoder(arch), {
    inputSize, maskRatio, densifyNorm, decoderWidth: Number(configValue(c, 'dense_decoder.width') ?? 768),
  });
}

/**
 * The SparK model of a spark-style checkpoint with its weights, on `device`. `mask` (0 = the
 * checkpoint's) changes the model's mask ratio, a deliberate config change, so the load is not strict
 * about it. Free the model with disposeModel.
 */
export function loadReconstructionModel(file: string, o: { mask?: number; device?: string } = {}): SparK {
  const mask = o.mask ?? 0;
  const ck = loadCheckpoint(file);
  let model: SparK | undefined;
  try {
    model = modelForCheckpoint(ck, mask);
    loadIntoSpark(model, ck, { strict: mask === 0 });
    if (o.device && o.device !== 'cpu') model.to(o.device);
    return model;
  } catch (e) {
    if (model) disposeModel(model);
    throw e;
  } finally {
    disposeCheckpoint(ck);
  }
}

/** Free a model's tensors now, not at GC (servers and in-process callers load several). */
export function disposeModel(model: SparK): void {
  for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
}

/**
 * One image's bytes → the model's input (1,3,S,S), through the evaluation transform `spark reconstruct`
 * applies to files (resize the shorter side, centre crop, ImageNet normalisation). `name` is only for
 * the error: "could not decode NAME (…); pass a readable image".
 */
export async function decodeForModel(bytes: Uint8Array, size: number, name = 'the image'): Promise<Float32Array> {
  try {
    return await loadSample({ file: name, bytes, size, transform: 'center', normalize: true, seed: 0 });
  } catch (e) {
    throw new Error(`could not decode ${name} (${(e as Error).message}); pass a readable image (PNG, JPEG, WebP, GIF, TIFF, BMP)`);
  }
}

/**
 * The mask `spark reconstruct --mask ratio --seed seed` draws for its first image: (1,1,f,f), true =
 * visible. A caller-made mask replaces it through `patchMask`.
 */
export function seededMask(model: SparK, ratio: number, seed: number, device = 'cpu'): Tensor {
  return randomMask(1, model.fmapSize, ratio, { generator: new torch.Generator(seed), device });
}

/** A (1,1,f,f) bool mask from f·f visibility flags in row-major order (true = visible). */
export function patchMask(model: SparK, visible: boolean[], device = 'cpu'): Tensor {
  const f = model.fmapSize;
  if (visible.length !== f * f) throw new Error(`the mask has ${visible.length} patches but this model's input has ${f}×${f} = ${f * f}`);
  return torch.tensor(Uint8Array.from(visible, (v) => (v ? 1 : 0)), { shape: [1, 1, f, f], dtype: 'bool', device });
}

/** The reconstruction picture of one decoded image (input | masked | reconstruction | full reconstruction). */
export function reconstructOne(model: SparK, input: Float32Array, active: Tensor, device = 'cpu'): ReconstructionGrid {
  return torch.tidy(() => {
    const x = torch.tensor(input, { shape: [1, 3, model.inputSize, model.inputSize], device });
    return reconstructionGrid(model, x, active);
  });
}

/** Reconstruct masked images with a pretrained checkpoint; options not given take RECONSTRUCT_DEFAULTS. */
export async function reconstruct(options: ReconstructOptions): Promise<ReconstructResult> {
  validateReconstructOptions(options);
  const o = { ...RECONSTRUCT_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) } as Required<ReconstructOptions>;
  const model = loadReconstructionModel(o.ckpt, { mask: o.mask });
  try {
    return { files: await writeReconstructions(model, o) };
  } finally {
    disposeModel(model);    // freed now, not at GC: the job runs in-process (library callers, tests)
  }
}

async function writeReconstructions(model: SparK, o: Required<ReconstructOptions>): Promise<string[]> {
  const { images, out, seed, device } = o;
  if (device !== 'cpu') model.to(device);
  // Warnings off (the error below names the files, on one line), and the loader's own error for "all
  // unreadable" replaced by the same one: it suggests --data_path, which this job does not have.
  const loader = createLoader({ files: images, inputSize: model.inputSize, batchSize: images.length, augment: false, workers: 0, onWarning: () => {} });
  const batch = await (async () => {
    try { return await loader.next(); } catch (e) { if (!loader.stats.skipped) throw e; return null; } finally { await loader.close(); }
  })();
  if (!batch || loader.stats.skipped) throw new Error(`could not decode ${loader.stats.skippedFiles.join(', ')}; pass readable images`);
  mkdirSync(out, { recursive: true });
  const say = (s: string): void => { if (o.verbose) console.log(s); };
  const files: string[] = [];
  torch.tidy(() => {
    const x = torch.tensor(batch.data, { shape: batch.shape, device });
    const active = model.mask(images.length, { generator: new torch.Generator(seed), device });
    images.forEach((img, i) => {
      const g = reconstructionGrid(model, x.narrow(0, i, 1), active.narrow(0, i, 1));
      const file = path.join(out, `${path.parse(img).name}_reconstruction.png`);
      writeFileAtomic(file, (fd) => { writeFileSync(fd, g.png); });
      files.push(file);
      say(`wrote ${file}  (input | masked | reconstruction with visible patches | full reconstruction)`);
    });
    if (images.length > 1) {
      const g = reconstructionGrid(model, x, active);
      const file = path.join(out, 'reconstruction_grid.png');
      writeFileAtomic(file, (fd) => { writeFileSync(fd, g.png); });
      files.push(file);
      say(`wrote ${file}`);
    }
  });
  return files;
}
