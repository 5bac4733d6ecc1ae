// The SE-ResNet and GN-ResNet registry models against timm 0.5.4 itself (Debian's python3-torch with
// timm 0.5.4 on PYTHONPATH; skipped without them): seresnet50 and resnet50_gn state-dict names, order
// and shapes, and the dense forward of the same blocks (SEModule, GroupNorm(32)) on timm's weights.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { loadPth } from '../../src/torch/io/pth.js';
import type { PyValue, RawTensor } from '../../src/torch/io/index.js';
import { rawToTensor } from '../../src/torch/io/tensor_bridge.js';
import { createModel, modelRecord, ResNet, makeDivisible } from '../../src/models/index.js';
import { pythonWithTorch } from '../python.js';
import { disposeModule, leakCheck, maxAbsDiff } from './support.js';

const noLeaks = leakCheck();

const TIMM = process.env.SPARKTS_TIMM ?? '/work/ref/timm054';
const py = pythonWithTorch();
const skip = !py ? 'python3 with torch is not installed' : !fs.existsSync(path.join(TIMM, 'timm', 'models', 'resnet.py')) ? `timm 0.5.4 is not at ${TIMM} (set SPARKTS_TIMM)` : false;

function timm(code: string, args: string[] = []): string {
  const r = spawnSync(py!, ['-c', code, ...args], { encoding: 'utf8', maxBuffer: 64 << 20, env: { ...process.env, PYTHONPATH: TIMM } });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr}`);
  return r.stdout;
}

test('timm make_divisible: the SE reduction widths of seresnet50', () => {
  // timm: make_divisible(channels / 16, 8, round_limit=0.)
  assert.deepEqual([64, 256, 512, 1024, 2048].map((c) => makeDivisible(c / 16, 8, undefined, 0)), [8, 16, 32, 64, 128]);
  assert.equal(makeDivisible(8 / 16, 8, undefined, 0), 8);
});

/** One Python run (importing torch and timm takes most of the time): timm's state-dict layouts, and a .pth with small SE/GN ResNets' weights, input and train-mode outputs. */
const REF_PY = `
import sys, json, torch, timm
from timm.models.resnet import ResNet, Bottleneck
from timm.models.layers import GroupNorm
keys = {n: [[k, list(v.shape)] for k, v in timm.create_model(n).state_dict().items()] for n in ['seresnet50', 'resnet50_gn']}
out = {}
torch.manual_seed(0)
x = torch.randn(2, 3, 64, 64)
for name, kw in [('se', dict(block_args=dict(attn_layer='se'))), ('gn', dict(norm_layer=GroupNorm))]:
    m = ResNet(block=Bottleneck, layers=[1, 1, 1, 1], num_classes=10, **kw)
    with torch.no_grad():
        for k, v in m.state_dict().items():   # every term non-trivial (timm zero-inits each last norm)
            if v.is_floating_point():
                v.copy_(torch.randn(v.shape) * (0.3 if v.ndim == 1 else 0.05) + (1.0 if k.endswith(('weight', 'var')) and v.ndim == 1 else 0.0))
    m.train()
    out[name] = {'sd': m.state_dict(), 'y': m(x).detach()}
out['x'] = x
torch.save(out, sys.argv[1])
print(json.dumps(keys))
`;
let refCache: { keys: Record<string, [string, number[]][]>; value: Map<PyValue, PyValue> } | null = null;
function reference(): { keys: Record<string, [string, number[]][]>; value: Map<PyValue, PyValue> } {
  if (refCache) return refCache;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-se-gn-'));
  try {
    const file = path.join(dir, 'ref.pth');
    const keys = JSON.parse(timm(REF_PY, [file])) as Record<string, [string, number[]][]>;
    refCache = { keys, value: loadPth(file) as Map<PyValue, PyValue> };
    return refCache;
  } finally { fs.rmSync(dir, { recursive: true, force: true }); }
}

test('seresnet50 and resnet50_gn: state-dict names, order and shapes equal timm 0.5.4\'s', { skip }, () => {
  const theirs = reference().keys;
  for (const name of ['seresnet50', 'resnet50_gn']) {
    const m = createModel(name, { skipInit: true });
    try {
      const ours = [...m.stateDict()].map(([k, t]) => [k, t.shape]);
      assert.deepEqual(ours, theirs[name], name);
      assert.equal(modelRecord(name).family, 'resnet');
    } finally { disposeModule(m); }
  }
  assert.ok(theirs.seresnet50.some(([k]) => k === 'layer4.2.se.fc2.bias'));
  assert.ok(!theirs.resnet50_gn.some(([k]) => k.endsWith('running_mean')));
});

test('the SE and GN bottleneck ResNets compute what timm 0.5.4 computes on the same weights (train mode)', { skip }, () => {
  const v = reference().value;
  torch.tidy(() => {
    const x = rawToTensor(v.get('x') as RawTensor);
    for (const [name, o] of [['se', { attnLayer: 'se' as const }], ['gn', { norm: 'gn' as const }]] as const) {
      const ref = v.get(name) as Map<PyValue, PyValue>;
      const sd = new Map<string, Tensor>([...(ref.get('sd') as Map<PyValue, PyValue>)].map(([k, t]) => [k as string, rawToTensor(t as RawTensor)]));
      const m = new ResNet({ block: 'bottleneck', layers: [1, 1, 1, 1], numClasses: 10, skipInit: true, ...o });
      try {
        assert.deepEqual(m.loadStateDict(sd), { missingKeys: [], unexpectedKeys: [] });
        m.train();
        const y = torch.noGrad(() => m.forward(x) as Tensor);
        const yRef = rawToTensor(ref.get('y') as RawTensor);
        const d = maxAbsDiff(y, yRef), scale = yRef.abs().maxAll().item();
        assert.ok(scale > 0.1, `${name}: a non-trivial output`);
        assert.ok(d <= 1e-4 * scale, `${name}: ours vs timm differ by ${d} (scale ${scale})`);
      } finally { disposeModule(m); }
    }
  });
});

test('no tensors leaked', noLeaks);
