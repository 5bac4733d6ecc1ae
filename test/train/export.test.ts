// `spark export`: detectron2 pickles equal to what the reference's convert-timm-to-d2.py makes of the
// same weights (a committed fixture made by it, and the converter itself when Python torch and a SparK
// checkout are around), round trips of the timm / safetensors / mmdet files, and every refusal.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import { ConvNeXt, ResNet } from '../../src/models/index.js';
import { saveTimmStyle } from '../../src/train/checkpoint.js';
import { exportWeights, readExportSource, d2Name } from '../../src/train/export/index.js';
import { loadPth, savePth } from '../../src/torch/io/pth.js';
import { readSafetensors } from '../../src/torch/io/safetensors.js';
import { unpickle } from '../../src/torch/io/pickle.js';
import { PyObject, PyOrderedDict, PyTuple, type PyValue, isRawTensor } from '../../src/torch/io/pyvalue.js';
import { rawEqual } from '../../src/torch/io/raw.js';
import type { RawTensor } from '../../src/torch/io/dtypes.js';
import { tensorToRaw } from '../../src/torch/io/tensor_bridge.js';
import { checkNoLeaks, goldenPath, PYTHON, pythonHas, repoRoot } from '../helpers.js';
import { tempDir, rmrf } from '../data/fixtures.js';
import { spark, assertOneErrorLine } from '../cli/support.js';

checkNoLeaks();

const GOLDEN_TIMM = goldenPath('resnet_basic_96.timm_style.pth');
const GOLDEN_SPARK = goldenPath('resnet_basic_96.spark_style.pth');
const HERE = path.join(repoRoot(), 'test', 'train', 'export');
const FIXTURE = JSON.parse(fs.readFileSync(path.join(HERE, 'd2_resnet_basic_96.json'), 'utf8')) as {
  source_sha256: string; top: string[]; author: string; matching_heuristics: boolean;
  model: [string, string, number[], string][]; pickle_protocol2_sha256: string;
};
// The reference checkouts (never committed): SparK for its converter and mmdet backbone, timm 0.5.4 for the latter's layers.
const SPARK_REF = process.env.SPARK_REF ?? path.resolve(repoRoot(), '../ref/SparK');
const TIMM_REF = process.env.TIMM_REF ?? path.resolve(repoRoot(), '../ref/timm054');

const sha256 = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex');
const NUMPY_DTYPE: Record<string, string> = { float32: '<f4', int64: '<i8' };

let root = '';
let ours = '';      // our timm-style bottleneck ResNet (downsample in every stage, bn3)
let ft = '';        // a fine-tune checkpoint in the reference's downstream_imagenet layout
let ftModule: Map<string, RawTensor>, ftEma: Map<string, RawTensor>;
let convnext = '';  // our timm-style (official-layout) ConvNeXt encoder

/** The module's state dict as RawTensors; the module (parameters are never tidied) is disposed. */
const stateOf = (m: torch.nn.Module): PyOrderedDict => {
  const sd = new PyOrderedDict();
  for (const [k, t] of m.stateDict()) sd.set(k, tensorToRaw(t));
  m.dispose();
  return sd;
};
const saveAndDispose = (file: string, m: torch.nn.Module): void => { saveTimmStyle(file, m); m.dispose(); };

before(() => {
  root = tempDir('sparkts-export-');
  torch.manualSeed(7);
  torch.tidy(() => {
    ours = path.join(root, 'ours_timm.pth');
    saveAndDispose(ours, new ResNet({ block: 'bottleneck', layers: [1, 1, 1, 1], channels: [4, 8, 8, 8], stemWidth: 8, numClasses: 0, globalPool: '' }));
    const arch = { block: 'basic' as const, layers: [1, 1, 1, 1], channels: [4, 8, 8, 8], stemWidth: 8, numClasses: 5 };
    const module = stateOf(new ResNet(arch)), ema = stateOf(new ResNet(arch));
    ftModule = new Map([...module].map(([k, v]) => [k as string, v as RawTensor]));
    ftEma = new Map([...ema].map(([k, v]) => [k as string, v as RawTensor]));
    ft = path.join(root, 'resnet_1kfinetuned_best.pth');
    savePth(ft, new Map<PyValue, PyValue>([['args', 'FineTuneArgs(…)'], ['arch', 'resnet_tiny'], ['epoch', 3n], ['performance_desc', '[no performance_desc]'],
      ['module', module], ['ema', ema], ['optimizer', new Map()], ['is_pretrain', false]]));
    convnext = path.join(root, 'convnext_timm.pth');
    saveAndDispose(convnext, new ConvNeXt({ depths: [1, 1, 2, 1], dims: [8, 16, 16, 32], numClasses: 0 }));
  });
});
after(() => rmrf(root));

