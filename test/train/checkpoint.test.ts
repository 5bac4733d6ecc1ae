// Checkpoints in the reference's layouts (src/train/checkpoint.ts): the reference's own files (golden
// resnet_basic_96.{spark,timm}_style.pth, written by torch.save) load strictly into the matching
// models; ours load back identically and, when Python torch is installed, load in PyTorch with the
// reference's layout; foreign and truncated files give one clear line.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { savePth, loadPth, type PyValue } from '../../src/torch/io/index.js';
import { ResNet, ConvNeXt } from '../../src/models/index.js';
import { SparK } from '../../src/spark/index.js';
import {
  loadCheckpoint, loadIntoSpark, loadOptimizerState, disposeCheckpoint, saveSparkStyle, saveTimmStyle,
  sparkStyleName, timmStyleName, DEPRECATED_SPARK_KEYS, type ResumeRecord,
} from '../../src/train/checkpoint.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { checkNoLeaks } from '../helpers.js';
import { goldenPath } from './golden_meta.js';
import { disposeModule, oneThread, pythonWithTorch, runPythonJson } from '../spark/support.js';

checkNoLeaks();
oneThread();
const { LAMB } = torch.optim;

const REF_SPARK = goldenPath('resnet_basic_96.spark_style.pth');
const REF_TIMM = goldenPath('resnet_basic_96.timm_style.pth');
interface Stat { dtype: string; shape: number[]; sum: number; abs_sum: number }
const refJson = JSON.parse(fs.readFileSync(goldenPath('resnet_basic_96.pth.json'), 'utf8')) as {
  timm_style: Record<string, Stat>;
  spark_style: {
    top_level: Record<string, unknown>; module: Record<string, Stat>; module_config: Record<string, unknown>;
    optimizer_param_groups: Record<string, unknown>[]; optimizer_state_count: number;
    optimizer_state_0: Record<string, { shape: number[]; sum: number }>;
  };
};

// the golden README's resnet_basic_96 row: timm ResNet, BasicBlock, layers [1,1,1,1], widths
// [16,32,64,128], stem 16; input 96, mask 0.6, decoder width 64, bn densify norm
const basicEncoder = (): ResNet => new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [16, 32, 64, 128], stemWidth: 16, numClasses: 0, globalPool: '', skipInit: true });
const basicSpark = (): SparK => new SparK(basicEncoder(), { inputSize: 96, maskRatio: 0.6, decoderWidth: 64, densifyNorm: 'bn' });
const newLamb = (m: SparK) => new LAMB(getParamGroups(m), { lr: 1e-3, weight_decay: 0, betas: [0.9, 0.95], max_grad_norm: 5.0 });

function assertStats(sd: Map<string, Tensor>, ref: Record<string, Stat>, what: string): void {
  assert.deepEqual([...sd.keys()], Object.keys(ref), `${what}: keys and their order`);
  torch.tidy(() => {
    for (const [k, t] of sd) {
      const r = ref[k];
      assert.equal(t.dtype, r.dtype, `${what} ${k} dtype`);
      assert.deepEqual(t.shape, r.shape, `${what} ${k} shape`);
      const d = t.double();
      const tol = 1e-6 * Math.max(1, r.abs_sum);
      assert.ok(Math.abs(d.sum().item() - r.sum) <= tol, `${what} ${k} sum ${d.sum().item()} vs ${r.sum}`);
      assert.ok(Math.abs(d.abs().sum().item() - r.abs_sum) <= tol, `${what} ${k} abs sum`);
    }
  });
}

