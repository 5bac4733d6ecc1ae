// detectron2 weights from a timm-layout ResNet: the reference's downstream_d2/convert-timm-to-d2.py,
// rule for rule, written as the pickle its `pkl.dump` makes (numpy arrays, so that detectron2's
// `DetectionCheckpointer` reads it with plain `pickle.load`; no torch needed to read it):
//   {'model': {d2 name: ndarray}, '__author__': 'https://github.com/keyu-tian/SparK', 'matching_heuristics': True}
// Like the reference, every tensor is kept with its dtype (BN's num_batches_tracked stays int64) and
// a classifier's fc becomes `stem.fc.*`, which detectron2's matching heuristics leave unused.
import type { RawTensor } from '../../torch/io/dtypes.js';
import { pickleWithNdarrays } from '../../torch/io/numpy.js';
import type { PyValue } from '../../torch/io/pyvalue.js';

/** The reference converter's `__author__` entry, kept verbatim: the file says whose conversion it is. */
export const D2_AUTHOR = 'https://github.com/keyu-tian/SparK';

/**
 * The detectron2 name of a timm ResNet parameter, as the reference computes it (Python's str.replace
 * replaces every occurrence; the order of the rules matters and is theirs).
 */
export function d2Name(timmName: string): string {
  let k = timmName;
  if (!k.includes('layer')) k = `stem.${k}`;
  for (const t of [1, 2, 3, 4]) k = k.replaceAll(`layer${t}`, `res${t + 1}`);
  for (const t of [1, 2, 3]) k = k.replaceAll(`bn${t}`, `conv${t}.norm`);
  k = k.replaceAll('downsample.0', 'shortcut');
  k = k.replaceAll('downsample.1', 'shortcut.norm');
  return k;
}

/** The pickled detectron2 checkpoint of a timm-layout ResNet state dict. */
export function d2Pickle(state: Map<string, RawTensor>): Uint8Array {
  const model = new Map<PyValue, PyValue>();
  for (const [k, t] of state) {
    const name = d2Name(k);
    if (model.has(name)) throw new Error(`detectron2 export: ${k} and another tensor both become ${name}; the weights are not a timm ResNet's`);
    model.set(name, t);
  }
  return pickleWithNdarrays(new Map<PyValue, PyValue>([['model', model], ['__author__', D2_AUTHOR], ['matching_heuristics', true]]));
}