/** Our d2 pickle read back without numpy: d2 name → [dtype string, shape, sha256 of the bytes]. */
function readD2(file: string): { top: Map<PyValue, PyValue>; model: Map<string, [string, number[], string, Uint8Array]> } {
  const { value } = unpickle(new Uint8Array(fs.readFileSync(file)), { allowUnknownGlobals: true });   // our own file: numpy recipes
  assert.ok(value instanceof Map);
  const model = new Map<string, [string, number[], string, Uint8Array]>();
  for (const [k, a] of value.get('model') as Map<PyValue, PyValue>) {
    assert.ok(a instanceof PyObject && a.state instanceof PyTuple, `${String(k)} is an ndarray recipe`);
    const [, shape, dtype, fortran, data] = a.state.items;
    assert.equal(fortran, false);
    const code = ((dtype as PyObject).args.items[0] as string);
    const order = ((dtype as PyObject).state as PyTuple).items[1] as string;
    model.set(k as string, [`${order}${code}`, (shape as PyTuple).items.map(Number), sha256(data as Uint8Array), data as Uint8Array]);
  }
  return { top: value, model };
}

test('d2: the golden ResNet\'s export equals the reference converter\'s, byte for byte (committed fixture, no Python)', () => {
  assert.equal(sha256(fs.readFileSync(GOLDEN_TIMM)), FIXTURE.source_sha256, 'the fixture was made from this golden file');
  const out = path.join(root, 'golden_timm.pkl');
  const r = exportWeights({ ckpt: GOLDEN_TIMM, to: 'd2', out });
  assert.equal(r.tensors, 72);
  const { top, model } = readD2(out);
  assert.deepEqual([...top.keys()], FIXTURE.top);
  assert.equal(top.get('__author__'), FIXTURE.author);
  assert.equal(top.get('matching_heuristics'), FIXTURE.matching_heuristics);
  assert.deepEqual([...model.keys()], FIXTURE.model.map((e) => e[0]), 'the reference\'s d2 names, in its order');
  for (const [k, dtype, shape, hash] of FIXTURE.model) assert.deepEqual(model.get(k)!.slice(0, 3), [dtype, shape, hash], k);
  assert.equal(sha256(fs.readFileSync(out)), FIXTURE.pickle_protocol2_sha256, 'the whole file = pickle.dumps(reference result, protocol=2)');
});

test('d2: a spark-style checkpoint exports its encoder, the same file as its timm-style twin', () => {
  const out = path.join(root, 'golden_spark.pkl');
  const r = exportWeights({ ckpt: GOLDEN_SPARK, to: 'd2', out });
  assert.equal(r.layout, 'spark-style encoder');
  assert.equal(sha256(fs.readFileSync(out)), FIXTURE.pickle_protocol2_sha256);
});

test('d2: a fine-tune checkpoint exports its module, or its EMA with --ema (fc kept as stem.fc, as the reference)', () => {
  for (const ema of [false, true]) {
    const out = path.join(root, `ft_${ema ? 'ema' : 'module'}.pkl`);
    const r = exportWeights({ ckpt: ft, to: 'd2', out, ema });
    assert.equal(r.layout, ema ? 'fine-tune ema' : 'fine-tune module');
    const want = ema ? ftEma : ftModule;
    const { model } = readD2(out);
    assert.deepEqual([...model.keys()], [...want.keys()].map(d2Name));
    assert.ok(model.has('stem.fc.weight') && model.has('res5.0.conv2.norm.running_var') && model.has('res3.0.shortcut.norm.bias'));
    for (const [k, t] of want) {
      const [dtype, shape, , data] = model.get(d2Name(k))!;
      assert.deepEqual([dtype, shape], [NUMPY_DTYPE[t.dtype], t.shape], k);
      assert.ok(rawEqual({ dtype: t.dtype, shape: t.shape, data }, t), `${k} holds the ${ema ? 'ema' : 'module'} values`);
    }
  }
  assert.ok(!rawEqual(ftModule.get('conv1.weight')!, ftEma.get('conv1.weight')!), 'module and ema differ, so the test tells them apart');
});

