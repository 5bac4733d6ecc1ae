// Interop with a real PyTorch (Debian's python3-torch at /usr/bin/python3): torch.load must read
// our files as the values we meant, and we must read what torch.save writes. Skipped without torch.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { test } from 'node:test';
import { DTYPES, type RawTensor } from '../../../src/torch/io/dtypes.js';
import { loadPth, loadPthDetailed, savePth } from '../../../src/torch/io/pth.js';
import { PyOrderedDict, PyTuple, type PyValue, isRawTensor } from '../../../src/torch/io/pyvalue.js';
import { toNumbers } from '../../../src/torch/io/raw.js';
import { sampleCheckpoint } from './samples.js';
import { PYTHON, golden, tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

const NO_TORCH = 'no PyTorch: /usr/bin/python3 -c "import torch" fails (apt-get install python3-torch)';

// Describes any loaded value as JSON with Python's types spelled out, so both sides compare alike.
const PY_DESCRIBE = `
import collections, json, sys, torch
def d(v):
    if isinstance(v, torch.Tensor):
        return {'tensor': str(v.dtype).replace('torch.', ''), 'shape': list(v.shape),
                'values': v.detach().double().flatten().tolist() if v.dtype != torch.bool else v.flatten().int().tolist()}
    if isinstance(v, collections.OrderedDict):
        return {'OrderedDict': [[d(k), d(x)] for k, x in v.items()], 'attrs': d(dict(vars(v)))}
    if isinstance(v, dict): return {'dict': [[d(k), d(x)] for k, x in v.items()]}
    if isinstance(v, tuple): return {'tuple': [d(x) for x in v]}
    if isinstance(v, list): return {'list': [d(x) for x in v]}
    if isinstance(v, bool) or v is None: return v
    if isinstance(v, int): return {'int': str(v)}
    if isinstance(v, float): return {'float': v}
    if isinstance(v, str): return {'str': v}
    raise TypeError(type(v))
`;

/** The same description, computed from our PyValue (the reader under test is not involved). */
function describe(v: PyValue): unknown {
  if (v === null || typeof v === 'boolean') return v;
  if (typeof v === 'bigint') return { int: v.toString() };
  if (typeof v === 'number') return { float: v };
  if (typeof v === 'string') return { str: v };
  if (Array.isArray(v)) return { list: v.map(describe) };
  if (v instanceof PyTuple) return { tuple: v.items.map(describe) };
  if (v instanceof PyOrderedDict) {
    return { OrderedDict: [...v].map(([k, x]) => [describe(k), describe(x)]), attrs: describe(new Map<PyValue, PyValue>(v.attrs)) };
  }
  if (v instanceof Map) return { dict: [...v].map(([k, x]) => [describe(k), describe(x)]) };
  if (isRawTensor(v)) return { tensor: v.dtype, shape: v.shape, values: [...toNumbers(v)] };
  throw new Error(`cannot describe ${String(v)}`);
}

// One Python process does the torch side of every check below (importing torch takes seconds):
// it loads the files we wrote and writes the files we then read.
const PY_MAIN = `${PY_DESCRIBE}
ours, golden_orig, golden_ours, theirs, bits, zip64 = sys.argv[1:7]
out = {}

x = torch.load(ours)
# one tensor saved twice is one tensor in torch too
out['ours_shared'] = x['optimizer']['state'][0]['exp_avg'] is x['also_shared']
out['ours'] = d(x)
out['zip64'] = d(torch.load(zip64))

out['golden_same'] = json.dumps(d(torch.load(golden_orig))) == json.dumps(d(torch.load(golden_ours)))

torch.manual_seed(0)
base = torch.randn(4, 6)
x = {
  'dtypes': {dt: (torch.randn(2, 3) * 50).to(getattr(torch, dt)) for dt in ${JSON.stringify(DTYPES)}},
  'transposed': base.t(),
  'slice': base[1:3, ::2],
  'row': base[2],
  'base': base,
  'expanded': torch.arange(3.).expand(2, 3),
  'scalar': torch.tensor(2.5, dtype=torch.float64),
  'param': torch.nn.Parameter(torch.ones(2, 2)),
  'sd': torch.nn.BatchNorm1d(3).state_dict(),
  'meta': {'epoch': 7, 'lr': 1.0, 'betas': (0.9, 0.999), 'names': ['a', None, True]},
}
torch.save(x, theirs)
x['param'] = x['param'].data  # we load Parameters as plain tensors
out['theirs'] = d(x)

b16 = torch.arange(-32768, 32768, dtype=torch.int32).to(torch.int16)
torch.save({'half': b16.clone().view(torch.float16), 'bf16': b16.clone().view(torch.bfloat16),
            'half_f64': b16.clone().view(torch.float16).double(), 'bf16_f64': b16.clone().view(torch.bfloat16).double()}, bits)
print(json.dumps(out))`;

interface PyOut { ours_shared: boolean; ours: unknown; zip64: unknown; golden_same: boolean; theirs: unknown }

const dir = tmpDir();
const files = {
  ours: path.join(dir, 'ours.pth'),
  goldenOurs: path.join(dir, 'resnet_basic_96.spark_style.pth'),
  theirs: path.join(dir, 'theirs.pt'),
  bits: path.join(dir, 'bits.pth'),
  zip64: path.join(dir, 'zip64.pth'),
};
const sample = sampleCheckpoint();
savePth(files.ours, sample);
savePth(files.zip64, sample, { zip: { forceZip64: true } });
savePth(files.goldenOurs, loadPth(golden('resnet_basic_96.spark_style.pth')));
// Checking for torch separately would import it twice; a missing python or torch means skip,
// any other Python failure is a test failure.
const run = spawnSync(PYTHON, ['-c', PY_MAIN, files.ours, golden('resnet_basic_96.spark_style.pth'), files.goldenOurs, files.theirs, files.bits, files.zip64],
  { encoding: 'utf8', timeout: 300_000 });
const noTorch = run.error !== undefined || /ModuleNotFoundError: No module named 'torch'/.test(run.stderr);
if (!noTorch && run.status !== 0) throw new Error(`the PyTorch side failed: ${run.stderr}`);
const py = noTorch ? undefined : (JSON.parse(run.stdout) as PyOut);

test('torch.load reads our .pth as the values we wrote', (t) => {
  if (!py) { t.skip(NO_TORCH); return; }
  assert.ok(py.ours_shared, 'shared tensor stays shared');
  assert.deepEqual(py.ours, describe(sample));
});

test('torch.load reads our zip64 records (the >4 GiB layout, forced on a small file)', (t) => {
  if (!py) { t.skip(NO_TORCH); return; }
  assert.deepEqual(py.zip64, describe(sample));
});

test('we read what torch.save writes: dtypes, views, shared storage, Parameters, nesting', (t) => {
  if (!py) { t.skip(NO_TORCH); return; }
  const { value, unknownGlobals } = loadPthDetailed(files.theirs);
  assert.deepEqual(unknownGlobals, []);
  assert.deepEqual(describe(value), py.theirs);
});

test('torch.load of our re-saved golden checkpoint equals torch.load of the original', (t) => {
  if (!py) { t.skip(NO_TORCH); return; }
  assert.ok(py.golden_same);
});

test('the half/bfloat16 decoders agree with torch on every bit pattern', (t) => {
  if (!py) { t.skip(NO_TORCH); return; }
  const v = loadPth(files.bits) as Map<PyValue, PyValue>;
  for (const [k, ref] of [['half', 'half_f64'], ['bf16', 'bf16_f64']]) {
    const ours = toNumbers(v.get(k) as RawTensor);
    const theirs = toNumbers(v.get(ref) as RawTensor);
    assert.equal(ours.length, 65536);
    for (let i = 0; i < ours.length; i++) {
      if (!(Number.isNaN(ours[i]) && Number.isNaN(theirs[i]))) assert.equal(ours[i], theirs[i], `${k} element ${i}`);
    }
  }
});
