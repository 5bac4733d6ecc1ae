// `spark export`: pretrained or fine-tuned weights in the files that detection and deployment tools load.
//   d2           detectron2 .pkl (ResNets), the reference's convert-timm-to-d2.py conversion (d2.ts)
//   timm         the state dict alone as a torch.save .pth: timm's / PyTorch's load_state_dict
//   safetensors  the same state dict as .safetensors (timm and Hugging Face load it by extension)
//   mmdet        {'state_dict': state dict} as a torch.save .pth, backbone names without a prefix: what
//                the reference's downstream_mmdet feeds through `model.pretrained=` to the backbone's
//                init_weights → mmcv_custom.load_checkpoint(backbone, …). The reference imports that
//                loader without shipping it: it is Swin-Transformer-Object-Detection's
//                mmcv_custom/checkpoint.py (commit 6a979e2, named in the reference's README; mmdet 2.x,
//                mmcv-full 1.x), which takes checkpoint['state_dict'] (else ['model'], else the whole
//                file), strips a leading 'module.' and loads with strict=False.
// Everything is checked before anything is written, and every write is atomic: a refused or failed
// export leaves no file behind.
import path from 'node:path';
import { writeFileAtomic } from '../../torch/io/atomic.js';
import { writeAll } from '../../torch/io/fsio.js';
import { savePth } from '../../torch/io/pth.js';
import { PyOrderedDict, type PyValue } from '../../torch/io/pyvalue.js';
import { writeSafetensors } from '../../torch/io/safetensors.js';
import { d2Pickle } from './d2.js';
import { type BackboneFamily, type ExportSource, backboneFamily, readExportSource } from './source.js';

export { d2Name, d2Pickle, D2_AUTHOR } from './d2.js';
export { readExportSource, backboneFamily, type BackboneFamily, type ExportSource } from './source.js';

export const EXPORT_FORMATS = ['d2', 'timm', 'safetensors', 'mmdet'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

export function isExportFormat(s: string): s is ExportFormat {
  return (EXPORT_FORMATS as readonly string[]).includes(s);
}

/** What each format needs: the file name its loader recognises, and the backbones it is for. */
const FORMAT_RULES: Record<ExportFormat, { what: string; ext?: string; extWhy?: string; families?: BackboneFamily[] }> = {
  // detectron2's checkpointer reads a name ending in .pkl with pickle and hands any other to torch.load
  d2: { what: 'detectron2 pickle', ext: '.pkl', extWhy: 'detectron2 unpickles only .pkl files (it torch.loads others)', families: ['resnet'] },
  timm: { what: 'timm-style state dict' },
  // timm's load_checkpoint and Hugging Face pick safetensors by the file name's extension
  safetensors: { what: 'safetensors state dict', ext: '.safetensors', extWhy: 'timm and Hugging Face read safetensors by that extension' },
  mmdet: { what: "mmdetection checkpoint {'state_dict'}", families: ['convnext', 'resnet'] },
};

const FAMILY_NAMES: Record<BackboneFamily, string> = { resnet: 'ResNet', convnext: 'ConvNeXt' };

export interface ExportOptions {
  ckpt: string;
  to: ExportFormat;
  out: string;
  /** a fine-tune checkpoint's EMA weights instead of its `module` */
  ema?: boolean;
}

export interface ExportResult {
  out: string;
  format: ExportFormat;
  /** where the weights came from in the input file */
  layout: string;
  family: BackboneFamily | undefined;
  tensors: number;
}

/** The state dict as PyTorch's state_dict() returns it: an OrderedDict, with `_metadata` when the source had it. */
function stateDict(src: ExportSource): PyOrderedDict {
  const sd = new PyOrderedDict(src.state);
  if (src.metadata) sd.attrs.set('_metadata', src.metadata);
  return sd;
}

/** Checks the request against the file name alone (before the input is even read). */
function checkOutput(o: ExportOptions): void {
  const rule = FORMAT_RULES[o.to];
  if (rule.ext && !o.out.endsWith(rule.ext)) {
    throw new Error(`--out ${o.out} must end in ${rule.ext} for --to ${o.to}: ${rule.extWhy}`);
  }
  if (path.resolve(o.out) === path.resolve(o.ckpt)) throw new Error(`--out ${o.out} is the input checkpoint; write the export to another file`);
}

/** Converts `o.ckpt` to `o.to` and writes `o.out` atomically; throws one line (and writes nothing) when it cannot. */
export function exportWeights(o: ExportOptions): ExportResult {
  if (!isExportFormat(o.to)) throw new Error(`--to ${String(o.to)} is not an export format; use one of ${EXPORT_FORMATS.join(', ')}`);
  checkOutput(o);
  const src = readExportSource(o.ckpt, { ema: o.ema });
  const family = backboneFamily(src.state);
  const rule = FORMAT_RULES[o.to];
  if (rule.families && !(family && rule.families.includes(family))) {
    const found = family ? `a ${FAMILY_NAMES[family]}` : `no ResNet or ConvNeXt (its tensors: ${[...src.state.keys()].slice(0, 3).join(', ')}, …)`;
    const fix = o.to === 'd2' && family === 'convnext'
      ? 'detectron2 export is for ResNets (the reference fine-tunes ConvNeXts in mmdetection): use --to mmdet'
      : `--to ${o.to} is for ${rule.families.map((f) => FAMILY_NAMES[f]).join(' and ')} backbones`;
    throw new Error(`${o.ckpt} holds ${found}; ${fix}`);
  }
  switch (o.to) {
    case 'd2': {
      const data = d2Pickle(src.state);
      writeFileAtomic(o.out, (fd) => writeAll(fd, data));
      break;
    }
    case 'timm':
      savePth(o.out, stateDict(src));
      break;
    case 'safetensors':
      // {'format': 'pt'}: what safetensors.torch.save_file writes and Hugging Face's loaders check
      writeSafetensors(o.out, src.state, { format: 'pt' });
      break;
    case 'mmdet':
      savePth(o.out, new Map<PyValue, PyValue>([['state_dict', stateDict(src)]]));
      break;
  }
  return { out: o.out, format: o.to, layout: src.layout, family, tensors: src.state.size };
}

/** One line for the user, as the reference's converter prints `len(state)==N`. */
export function describeExport(r: ExportResult, ckpt: string): string {
  const what = FORMAT_RULES[r.format].what;
  const model = r.family ? `${FAMILY_NAMES[r.family]} ` : '';
  return `[export] wrote ${r.out}: ${what}, len(state)==${r.tensors} (${model}weights from ${r.layout} ${ckpt})`;
}