test('d2: the reference\'s converter, run here, makes the same pickles (golden, ours, fine-tune module and ema)', (t) => {
  if (!pythonHas('torch') || !pythonHas('numpy')) { t.skip('no PyTorch/numpy: /usr/bin/python3 -c "import torch, numpy" fails (apt-get install python3-torch)'); return; }
  if (!fs.existsSync(path.join(SPARK_REF, 'downstream_d2', 'convert-timm-to-d2.py'))) { t.skip(`no SparK checkout at ${SPARK_REF} (set SPARK_REF)`); return; }
  const jobs = [
    { src: GOLDEN_TIMM, ours: path.join(root, 'golden_timm.pkl'), entry: null },
    { src: ours, ours: path.join(root, 'ours.pkl'), entry: null },
    { src: ft, ours: path.join(root, 'ft_module.pkl'), entry: null },
    { src: ft, ours: path.join(root, 'ft_ema.pkl'), entry: 'ema' },
  ];
  exportWeights({ ckpt: GOLDEN_TIMM, to: 'd2', out: jobs[0].ours });
  exportWeights({ ckpt: ours, to: 'd2', out: jobs[1].ours });
  exportWeights({ ckpt: ft, to: 'd2', out: jobs[2].ours });
  exportWeights({ ckpt: ft, to: 'd2', out: jobs[3].ours, ema: true });
  const jobsFile = path.join(root, 'jobs.json');
  fs.writeFileSync(jobsFile, JSON.stringify(jobs));
  const r = spawnSync(PYTHON, [path.join(HERE, 'ref_d2.py'), 'compare', SPARK_REF, jobsFile], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, r.stderr);
  const results = JSON.parse(r.stdout) as { problems: string[]; tensors: number; keys: string[]; bytes_identical: boolean }[];
  results.forEach((res, i) => {
    assert.deepEqual(res.problems, [], `${path.basename(jobs[i].ours)}`);
    assert.ok(res.bytes_identical, `${path.basename(jobs[i].ours)}: byte-identical to the reference's result pickled at protocol 2`);
  });
  assert.ok(results[1].keys.includes('res2.0.conv3.norm.weight') && results[1].keys.includes('res2.0.shortcut.weight'), 'bottleneck names covered');
});

test('timm: the reference\'s spark-style checkpoint exports exactly its timm-style file\'s state dict (_metadata included)', () => {
  const out = path.join(root, 'from_spark.pth');
  exportWeights({ ckpt: GOLDEN_SPARK, to: 'timm', out });
  const got = loadPth(out) as PyOrderedDict, want = loadPth(GOLDEN_TIMM) as PyOrderedDict;
  assert.ok(got instanceof PyOrderedDict);
  assert.deepEqual([...got.keys()], [...want.keys()]);
  for (const [k, v] of want) assert.ok(isRawTensor(v) && rawEqual(got.get(k) as RawTensor, v), String(k));
  assert.deepEqual(got.attrs.get('_metadata'), want.attrs.get('_metadata'));
  // and a fine-tune checkpoint gives its classifier, fc included
  const cls = path.join(root, 'classifier.pth');
  exportWeights({ ckpt: ft, to: 'timm', out: cls });
  const c = loadPth(cls) as PyOrderedDict;
  assert.deepEqual([...c.keys()], [...ftModule.keys()]);
  assert.ok(rawEqual(c.get('fc.weight') as RawTensor, ftModule.get('fc.weight')!));
});

