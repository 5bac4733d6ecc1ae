// The weights `spark export` starts from, found in any file that holds them:
//   timm-style      a bare state dict (ours or the reference's `*_1kpretrained_timm_style.pth`)
//   spark-style     a pretraining checkpoint: its encoder, `module['sparse_encoder.sp_cnn.*']`
//   fine-tune       the reference's downstream_imagenet layout {args, arch, epoch, performance_desc,
//                   module, ema, optimizer, is_pretrain: False}: `module`, or `ema` when asked
//   wrapped         {state_dict | state | module | model: …} and MoCo's `module.encoder_q.*`, unwrapped as
//                   the reference's convert-timm-to-d2.py does
//   .safetensors    any of the state dicts above, as safetensors
// Only torch/io is involved: tensors stay RawTensors (bytes), nothing runs on libtorch.
import fs from 'node:fs';
import type { RawTensor } from '../../torch/io/dtypes.js';
import { loadPth } from '../../torch/io/pth.js';
import { PyOrderedDict, type PyValue, isRawTensor, pyTypeName } from '../../torch/io/pyvalue.js';
import { readSafetensors } from '../../torch/io/safetensors.js';

export type BackboneFamily = 'resnet' | 'convnext';

export interface ExportSource {
  path: string;
  /** where in the file the weights were, for messages: 'timm-style', 'spark-style encoder', 'fine-tune module', … */
  layout: string;
  /** tensor name → tensor, in the file's order */
  state: Map<string, RawTensor>;
  /** the state dict's `_metadata` (module → {version}), re-keyed like the tensors; absent when the file has none */
  metadata?: PyOrderedDict;
}

/** The SparK checkpoint's encoder prefix (the reference's `SparK.sparse_encoder.sp_cnn`). */
const SPARK_ENCODER = 'sparse_encoder.sp_cnn.';
/** MoCo v2's query encoder, which the reference's converter also accepts. */
const MOCO_ENCODER = 'module.encoder_q.';
/** Keys the reference's converter unwraps (it loops over this set). */
const WRAPPER_KEYS = ['state_dict', 'state', 'module', 'model'];

const ZIP_MAGIC = [0x50, 0x4b, 0x03, 0x04];
/** pickle's PROTO opcode: a bare pickle, such as a detectron2 .pkl (which sparkts never unpickles: it may name any Python class) */
const PICKLE_PROTO = 0x80;

function firstBytes(path: string): Uint8Array {
  const fd = fs.openSync(path, 'r');
  try {
    const b = new Uint8Array(4);
    return b.subarray(0, fs.readSync(fd, b, 0, 4, 0));
  } finally { fs.closeSync(fd); }
}

/** The file's top-level value: a torch.save file (zip) or a safetensors file (its tensors as a dict). */
function readTop(path: string): { top: PyValue; safetensors: boolean } {
  if (!fs.existsSync(path)) throw new Error(`checkpoint ${path} does not exist; check the path`);
  if (fs.statSync(path).isDirectory()) throw new Error(`checkpoint ${path} is a folder; pass a .pth or .safetensors file`);
  const head = firstBytes(path);
  if (head[0] === PICKLE_PROTO) {
    throw new Error(`checkpoint ${path} is a bare pickle (a detectron2 .pkl?), which sparkts does not read; export from the .pth or .safetensors it was made from`);
  }
  if (head.length === 4 && ZIP_MAGIC.every((x, i) => head[i] === x)) {
    try { return { top: loadPth(path), safetensors: false }; } catch (e) {
      throw new Error(`checkpoint ${path} could not be read (${(e as Error).message.split('\n')[0]}); it may be truncated`);
    }
  }
  try {
    return { top: new Map<PyValue, PyValue>(readSafetensors(path).tensors), safetensors: true };
  } catch {
    throw new Error(`checkpoint ${path} is neither a torch.save .pth (zip) nor a .safetensors file; pass a timm-style, spark-style or fine-tune checkpoint`);
  }
}

