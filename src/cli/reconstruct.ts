// `spark reconstruct --ckpt FILE --image IMG… [--mask R] [--seed S] [--out DIR]`: a thin layer over the
// library's reconstruct() (src/train/reconstruct.ts holds the job and its defaults).
import { reconstruct, validateReconstructOptions, RECONSTRUCT_DEFAULTS as D, type ReconstructOptions } from '../train/reconstruct.js';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  ckpt: { type: 'string', default: '', help: 'a *_withdecoder_1kpretrained_spark_style.pth (ours or the reference\'s)' },
  image: { type: 'list', help: 'one or more image files' },
  mask: { type: 'float', default: D.mask, help: 'mask ratio (default: the checkpoint\'s)' },
  seed: { type: 'int', default: D.seed, help: 'seed of the random masks' },
  out: { type: 'string', default: D.out, help: 'output folder' },
  device: { type: 'string', default: D.device, help: 'cpu or cuda[:n]' },
  help: { type: 'bool', default: false, help: 'show this help' },
};
const USAGE = 'usage: spark reconstruct --ckpt FILE --image IMG [IMG…] [--mask R] [--seed S] [--out DIR]';

export async function reconstructCommand(argv: string[]): Promise<number> {
  const { flags: f, positional } = parseArgs(argv, FLAGS);
  if (f.help) { console.log(helpText(USAGE, FLAGS)); return 0; }
  const o: ReconstructOptions = {
    ckpt: f.ckpt as string, images: [...(f.image as string[]), ...positional],
    mask: f.mask as number, seed: f.seed as number, out: f.out as string, device: f.device as string,
  };
  // the checks on the flags themselves are usage errors (exit 2)
  try { validateReconstructOptions(o); } catch (e) {
    const msg = (e as Error).message;
    throw new UsageError(o.ckpt && o.images.length ? msg : `${msg}; ${USAGE}`);
  }
  await reconstruct(o);
  return 0;
}