test('safetensors: the same state dict (format pt); it is itself an input (d2 from it = d2 from the .pth)', () => {
  const out = path.join(root, 'golden.safetensors');
  exportWeights({ ckpt: GOLDEN_SPARK, to: 'safetensors', out });
  const st = readSafetensors(out);
  const want = readExportSource(GOLDEN_TIMM).state;
  assert.deepEqual(st.metadata, { format: 'pt' });
  assert.deepEqual([...st.tensors.keys()], [...want.keys()]);
  for (const [k, v] of want) assert.ok(rawEqual(st.tensors.get(k)!, v), k);
  const pkl = path.join(root, 'from_safetensors.pkl');
  exportWeights({ ckpt: out, to: 'd2', out: pkl });
  assert.equal(sha256(fs.readFileSync(pkl)), FIXTURE.pickle_protocol2_sha256);
});

const MMDET_OUT = (): string => path.join(root, 'convnext_mmdet.pth');

test('mmdet: {\'state_dict\': the backbone\'s weights, no prefix}, as the reference\'s mmdet setup loads them', () => {
  const out = MMDET_OUT();
  const r = exportWeights({ ckpt: convnext, to: 'mmdet', out });
  assert.equal(r.family, 'convnext');
  const top = loadPth(out) as Map<PyValue, PyValue>;
  assert.deepEqual([...top.keys()], ['state_dict']);
  const sd = top.get('state_dict') as PyOrderedDict;
  const want = loadPth(convnext) as PyOrderedDict;
  assert.deepEqual([...sd.keys()], [...want.keys()]);
  assert.ok([...sd.keys()].every((k) => typeof k === 'string' && (k.startsWith('downsample_layers.') || k.startsWith('stages.'))), 'backbone names, no backbone./module. prefix');
  for (const [k, v] of want) assert.ok(rawEqual(sd.get(k) as RawTensor, v as RawTensor), String(k));
});