function tmpDir(): string { return fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-ckpt-')); }

test('the reference spark-style checkpoint loads strictly into the matching SparK model, and its LAMB state into our LAMB', () => {
  const c = loadCheckpoint(REF_SPARK);
  const m = basicSpark();
  try {
    assert.equal(c.kind, 'spark');
    const top = refJson.spark_style.top_level;
    assert.deepEqual([c.arch, c.inputSize, c.epoch, c.performanceDesc], [top.arch, top.input_size, top.epoch, top.performance_desc]);
    // imn_m / imn_s / norm_black (never read by the reference) and config are set aside
    const refModule = Object.fromEntries(Object.entries(refJson.spark_style.module).filter(([k]) => !(DEPRECATED_SPARK_KEYS as readonly string[]).includes(k)));
    assert.equal(Object.keys(refModule).length, Object.keys(refJson.spark_style.module).length - 3);
    assertStats(c.module, refModule, 'module');
    assert.deepEqual(Object.fromEntries([...c.config!].map(([k, v]) => [k, typeof v === 'bigint' ? Number(v) : v])), refJson.spark_style.module_config);

    assert.deepEqual(loadIntoSpark(m, c), { missingKeys: [], unexpectedKeys: [] });
    assertStats(m.stateDict(), refModule, 'model after loading');
    assert.equal(c.resume, undefined, 'the reference writes no resume record');

    const opt = newLamb(m);
    try {
      loadOptimizerState(opt, c);
      const groups = refJson.spark_style.optimizer_param_groups;
      assert.deepEqual(opt.paramGroups.map((g) => g.params.length), groups.map((g) => g.num_params));
      assert.deepEqual(opt.paramGroups.map((g) => g.step), groups.map((g) => g.step));
      assert.deepEqual(opt.paramGroups.map((g) => [g.lr, g.betas, g.eps, g.max_grad_norm]), groups.map((g) => [g.lr, g.betas, g.eps, g.max_grad_norm]));
      assert.equal(opt.state.size, refJson.spark_style.optimizer_state_count);
      // state 0 belongs to the first parameter of the first group: the stem conv
      const s0 = opt.state.get(opt.paramGroups[0].params[0])!;
      assert.equal(opt.paramGroups[0].params[0], m.sparse_encoder.sp_cnn.namedParameters()[0][1]);
      torch.tidy(() => {
        for (const [k, r] of Object.entries(refJson.spark_style.optimizer_state_0)) {
          assert.deepEqual((s0[k] as Tensor).shape, r.shape);
          assert.ok(Math.abs((s0[k] as Tensor).double().sum().item() - r.sum) < 1e-9 + 1e-6 * Math.abs(r.sum), k);
        }
      });
      // every state entry sits on a parameter of its own shape
      for (const g of opt.paramGroups) for (const p of g.params) assert.deepEqual((opt.state.get(p)!.exp_avg as Tensor).shape, p.shape);
    } finally { opt.dispose(); }
  } finally { disposeModule(m); disposeCheckpoint(c); }
});

test('the reference timm-style file loads strictly into the bare encoder (and through loadIntoSpark into SparK\'s)', () => {
  const c = loadCheckpoint(REF_TIMM);
  const enc = basicEncoder();
  const m = basicSpark();
  try {
    assert.equal(c.kind, 'timm');
    assert.equal(c.config, undefined);
    assertStats(c.module, refJson.timm_style, 'timm-style');
    assert.deepEqual(enc.loadStateDict(c.module, { strict: true }), { missingKeys: [], unexpectedKeys: [] });
    assertStats(enc.stateDict(), refJson.timm_style, 'encoder after loading');
    assert.deepEqual(loadIntoSpark(m, c), { missingKeys: [], unexpectedKeys: [] });
    assertStats(m.sparse_encoder.sp_cnn.stateDict(), refJson.timm_style, 'SparK encoder after loading');
  } finally { disposeModule(enc); disposeModule(m); disposeCheckpoint(c); }
});

/** A SparK that has taken one LAMB step on random data (so every optimizer state exists). */
function trainedSpark(seed: number): { m: SparK; opt: InstanceType<typeof LAMB> } {
  torch.manualSeed(seed);
  const m = new SparK(new ResNet({ block: 'basic', layers: [1, 1, 1, 1], channels: [16, 32, 64, 128], stemWidth: 16, numClasses: 0, globalPool: '' }),
    { inputSize: 96, maskRatio: 0.6, decoderWidth: 64, densifyNorm: 'bn' });
  const opt = newLamb(m);
  torch.tidy(() => {
    for (const g of opt.paramGroups) g.weight_decay = 0.04 * (g.weight_decay_scale as number);
    const loss = m.forward(torch.randn([2, 3, 96, 96], { generator: new torch.Generator(seed) }), { generator: new torch.Generator(seed + 1) });
    opt.zeroGrad();
    loss.backward();
    opt.step();
    opt.zeroGrad();
  });
  return { m, opt };
}

function resumeRecord(): ResumeRecord {
  const g = new torch.Generator(99);
  return {
    nextIter: 17, loaderEpoch: 2, loaderIter: 5, minLoss: 0.75, lastLoss: 0.8125, flags: JSON.stringify({ model: 'resnet_basic', bs: 2 }),
    rng: new Map([['torch', g.getState()]]), losses: [[0, 1.5], [1, 1.25], [16, 0.8125]],
  };
}

test('a checkpoint we save loads back identically: every tensor, the optimizer state, the resume record', () => {
  const dir = tmpDir();
  const { m, opt } = trainedSpark(3);
  const resume = resumeRecord();
  const m2 = basicSpark();
  const opt2 = newLamb(m2);
  try {
    const sparkFile = path.join(dir, sparkStyleName('resnet_basic'));
    const timmFile = path.join(dir, timmStyleName('resnet_basic'));
    saveSparkStyle(sparkFile, m, { args: 'Args(model=resnet_basic)', arch: 'resnet_basic', inputSize: 96, epoch: 4, performanceDesc: '1.0 2.0', optimizer: opt, resume });
    saveTimmStyle(timmFile, m.sparse_encoder.sp_cnn);
    assert.deepEqual(fs.readdirSync(dir).sort(), [path.basename(timmFile), path.basename(sparkFile)].sort(), 'atomic writes leave no temporary files');

    const c = loadCheckpoint(sparkFile);
    try {
      assert.deepEqual([c.kind, c.arch, c.inputSize, c.epoch, c.performanceDesc], ['spark', 'resnet_basic', 96, 4, '1.0 2.0']);
      assert.deepEqual(loadIntoSpark(m2, c), { missingKeys: [], unexpectedKeys: [] });
      const a = m.stateDict(), b = m2.stateDict();
      assert.deepEqual([...b.keys()], [...a.keys()]);
      for (const [k, t] of a) assert.ok(t.equal(b.get(k)!) && t.dtype === b.get(k)!.dtype, `${k} differs after the round trip`);
      loadOptimizerState(opt2, c);
      assert.equal(opt2.state.size, opt.state.size);
      opt.paramGroups.forEach((g, gi) => {
        const g2 = opt2.paramGroups[gi];
        const { params: _p, ...o1 } = g; const { params: _q, ...o2 } = g2;
        assert.deepEqual(o2, o1, `group ${gi} options`);
        g.params.forEach((p, j) => {
          const s1 = opt.state.get(p)!, s2 = opt2.state.get(g2.params[j])!;
          assert.deepEqual(Object.keys(s2), Object.keys(s1));
          for (const k of Object.keys(s1)) assert.ok((s1[k] as Tensor).equal(s2[k] as Tensor), `group ${gi} param ${j} ${k}`);
        });
      });
      const r = c.resume!;
      assert.deepEqual([r.nextIter, r.loaderEpoch, r.loaderIter, r.minLoss, r.lastLoss, r.flags, r.losses],
        [resume.nextIter, resume.loaderEpoch, resume.loaderIter, resume.minLoss, resume.lastLoss, resume.flags, resume.losses]);
      assert.ok(r.rng.get('torch')!.equal(resume.rng.get('torch')!));
    } finally { disposeCheckpoint(c); }

    const t = loadCheckpoint(timmFile);
    try {
      assert.equal(t.kind, 'timm');
      const enc = m.sparse_encoder.sp_cnn.stateDict();
      assert.deepEqual([...t.module.keys()], [...enc.keys()]);
      for (const [k, v] of enc) assert.ok(v.equal(t.module.get(k)!), k);
    } finally { disposeCheckpoint(t); }
  } finally {
    opt.dispose(); opt2.dispose(); disposeModule(m); disposeModule(m2);
    torch.dispose([...resume.rng.values()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

// Python's view of a checkpoint: every key, type, shape and dtype, in order (values only where small).
const DESCRIBE = `
import sys, json, collections, torch
def desc(v):
    if isinstance(v, torch.Tensor):
        return {'tensor': str(v.dtype).replace('torch.', ''), 'shape': list(v.shape)}
    if isinstance(v, dict):
        d = {'type': type(v).__name__, 'keys': [str(k) for k in v.keys()], 'items': {str(k): desc(x) for k, x in v.items()}}
        if isinstance(v, collections.OrderedDict) and hasattr(v, '_metadata'):
            d['metadata'] = [[k, m.get('version')] for k, m in v._metadata.items()]
        return d
    if isinstance(v, (list, tuple)):
        return {'type': type(v).__name__, 'items': [desc(x) for x in v]}
    return {'type': type(v).__name__, 'value': v if isinstance(v, (int, float, str, bool)) or v is None else repr(v)}
print(json.dumps({p: desc(torch.load(p, map_location='cpu')) for p in sys.argv[1:]}))
`;

type Desc = { type?: string; tensor?: string; shape?: number[]; keys?: string[]; items?: Record<string, Desc> | Desc[]; value?: unknown; metadata?: [string, number][] };

/**
 * A state dict's `_metadata` (module prefix → version, read by PyTorch's loaders: BatchNorm is at 2)
 * must give every module the reference's version; the reference may list more modules (timm's pooling
 * internals) as long as they hold no state.
 */
function assertMetadata(ours: Desc, ref: Desc, what: string): void {
  assert.ok(ours.metadata && ref.metadata, `${what}: both state dicts carry _metadata`);
  const refMd = new Map(ref.metadata);
  for (const [k, v] of ours.metadata) assert.equal(v, refMd.get(k), `${what} _metadata[${JSON.stringify(k)}]`);
  const ourKeys = new Set(ours.metadata.map(([k]) => k));
  assert.deepEqual(ours.metadata.map(([k]) => k), ref.metadata.map(([k]) => k).filter((k) => ourKeys.has(k)), `${what}: _metadata order`);
  for (const [k] of ref.metadata) {
    if (!ourKeys.has(k)) assert.ok(!ref.keys!.some((s) => s.startsWith(`${k}.`)), `${what}: _metadata lacks ${k}, which holds state`);
  }
  assert.ok(ours.metadata.some(([, v]) => v === 2), 'BatchNorm entries at version 2');
}

/** A Desc with values dropped (types, keys, shapes and dtypes kept). */
function layout(d: Desc): unknown {
  if (d.tensor) return { tensor: d.tensor, ndim: d.shape!.length };
  if (Array.isArray(d.items)) return { type: d.type, items: d.items.map(layout) };
  if (d.items) return { type: d.type, keys: d.keys, items: Object.fromEntries(Object.entries(d.items).map(([k, v]) => [k, layout(v)])) };
  return { type: d.type };
}

test('PyTorch loads our files with the reference\'s layout (keys, types, shapes, dtypes, config, optimizer)', { skip: pythonWithTorch() ? false : 'python3 with torch is not installed' }, () => {
  const dir = tmpDir();
  const { m, opt } = trainedSpark(5);
  const resume = resumeRecord();
  try {
    const ours = path.join(dir, 'ours_spark.pth'), oursResume = path.join(dir, 'ours_resume.pth'), oursTimm = path.join(dir, 'ours_timm.pth');
    const contents = { args: 'Args(model=resnet_basic_96)', arch: 'resnet_basic_96', inputSize: 96, epoch: 3, performanceDesc: '0.5 0.5', optimizer: opt };
    saveSparkStyle(ours, m, contents);
    saveSparkStyle(oursResume, m, { ...contents, resume });
    saveTimmStyle(oursTimm, m.sparse_encoder.sp_cnn);
    const d = runPythonJson(DESCRIBE, [REF_SPARK, ours, oursResume, REF_TIMM, oursTimm]) as Record<string, Desc>;
    const ref = d[REF_SPARK], our = d[ours];
    const items = (x: Desc): Record<string, Desc> => x.items as Record<string, Desc>;

    // top level: the same keys in the same order, the same Python types
    assert.deepEqual(our.keys, ref.keys);
    assert.deepEqual(our.type, ref.type);
    for (const k of ref.keys!) assert.equal(items(our)[k].type, items(ref)[k].type, `top-level ${k}`);
    // module: an OrderedDict with the same keys, shapes and dtypes (every tensor), and the same config
    const rm = items(ref).module, om = items(our).module;
    assert.equal(om.type, 'OrderedDict');
    assert.deepEqual(om.keys, rm.keys);
    for (const k of rm.keys!) {
      if (k === 'config') continue;
      assert.deepEqual([items(om)[k].tensor, items(om)[k].shape], [items(rm)[k].tensor, items(rm)[k].shape], `module ${k}`);
    }
    assert.deepEqual(items(om).config, items(rm).config, 'config: same keys, types and values');
    assertMetadata(om, rm, 'module');
    // optimizer: {state: {int: {exp_avg, exp_avg_sq}}, param_groups: [...]} as the reference's
    assert.deepEqual(layout(items(our).optimizer), layout(items(ref).optimizer));
    const groups = (x: Desc) => (items(items(x).optimizer).param_groups.items as Desc[]).map((g) => (g.items as Record<string, Desc>).params.items!.length);
    assert.deepEqual(groups(our), groups(ref));
    // the state entry of each parameter has that parameter's shape, as in the reference's file
    const shapes = (x: Desc) => Object.values(items(items(items(x).optimizer).state)).map((s) => items(s).exp_avg.shape);
    assert.deepEqual(shapes(our), shapes(ref));

    // with our resume record: one extra top-level key (ignored by the reference's loader), all else equal
    const withResume = d[oursResume];
    assert.deepEqual(withResume.keys, [...ref.keys!, 'sparkts']);
    assert.deepEqual(layout(items(withResume).module), layout(om));

    // timm style: the encoder's state dict, same keys/shapes/dtypes as the reference's
    const rt = d[REF_TIMM], ot = d[oursTimm];
    assert.equal(ot.type, 'OrderedDict');
    assert.deepEqual(ot.keys, rt.keys);
    for (const k of rt.keys!) assert.deepEqual([items(ot)[k].tensor, items(ot)[k].shape], [items(rt)[k].tensor, items(rt)[k].shape], k);
    assertMetadata(ot, rt, 'timm-style');
  } finally {
    opt.dispose(); disposeModule(m);
    torch.dispose([...resume.rng.values()]);
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

const oneLine = (re: RegExp) => (e: Error): boolean => {
  assert.ok(!e.message.includes('\n'), `one line: ${e.message}`);
  assert.match(e.message, re);
  return true;
};

test('a checkpoint of another architecture gives one clear error', () => {
  const c = loadCheckpoint(REF_SPARK);
  const t = loadCheckpoint(REF_TIMM);
  const convnext = (norm: 'bn' | 'ln') => new SparK(new ConvNeXt({ depths: [1, 1, 1, 1], dims: [16, 32, 64, 128], numClasses: 0, globalPool: '', skipInit: true }),
    { inputSize: 96, maskRatio: 0.6, decoderWidth: 64, densifyNorm: norm });
  const same = convnext('bn'), other = convnext('ln');
  const masked75 = new SparK(basicEncoder(), { inputSize: 96, maskRatio: 0.75, decoderWidth: 64 });
  try {
    // same SparK config, another encoder: the keys do not fit
    assert.throws(() => loadIntoSpark(same, c), oneLine(/^checkpoint .*resnet_basic_96\.spark_style\.pth does not fit the SparK model \(it was saved for resnet_basic_96\): /));
    // the reference compares its config first
    assert.throws(() => loadIntoSpark(other, c), oneLine(/was made with densify_norm_str=bn but this model has densify_norm_str=ln; use matching flags/));
    assert.throws(() => loadIntoSpark(masked75, c), oneLine(/was made with mask_ratio=0\.6 but this model has mask_ratio=0\.75/));
    // a ResNet's timm-style weights into a ConvNeXt encoder
    assert.throws(() => loadIntoSpark(same, t), oneLine(/resnet_basic_96\.timm_style\.pth does not fit the encoder: /));
  } finally {
    disposeCheckpoint(c); disposeCheckpoint(t);
    disposeModule(same); disposeModule(other); disposeModule(masked75);
  }
});

test('a truncated, missing or foreign file gives one clear error', () => {
  const dir = tmpDir();
  try {
    const bytes = fs.readFileSync(REF_SPARK);
    const cut = path.join(dir, 'cut.pth');
    fs.writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length / 2)));
    assert.throws(() => loadCheckpoint(cut), oneLine(/^checkpoint .*cut\.pth could not be read \(.+\); it may be truncated or not a torch\.save file$/));
    const tail = path.join(dir, 'tail.pth');
    fs.writeFileSync(tail, bytes.subarray(0, bytes.length - 100));
    assert.throws(() => loadCheckpoint(tail), oneLine(/tail\.pth could not be read .* it may be truncated/));
    const junk = path.join(dir, 'junk.pth');
    fs.writeFileSync(junk, 'not a checkpoint at all');
    assert.throws(() => loadCheckpoint(junk), oneLine(/junk\.pth could not be read/));
    assert.throws(() => loadCheckpoint(path.join(dir, 'absent.pth')), oneLine(/absent\.pth does not exist; check the path/));
    const str = path.join(dir, 'str.pth');
    savePth(str, 'hello');
    assert.throws(() => loadCheckpoint(str), oneLine(/str\.pth holds a str, not a state dict or a SparK checkpoint dict/));
    const empty = path.join(dir, 'empty.pth');
    savePth(empty, new Map<PyValue, PyValue>([['epoch', 3n]]));
    assert.throws(() => loadCheckpoint(empty), oneLine(/empty\.pth contains no tensors; it is not a model checkpoint/));
    assert.equal(loadPth(str), 'hello');
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
});
