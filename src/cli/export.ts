// `spark export --ckpt F --to d2|timm|safetensors|mmdet --out G [--ema]`: pretrained or fine-tuned
// weights in the files that detectron2, mmdetection, timm and safetensors loaders read.
import { EXPORT_FORMATS, describeExport, exportWeights, isExportFormat } from '../train/export/index.js';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  ckpt: { type: 'string', default: '', help: 'weights to export: timm-style .pth, spark-style .pth (its encoder), a fine-tune checkpoint, or .safetensors' },
  to: {
    type: 'string', default: '',
    help: 'd2 (detectron2 .pkl, ResNets: the reference\'s convert-timm-to-d2.py), timm (state dict .pth), safetensors, mmdet ({\'state_dict\'} .pth for mmdetection\'s model.pretrained)',
  },
  out: { type: 'string', default: '', help: 'the file to write (d2: *.pkl, safetensors: *.safetensors)' },
  ema: { type: 'bool', default: false, help: 'export a fine-tune checkpoint\'s EMA weights instead of its module' },
  help: { type: 'bool', default: false, help: 'show this help' },
};
const USAGE = `usage: spark export --ckpt FILE --to ${EXPORT_FORMATS.join('|')} --out FILE [--ema]`;

export async function exportCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS);
  if (flags.help) { console.log(helpText(USAGE, FLAGS)); return 0; }
  if (positional.length) throw new UsageError(`unexpected argument '${positional[0]}'; ${USAGE}`);
  const ckpt = flags.ckpt as string, to = flags.to as string, out = flags.out as string;
  if (!ckpt) throw new UsageError(`--ckpt is required; ${USAGE}`);
  if (!to) throw new UsageError(`--to is required (${EXPORT_FORMATS.join(', ')}); ${USAGE}`);
  if (!isExportFormat(to)) throw new UsageError(`--to ${to} is not an export format; use one of ${EXPORT_FORMATS.join(', ')}`);
  if (!out) throw new UsageError(`--out is required; ${USAGE}`);
  const r = exportWeights({ ckpt, to, out, ema: flags.ema as boolean });
  console.log(describeExport(r, ckpt));
  return 0;
}