test('mmdet: the reference\'s mmdetection ConvNeXt backbone, loading the file as its config does, receives every weight', (t) => {
  if (!pythonHas('torch')) { t.skip('no PyTorch: the reference backbone check needs /usr/bin/python3 with torch'); return; }
  if (!fs.existsSync(path.join(SPARK_REF, 'downstream_mmdet')) || !fs.existsSync(path.join(TIMM_REF, 'timm'))) { t.skip(`no SparK/timm checkouts at ${SPARK_REF}, ${TIMM_REF} (set SPARK_REF, TIMM_REF)`); return; }
  const out = MMDET_OUT();
  if (!fs.existsSync(out)) exportWeights({ ckpt: convnext, to: 'mmdet', out });
  const sd = (loadPth(out) as Map<PyValue, PyValue>).get('state_dict') as PyOrderedDict;
  const p = spawnSync(PYTHON, [path.join(HERE, 'ref_mmdet.py'), SPARK_REF, TIMM_REF, out, '1,1,2,1', '8,16,16,32'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(p.status, 0, p.stderr);
  const res = JSON.parse(p.stdout) as { missing: string[]; unexpected: string[]; differ: string[]; loaded: number };
  assert.deepEqual(res.unexpected, [], 'every exported tensor is a backbone weight');
  assert.deepEqual(res.differ, []);
  assert.deepEqual(res.missing.sort(), [0, 1, 2, 3].flatMap((i) => [`norm${i}.bias`, `norm${i}.weight`]), 'only the detector\'s own output norms stay unloaded');
  assert.equal(res.loaded, sd.size);
});

// ---- refusals: one line, non-zero exit, nothing written ----

/** Runs `spark export …` expecting a refusal; checks that the output folder stays empty. */
async function refused(args: string[], re: RegExp, code?: number): Promise<void> {
  const dir = fs.mkdtempSync(path.join(root, 'refused-'));
  const r = await spark(['export', ...args.map((a) => a.replace('OUT', dir))]);
  assertOneErrorLine(r, re, { code });
  assert.deepEqual(fs.readdirSync(dir), [], 'nothing written, no temp file left');
}

test('refusals: a ConvNeXt for d2, an unknown format, a file without weights — one line each, nothing written', async () => {
  await refused(['--ckpt', convnext, '--to', 'd2', '--out', 'OUT/x.pkl'], /holds a ConvNeXt; detectron2 export is for ResNets .* use --to mmdet$/, 1);
  await refused(['--ckpt', GOLDEN_TIMM, '--to', 'onnx', '--out', 'OUT/x.onnx'], /--to onnx is not an export format; use one of d2, timm, safetensors, mmdet$/, 2);
  const noWeights = path.join(root, 'no_weights.pth');
  savePth(noWeights, new Map<PyValue, PyValue>([['epoch', 3n], ['args', 'x']]));
  await refused(['--ckpt', noWeights, '--to', 'timm', '--out', 'OUT/x.pth'], /no_weights\.pth holds no weights \(its entries: epoch, args\); pass a timm-style, spark-style or fine-tune checkpoint$/, 1);
  const notAModel = path.join(root, 'not_a_model.pth');
  savePth(notAModel, new Map<PyValue, PyValue>([['w', { dtype: 'float32', shape: [2], data: new Uint8Array(8) }]]));
  await refused(['--ckpt', notAModel, '--to', 'd2', '--out', 'OUT/x.pkl'], /holds no ResNet or ConvNeXt \(its tensors: w, …\); --to d2 is for ResNet backbones$/, 1);
  await refused(['--ckpt', notAModel, '--to', 'mmdet', '--out', 'OUT/x.pth'], /--to mmdet is for ConvNeXt and ResNet backbones$/, 1);
});

test('refusals: unreadable input, --ema without EMA, file names the loaders would misread, missing flags', async () => {
  const garbage = path.join(root, 'garbage.pth');
  fs.writeFileSync(garbage, 'not a checkpoint at all');
  await refused(['--ckpt', garbage, '--to', 'timm', '--out', 'OUT/x.pth'], /garbage\.pth is neither a torch\.save \.pth \(zip\) nor a \.safetensors file/, 1);
  const d2 = path.join(root, 'golden_timm.pkl');
  if (!fs.existsSync(d2)) exportWeights({ ckpt: GOLDEN_TIMM, to: 'd2', out: d2 });
  await refused(['--ckpt', d2, '--to', 'timm', '--out', 'OUT/x.pth'], /golden_timm\.pkl is a bare pickle \(a detectron2 \.pkl\?\), which sparkts does not read; export from the \.pth/, 1);
  await refused(['--ckpt', path.join(root, 'missing.pth'), '--to', 'timm', '--out', 'OUT/x.pth'], /missing\.pth does not exist; check the path$/, 1);
  await refused(['--ckpt', GOLDEN_TIMM, '--to', 'd2', '--out', 'OUT/x.pkl', '--ema'], /has no 'ema' weights \(only fine-tune checkpoints carry them\); drop --ema/, 1);
  await refused(['--ckpt', GOLDEN_TIMM, '--to', 'd2', '--out', 'OUT/x.pth'], /--out .*x\.pth must end in \.pkl for --to d2: detectron2 unpickles only \.pkl files/, 1);
  await refused(['--ckpt', GOLDEN_TIMM, '--to', 'safetensors', '--out', 'OUT/x.pth'], /must end in \.safetensors for --to safetensors/, 1);
  await refused(['--ckpt', GOLDEN_TIMM, '--to', 'timm', '--out', GOLDEN_TIMM], /is the input checkpoint; write the export to another file$/, 1);
  await refused(['--to', 'd2', '--out', 'OUT/x.pkl'], /--ckpt is required/, 2);
  await refused(['--ckpt', GOLDEN_TIMM, '--out', 'OUT/x.pkl'], /--to is required \(d2, timm, safetensors, mmdet\)/, 2);
});

test('the command prints what it wrote, as the reference\'s converter does (len(state)==N)', async () => {
  const out = path.join(root, 'cli.pkl');
  const r = await spark(['export', '--ckpt', GOLDEN_SPARK, '--to', 'd2', '--out', out]);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, '');
  assert.match(r.stdout, /^\[export\] wrote .*cli\.pkl: detectron2 pickle, len\(state\)==72 \(ResNet weights from spark-style encoder .*resnet_basic_96\.spark_style\.pth\)\n$/);
  assert.equal(sha256(fs.readFileSync(out)), FIXTURE.pickle_protocol2_sha256);
});
