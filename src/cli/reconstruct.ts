// `spark reconstruct --ckpt FILE --image IMG… [--mask R] [--seed S] [--out DIR]`: the reference's
// visualisation as PNGs, from our checkpoints or the reference's *_withdecoder_* files.
import { mkdirSync, existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import * as torch from '../torch/index.js';
import { writeFileAtomic } from '../torch/io/atomic.js';
import { createPretrainEncoder, isModelName, listModels, modelRecord } from '../models/index.js';
import { SparK, type DensifyNorm } from '../spark/index.js';
import { createLoader } from '../data/index.js';
import { loadCheckpoint, loadIntoSpark, disposeCheckpoint, type LoadedCheckpoint } from '../train/checkpoint.js';
import { reconstructionGrid } from '../train/visualize.js';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  ckpt: { type: 'string', default: '', help: 'a *_withdecoder_1kpretrained_spark_style.pth (ours or the reference\'s)' },
  image: { type: 'list', help: 'one or more image files' },
  mask: { type: 'float', default: 0, help: 'mask ratio (default: the checkpoint\'s)' },
  seed: { type: 'int', default: 0, help: 'seed of the random masks' },
  out: { type: 'string', default: 'reconstructions', help: 'output folder' },
  device: { type: 'string', default: 'cpu', help: 'cpu or cuda[:n]' },
  help: { type: 'bool', default: false, help: 'show this help' },
};
const USAGE = 'usage: spark reconstruct --ckpt FILE --image IMG [IMG…] [--mask R] [--seed S] [--out DIR]';

function configValue(c: LoadedCheckpoint, key: string): unknown {
  const v = c.config?.get(key);
  return typeof v === 'bigint' ? Number(v) : v;
}

/** Build the SparK model a spark-style checkpoint was saved from. */
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

export async function reconstructCommand(argv: string[]): Promise<number> {
  const { flags: f, positional } = parseArgs(argv, FLAGS);
  if (f.help) { console.log(helpText(USAGE, FLAGS)); return 0; }
  const images = [...(f.image as string[]), ...positional];
  if (!f.ckpt) throw new UsageError(`--ckpt is required; ${USAGE}`);
  if (!images.length) throw new UsageError(`give at least one --image; ${USAGE}`);
  for (const img of images) if (!existsSync(img)) throw new UsageError(`image ${img} does not exist`);
  const mask = f.mask as number;
  if (mask !== 0 && !(mask > 0 && mask < 1)) throw new UsageError(`--mask must be in (0, 1), got ${mask}`);

  const ck = loadCheckpoint(f.ckpt as string);
  let model: SparK | undefined;
  try {
    model = modelForCheckpoint(ck, mask);
    loadIntoSpark(model, ck, { strict: mask === 0 });    // a different --mask is a deliberate config change
    await writeReconstructions(model, images, f.out as string, f.seed as number, f.device as string);
  } finally {
    disposeCheckpoint(ck);
    // freed now, not at GC: the command can be called in-process (tests, scripts)
    if (model) for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
  }
  return 0;
}

async function writeReconstructions(model: SparK, images: string[], out: string, seed: number, device: string): Promise<void> {
  if (device !== 'cpu') model.to(device);
  // Warnings off (the error below names the files, on one line), and the loader's own error for "all
  // unreadable" replaced by the same one: it suggests --data_path, which this command does not have.
  const loader = createLoader({ files: images, inputSize: model.inputSize, batchSize: images.length, augment: false, workers: 0, onWarning: () => {} });
  const batch = await (async () => {
    try { return await loader.next(); } catch (e) { if (!loader.stats.skipped) throw e; return null; } finally { await loader.close(); }
  })();
  if (!batch || loader.stats.skipped) throw new Error(`could not decode ${loader.stats.skippedFiles.join(', ')}; pass readable images`);
  mkdirSync(out, { recursive: true });
  torch.tidy(() => {
    const x = torch.tensor(batch.data, { shape: batch.shape, device });
    const active = model.mask(images.length, { generator: new torch.Generator(seed), device });
    images.forEach((img, i) => {
      const g = reconstructionGrid(model, x.narrow(0, i, 1), active.narrow(0, i, 1));
      const file = path.join(out, `${path.parse(img).name}_reconstruction.png`);
      writeFileAtomic(file, (fd) => { writeFileSync(fd, g.png); });
      console.log(`wrote ${file}  (input | masked | reconstruction with visible patches | full reconstruction)`);
    });
    if (images.length > 1) {
      const g = reconstructionGrid(model, x, active);
      const file = path.join(out, 'reconstruction_grid.png');
      writeFileAtomic(file, (fd) => { writeFileSync(fd, g.png); });
      console.log(`wrote ${file}`);
    }
  });
}
