import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { writeFileAtomic } from '../../../src/torch/io/atomic.js';
import { DTYPES, type RawTensor } from '../../../src/torch/io/dtypes.js';
import { pickle } from '../../../src/torch/io/pickle.js';
import { archiveNameFor, loadPth, loadPthDetailed, savePth } from '../../../src/torch/io/pth.js';
import {
  PyGlobal, PyObject, PyOrderedDict, PyPersistent, PyTuple, type PyValue, pyDict, tuple,
} from '../../../src/torch/io/pyvalue.js';
import { fromNumbers, toNumbers } from '../../../src/torch/io/raw.js';
import { ZipReader, ZipWriter } from '../../../src/torch/io/zip.js';
import { sampleCheckpoint } from './samples.js';
import { golden, tmpDir } from './support.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('savePth -> loadPth gives back the same values, types and tensor sharing', () => {
  const file = path.join(tmpDir(), 'ckpt.pth');
  const v = sampleCheckpoint();
  savePth(file, v);
  const { value, unknownGlobals } = loadPthDetailed(file);
  assert.deepEqual(unknownGlobals, []);
  assert.deepEqual(value, v);
  const back = value as Map<PyValue, PyValue>;
  const st = ((back.get('optimizer') as Map<PyValue, PyValue>).get('state') as Map<PyValue, PyValue>).get(0n) as Map<PyValue, PyValue>;
  assert.equal(st.get('exp_avg'), back.get('also_shared'), 'one tensor saved twice loads as one');
  // torch.save's layout: everything under the file's stem, one record per tensor
  const z = ZipReader.open(file);
  try {
    const names = [...z.entries.keys()];
    assert.ok(names.every((n) => n.startsWith('ckpt/')));
    assert.equal(names[0], 'ckpt/data.pkl');
    assert.equal(names[names.length - 1], 'ckpt/version');
    assert.equal(new TextDecoder().decode(z.read('ckpt/version')), '3\n');
    assert.equal(names.filter((n) => n.startsWith('ckpt/data/')).length, DTYPES.length + 3);
  } finally {
    z.close();
  }
  assert.equal(archiveNameFor('/x/y/model.best.pth'), 'model.best');
  assert.equal(archiveNameFor('noext'), 'noext');
  assert.equal(archiveNameFor('.pth'), 'archive');
});

test('re-saving the golden checkpoints reproduces torch.save: identical data.pkl and storages', () => {
  for (const f of ['resnet_basic_96.timm_style', 'resnet_basic_96.spark_style']) {
    const out = path.join(tmpDir(), `${f}.pth`);
    savePth(out, loadPth(golden(`${f}.pth`)));
    const a = ZipReader.open(golden(`${f}.pth`));
    const b = ZipReader.open(out);
    try {
      for (const name of a.entries.keys()) assert.deepEqual(b.read(name), a.read(name), `${f}: ${name}`);
    } finally {
      a.close();
      b.close();
    }
  }
});

// ---- hand-built files: views into one storage, the way torch pickles them ----

const rebuildV2 = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
function view(pid: PyPersistent, offset: number, size: number[], stride: number[]): PyObject {
  const ints = (xs: number[]) => new PyTuple(xs.map(BigInt));
  return new PyObject(rebuildV2, tuple(pid, BigInt(offset), ints(size), ints(stride), false, new PyOrderedDict()));
}

function handPth(file: string, value: PyValue, records: Record<string, Uint8Array>, folder = 'archive'): void {
  writeFileAtomic(file, (fd) => {
    const z = new ZipWriter(fd);
    z.add(`${folder}/data.pkl`, pickle(value));
    for (const [k, d] of Object.entries(records)) z.add(`${folder}/${k}`, d);
    z.finish();
  });
}

function storagePid(cls: string, key: string, numel: number): PyPersistent {
  return new PyPersistent(tuple('storage', new PyGlobal('torch', cls), key, 'cpu', BigInt(numel)));
}

/** The elements of a strided view, by the definition: storage[offset + Σ i_k·stride_k]. */
function expectedView(storage: number[], offset: number, size: number[], stride: number[]): number[] {
  const out: number[] = [];
  const rec = (dim: number, at: number) => {
    if (dim === size.length) { out.push(storage[at]); return; }
    for (let i = 0; i < size[dim]; i++) rec(dim + 1, at + i * stride[dim]);
  };
  rec(0, offset);
  return out;
}

