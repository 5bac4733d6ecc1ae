// Sample values shared by the .pth tests (kept out of the test files so that importing them does
// not re-register those files' tests).
import { DTYPES, type DType, type RawTensor } from '../../../src/torch/io/dtypes.js';
import { PyOrderedDict, type PyValue, pyDict, tuple } from '../../../src/torch/io/pyvalue.js';
import { fromNumbers } from '../../../src/torch/io/raw.js';

function tensorOf(dtype: DType, shape: number[], seed: number): RawTensor {
  const n = shape.reduce((a, b) => a * b, 1);
  const vals = Array.from({ length: n }, (_, i) => {
    const x = ((i * 7 + seed * 13) % 23) - 11;
    if (dtype === 'bool') return x > 0 ? 1 : 0;
    if (dtype === 'uint8') return x + 11;
    return dtype.startsWith('float') || dtype === 'bfloat16' ? x / 4 : x;
  });
  return fromNumbers(dtype, shape, vals);
}

/** A checkpoint shaped like the reference's, with every dtype and the tricky Python types. */
export function sampleCheckpoint(): Map<PyValue, PyValue> {
  const sd = new PyOrderedDict();
  DTYPES.forEach((d, i) => sd.set(`layer.${d}`, tensorOf(d, [2, 3], i)));
  sd.set('scalar', tensorOf('float32', [], 1));
  sd.set('empty', tensorOf('float32', [0, 4], 2));
  sd.attrs.set('_metadata', new PyOrderedDict([['', pyDict({ version: 1n })], ['layer', pyDict({ version: 2n })]]));
  const shared = tensorOf('float32', [4], 3);
  return pyDict({
    args: 'Namespace(...)',
    epoch: 3n,
    lr: 1.0,
    big: 1n << 65n,
    betas: tuple(0.9, 0.95),
    flags: [true, false, null],
    module: sd,
    optimizer: pyDict({
      state: new Map<PyValue, PyValue>([[0n, pyDict({ exp_avg: shared, step: 1.0 })]]),
      param_groups: [pyDict({ params: [0n, 1n], lr: 0.001, weight_decay: 0.0, amsgrad: false })],
    }),
    also_shared: shared,
  });
}

