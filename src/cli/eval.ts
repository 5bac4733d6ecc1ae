// `spark eval`: top-1, top-5 and per-class accuracy of a fine-tuned checkpoint on a val folder.
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';
import { evaluate, EVALUATE_DEFAULTS, type EvaluateResult } from '../train/eval_checkpoint.js';

export const EVAL_FLAGS: FlagSpecs = {
  ckpt: { type: 'string', help: 'a *_1kfinetuned_*.pth (ours or the reference\'s) or a timm-style classifier state dict' },
  data_path: { type: 'string', help: 'dataset root with val/<class>/* (or the val/ folder itself)' },
  model: { type: 'string', help: 'the architecture, when the checkpoint does not name it' },
  ema: { type: 'bool', default: EVALUATE_DEFAULTS.ema, help: 'evaluate the checkpoint\'s EMA weights' },
  img_size: { type: 'int', default: EVALUATE_DEFAULTS.imgSize, help: 'image side (0 = the size the checkpoint was fine-tuned at, else 224)' },
  bs: { type: 'int', default: EVALUATE_DEFAULTS.batchSize, help: 'batch size' },
  dataloader_workers: { type: 'int', default: -1, aliases: ['workers'], help: 'image decoding worker threads (default: min(cores, 8); 0 = main thread)' },
  device: { type: 'string', default: EVALUATE_DEFAULTS.device, help: 'cpu or cuda[:n]' },
  threads: { type: 'int', default: EVALUATE_DEFAULTS.threads, help: 'libtorch intra-op threads (0 = all cores)' },
  json: { type: 'bool', default: false, help: 'print the result as one JSON object' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark eval --ckpt FILE.pth --data_path DIR [--model M] [--ema] [--json]';

export function formatEvalResult(r: EvaluateResult): string {
  const w = Math.max(5, ...r.perClass.map((c) => c.name.length));
  const lines = [
    `[eval] ${r.model}${r.ema ? ' (EMA)' : ''} from ${r.ckpt}${r.epoch !== undefined ? ` (epoch ${r.epoch})` : ''}: ${r.count} images, ${r.perClass.length} classes, img_size ${r.imgSize}`,
    `top-1 ${r.top1.toFixed(2)}   top-5 ${r.top5.toFixed(2)}`,
    '', `${'class'.padEnd(w)}  ${'images'.padStart(6)}  ${'top-1'.padStart(6)}  ${'top-5'.padStart(6)}`,
    ...r.perClass.map((c) => `${c.name.padEnd(w)}  ${String(c.count).padStart(6)}  ${c.top1.toFixed(2).padStart(6)}  ${c.top5.toFixed(2).padStart(6)}`),
  ];
  return lines.join('\n');
}

export async function evalCommand(argv: string[]): Promise<number> {
  const { flags: f, positional } = parseArgs(argv, EVAL_FLAGS);
  if (f.help) { console.log(helpText(USAGE, EVAL_FLAGS)); return 0; }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'; give the checkpoint as --ckpt and the data as --data_path`);
  if (!f.ckpt) throw new UsageError('--ckpt is required: the checkpoint to evaluate');
  if (!f.data_path) throw new UsageError('--data_path is required: the dataset root with val/<class>/*');
  const workers = f.dataloader_workers as number;
  const r = await evaluate({
    ckpt: f.ckpt as string, dataPath: f.data_path as string, model: f.model as string | undefined, ema: f.ema as boolean,
    imgSize: f.img_size as number, batchSize: f.bs as number, workers: workers >= 0 ? workers : undefined,
    device: f.device as string, threads: f.threads as number,
  });
  console.log(f.json ? JSON.stringify(r) : formatEvalResult(r));
  return 0;
}