test('strided views, storage offsets and shared storages become contiguous tensors', () => {
  const file = path.join(tmpDir(), 'views.pth');
  const storage = Array.from({ length: 12 }, (_, i) => i * 1.5);
  const pid = storagePid('FloatStorage', '0', 12);
  const views: [string, number, number[], number[]][] = [
    ['full', 0, [12], [1]],
    ['transposed', 1, [3, 2], [1, 3]],
    ['stepped', 2, [2], [5]],
    ['block', 4, [2, 2], [2, 1]],
    ['scalar', 11, [], []],
    ['expanded', 0, [2, 3], [0, 1]],
    ['empty', 5, [0, 3], [3, 1]],
    ['size1dims', 3, [1, 2, 1], [99, 4, 7]],
  ];
  const longPid = storagePid('LongStorage', '1', 3);
  const value = new Map<PyValue, PyValue>(views.map(([n, o, s, st]) => [n, view(pid, o, s, st)]));
  // nn.Parameter wrapping a view of a second storage
  value.set('param', new PyObject(new PyGlobal('torch._utils', '_rebuild_parameter'), tuple(view(longPid, 1, [2], [1]), true, new PyOrderedDict())));
  handPth(file, value, {
    'data/0': fromNumbers('float32', [12], storage).data,
    'data/1': fromNumbers('int64', [3], [-5n, 1n << 40n, 7n]).data,
  });
  const got = loadPth(file) as Map<PyValue, PyValue>;
  for (const [n, o, s, st] of views) {
    const t = got.get(n) as RawTensor;
    assert.equal(t.dtype, 'float32', n);
    assert.deepEqual(t.shape, s, n);
    assert.deepEqual([...toNumbers(t)], expectedView(storage, o, s, st), n);
  }
  const p = got.get('param') as RawTensor;
  assert.equal(p.dtype, 'int64');
  assert.deepEqual([...toNumbers(p)], [2 ** 40, 7]);
});

test('big-endian archives (byteorder record) are byte-swapped', () => {
  const file = path.join(tmpDir(), 'be.pth');
  const le = fromNumbers('float32', [3], [1.5, -2, 1e-3]);
  const be = new Uint8Array(le.data);
  for (let i = 0; i < be.length; i += 4) be.subarray(i, i + 4).reverse();
  handPth(file, view(storagePid('FloatStorage', '0', 3), 0, [3], [1]), { byteorder: new TextEncoder().encode('big'), 'data/0': be });
  assert.deepEqual(loadPth(file), le);
});

test('bad checkpoints give one clear error naming the file and the problem', () => {
  const dir = tmpDir();
  const good = path.join(dir, 'good.pth');
  savePth(good, sampleCheckpoint());
  const bytes = fs.readFileSync(good);
  const bad = path.join(dir, 'bad.pth');
  const fails = (re: RegExp) => assert.throws(() => loadPth(bad), (e: Error) => e.message.startsWith(`loadPth ${bad}: `) && re.test(e.message));

  fs.writeFileSync(bad, bytes.subarray(0, bytes.length - 40));
  fails(/no end-of-central-directory record \(truncated, or not a zip archive\); a torch.save checkpoint is a zip archive$/);
  fs.writeFileSync(bad, Buffer.concat([Buffer.from([0x80, 0x02, 0x8a, 0x0a]), Buffer.alloc(100)]));
  fails(/legacy \(torch < 1\.6\) format/);
  fs.writeFileSync(bad, 'short');
  fails(/not a zip archive \(only 5 bytes\)/);
  assert.throws(() => loadPth(dir), /is not a regular file/);
  writeFileAtomic(bad, (fd) => { const z = new ZipWriter(fd); z.add('x/other.txt', new Uint8Array(1)); z.finish(); });
  fails(/no <folder>\/data\.pkl record/);
  handPth(bad, view(storagePid('FloatStorage', '0', 3), 0, [3], [1]), {});
  fails(/storage record archive\/data\/0 is missing/);
  handPth(bad, view(storagePid('FloatStorage', '0', 3), 1, [3], [1]), { 'data/0': new Uint8Array(12) });
  fails(/runs past its storage of 3 elements/);
  handPth(bad, view(storagePid('ComplexFloatStorage', '0', 3), 0, [3], [1]), { 'data/0': new Uint8Array(24) });
  fails(/unsupported storage torch\.ComplexFloatStorage/);
  handPth(bad, view(storagePid('FloatStorage', '0', 3), 0, [3], [1]), { 'data/0': new Uint8Array(8) });
  fails(/has 8 bytes, expected 3 × 4/);
  // a corrupt pickle inside an intact zip
  handPth(bad, 1n, {});
  const z = fs.readFileSync(bad);
  const at = z.indexOf(Buffer.from([0x80, 0x02, 0x4b, 0x01, 0x2e]));
  z[at + 2] = 0xff;
  fs.writeFileSync(bad, z);
  fails(/^loadPth \S+: entry archive\/data\.pkl: CRC-32 mismatch/);
});

test('savePth refuses values torch could not load, and leaves the old file alone', () => {
  const file = path.join(tmpDir(), 'x.pth');
  fs.writeFileSync(file, 'old');
  assert.throws(() => savePth(file, pyDict({ a: { b: 1 } as unknown as PyValue })), new RegExp(`^Error: savePth ${file}: pickle: cannot write .* at \\["a"\\]: plain JS objects`));
  assert.throws(() => savePth(file, [new PyPersistent('x')]), /bare storage/);
  assert.throws(() => savePth(file, { dtype: 'float32', shape: [2], data: new Uint8Array(4) }), /needs 8 bytes but data has 4/);
  assert.equal(fs.readFileSync(file, 'utf8'), 'old');
  assert.throws(() => savePth(path.join(tmpDir(), 'missing', 'x.pth'), 1n), /does not exist/);
});