/** Keeps the entries under `prefix` (tensors and _metadata), without it. */
function underPrefix(d: Map<PyValue, PyValue>, prefix: string): PyOrderedDict {
  const out = new PyOrderedDict();
  for (const [k, v] of d) if (typeof k === 'string' && k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  const md = d instanceof PyOrderedDict ? d.attrs.get('_metadata') : undefined;
  if (md instanceof Map) {
    const root = prefix.slice(0, -1);
    const kept = new PyOrderedDict();
    for (const [k, v] of md) {
      if (k === root) kept.set('', v);
      else if (typeof k === 'string' && k.startsWith(prefix)) kept.set(k.slice(prefix.length), v);
    }
    out.attrs.set('_metadata', kept);
  }
  return out;
}

const hasPrefix = (d: Map<PyValue, PyValue>, prefix: string): boolean =>
  [...d.keys()].some((k) => typeof k === 'string' && k.startsWith(prefix));

/**
 * Reads the weights of `path`. `ema`: a fine-tune checkpoint's EMA weights instead of its `module`.
 * Throws one line naming the file and the fix when the file holds no weights.
 */
export function readExportSource(path: string, o: { ema?: boolean } = {}): ExportSource {
  const { top, safetensors } = readTop(path);
  if (!(top instanceof Map)) {
    throw new Error(`checkpoint ${path} holds a ${pyTypeName(top)}, not weights; pass a timm-style, spark-style or fine-tune checkpoint`);
  }
  let d: Map<PyValue, PyValue> = top;
  const layout: string[] = [safetensors ? 'safetensors' : 'timm-style'];
  if (o.ema) {
    const ema = top.get('ema');
    if (!(ema instanceof Map)) {
      throw new Error(`checkpoint ${path} has no 'ema' weights (only fine-tune checkpoints carry them); drop --ema to export its ${top.has('module') ? "'module'" : 'weights'}`);
    }
    d = ema;
    layout[0] = 'fine-tune ema';
  } else {
    for (const k of WRAPPER_KEYS) {
      const inner = d.get(k);
      if (inner instanceof Map) {
        d = inner;
        layout[0] = top.get('is_pretrain') === false && k === 'module' ? 'fine-tune module' : `'${k}' of the checkpoint`;
      }
    }
  }
  if (hasPrefix(d, MOCO_ENCODER)) { d = underPrefix(d, MOCO_ENCODER); layout.push('MoCo query encoder'); }
  if (hasPrefix(d, SPARK_ENCODER)) { d = underPrefix(d, SPARK_ENCODER); layout[0] = 'spark-style encoder'; }

  const state = new Map<string, RawTensor>();
  for (const [k, v] of d) if (typeof k === 'string' && isRawTensor(v)) state.set(k, v);
  if (state.size === 0) {
    const keys = [...top.keys()].map(String);
    throw new Error(`checkpoint ${path} holds no weights (its entries: ${keys.slice(0, 6).join(', ')}${keys.length > 6 ? ', …' : ''}${keys.length ? '' : 'none'}); pass a timm-style, spark-style or fine-tune checkpoint`);
  }
  const md = d instanceof PyOrderedDict ? d.attrs.get('_metadata') : undefined;
  return { path, layout: layout.join(', '), state, metadata: md instanceof PyOrderedDict ? md : undefined };
}

/**
 * Which backbone the weights are, from their names (timm's ResNet: conv1 + layer1…; the official
 * ConvNeXt: downsample_layers + stages), or undefined for any other network.
 */
export function backboneFamily(state: Map<string, RawTensor>): BackboneFamily | undefined {
  const keys = [...state.keys()];
  if (state.has('conv1.weight') && keys.some((k) => k.startsWith('layer1.'))) return 'resnet';
  if (state.has('downsample_layers.0.0.weight') && keys.some((k) => k.startsWith('stages.0.'))) return 'convnext';
  return undefined;
}
