// Extra check where Python torch is installed (skipped otherwise): the same ops with the same arguments
// in PyTorch and here, values, dtypes and gradients compared. It pins down argument semantics that the
// hand-derived tests could share a misreading with (interpolate's scale factors, pooling's ceil mode,
// cross-entropy with class weights and label smoothing together, type promotion, ...).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks, assertClose, flat, pythonWithTorch, runPython } from '../helpers.js';
import { Net, PYTHON_NET } from './nets.js';

checkNoLeaks();
const F = torch.nn.functional;

// Inputs: deterministic values (no RNG shared between the two sides), float64.
const seq = (n: number, k: number): number[] => Array.from({ length: n }, (_, i) => Math.sin(1.7 * i + k) * 1.5 + 0.1 * Math.cos(0.3 * i * k));
const INPUTS: Record<string, { shape: number[]; data: number[]; dtype?: string }> = {
  img: { shape: [2, 3, 5, 7], data: seq(210, 1) },
  img4: { shape: [1, 4, 5, 5], data: seq(100, 2) },
  w: { shape: [4, 2, 3, 2], data: seq(48, 3) },
  logits: { shape: [5, 4], data: seq(20, 4) },
  target: { shape: [5], data: [0, 3, -100, 1, 3], dtype: 'int64' },
  soft: { shape: [5, 4], data: [0.1, 0.2, 0.3, 0.4, 1, 0, 0, 0, 0.25, 0.25, 0.25, 0.25, 0, 0.5, 0.5, 0, 0.7, 0.1, 0.1, 0.1] },
  cw: { shape: [4], data: [0.5, 2, 1, 3] },
  vec: { shape: [7], data: [-2.5, -1.5, -0.5, 0.5, 1.5, 2.5, 3.5] },
  ints: { shape: [4], data: [5, -5, 7, -7], dtype: 'int64' },
};

interface Case { id: string; py: string; js: (t: Record<string, torch.Tensor>) => torch.Tensor; grad?: string; tol?: number }
// `grad`: an input name; both sides also return d(sum(out·cos(index)))/d(input).
const CASES: Case[] = [
  { id: 'nearest sf 2.5', py: "F.interpolate(img, scale_factor=2.5, mode='nearest')", js: (t) => F.interpolate(t.img, { scaleFactor: 2.5 }) },
  { id: 'nearest sf 0.6', py: "F.interpolate(img, scale_factor=0.6, mode='nearest')", js: (t) => F.interpolate(t.img, { scaleFactor: 0.6 }) },
  { id: 'nearest size', py: "F.interpolate(img, size=(7, 4), mode='nearest')", js: (t) => F.interpolate(t.img, { size: [7, 4] }) },
  { id: 'bilinear sf 1.5', py: "F.interpolate(img, scale_factor=1.5, mode='bilinear')", js: (t) => F.interpolate(t.img, { scaleFactor: 1.5, mode: 'bilinear' }), grad: 'img' },
  { id: 'bilinear sf 0.6 recompute', py: "F.interpolate(img, scale_factor=0.6, mode='bilinear', recompute_scale_factor=True)", js: (t) => F.interpolate(t.img, { scaleFactor: 0.6, mode: 'bilinear', recomputeScaleFactor: true }) },
  { id: 'bilinear ac', py: "F.interpolate(img, size=(9, 3), mode='bilinear', align_corners=True)", js: (t) => F.interpolate(t.img, { size: [9, 3], mode: 'bilinear', alignCorners: true }) },
  { id: 'bicubic sf 1.7', py: "F.interpolate(img, scale_factor=1.7, mode='bicubic')", js: (t) => F.interpolate(t.img, { scaleFactor: 1.7, mode: 'bicubic' }), grad: 'img' },
  { id: 'bicubic ac', py: "F.interpolate(img, size=(4, 11), mode='bicubic', align_corners=True)", js: (t) => F.interpolate(t.img, { size: [4, 11], mode: 'bicubic', alignCorners: true }) },
  { id: 'avg pool ceil', py: 'F.avg_pool2d(img, 3, stride=2, padding=1, ceil_mode=True, count_include_pad=False)', js: (t) => F.avgPool2d(t.img, 3, { stride: 2, padding: 1, ceilMode: true, countIncludePad: false }), grad: 'img' },
  { id: 'avg pool ceil incl', py: 'F.avg_pool2d(img, (2, 3), stride=2, padding=1, ceil_mode=True)', js: (t) => F.avgPool2d(t.img, [2, 3], { stride: 2, padding: 1, ceilMode: true }) },
  { id: 'max pool ceil dil', py: 'F.max_pool2d(img, 2, stride=2, padding=1, dilation=2, ceil_mode=True)', js: (t) => F.maxPool2d(t.img, 2, { stride: 2, padding: 1, dilation: 2, ceilMode: true }), grad: 'img' },
  { id: 'adaptive', py: 'F.adaptive_avg_pool2d(img, (3, 4))', js: (t) => F.adaptiveAvgPool2d(t.img, [3, 4]) },
  { id: 'conv groups', py: 'F.conv2d(img4, w, None, stride=(2, 1), padding=(1, 2), dilation=(1, 2), groups=2)', js: (t) => F.conv2d(t.img4, t.w, null, { stride: [2, 1], padding: [1, 2], dilation: [1, 2], groups: 2 }), grad: 'w' },
  { id: 'deconv groups', py: 'F.conv_transpose2d(img4, w, None, stride=(2, 3), padding=1, output_padding=(1, 0), groups=2, dilation=(1, 2))', js: (t) => F.convTranspose2d(t.img4, t.w, null, { stride: [2, 3], padding: 1, outputPadding: [1, 0], groups: 2, dilation: [1, 2] }), grad: 'img4' },
  { id: 'ce weight smoothing', py: 'F.cross_entropy(logits, target, weight=cw, label_smoothing=0.2)', js: (t) => F.crossEntropy(t.logits, t.target, { weight: t.cw, labelSmoothing: 0.2 }), grad: 'logits' },
  { id: 'ce weight smoothing none', py: "F.cross_entropy(logits, target, weight=cw, label_smoothing=0.2, reduction='none')", js: (t) => F.crossEntropy(t.logits, t.target, { weight: t.cw, labelSmoothing: 0.2, reduction: 'none' }) },
  { id: 'ce weight smoothing sum', py: "F.cross_entropy(logits, target, weight=cw, label_smoothing=0.3, reduction='sum')", js: (t) => F.crossEntropy(t.logits, t.target, { weight: t.cw, labelSmoothing: 0.3, reduction: 'sum' }) },
  { id: 'ce soft weight smoothing', py: 'F.cross_entropy(logits, soft, weight=cw, label_smoothing=0.1)', js: (t) => F.crossEntropy(t.logits, t.soft, { weight: t.cw, labelSmoothing: 0.1 }), grad: 'logits' },
  { id: 'group norm', py: 'F.group_norm(img4, 2, eps=1e-3)', js: (t) => F.groupNorm(t.img4, 2, { eps: 1e-3 }), grad: 'img4' },
  { id: 'layer norm', py: 'F.layer_norm(img, (5, 7))', js: (t) => F.layerNorm(t.img, [5, 7]) },
  { id: 'gelu tanh', py: "F.gelu(vec, approximate='tanh')", js: (t) => F.gelu(t.vec, { approximate: 'tanh' }) },
  { id: 'round', py: 'torch.round(vec)', js: (t) => t.vec.round() },
  { id: 'remainder', py: 'torch.remainder(ints, 3)', js: (t) => t.ints.remainder(3) },
  { id: 'floor div', py: "torch.div(ints, -3, rounding_mode='floor')", js: (t) => t.ints.div(-3, 'floor') },
  { id: 'true div ints', py: 'ints / 2', js: (t) => t.ints.div(2) },
  { id: 'int + float scalar', py: 'ints + 0.5', js: (t) => t.ints.add(0.5) },
  { id: 'where scalars', py: 'torch.where(vec > 0, 1.5, -1.5)', js: (t) => torch.where(t.vec.gt(0), 1.5, -1.5) },
  { id: 'var unbiased', py: 'torch.var(img, dim=(0, 2), keepdim=True)', js: (t) => t.img.var([0, 2], true, true) },
  { id: 'std biased', py: 'torch.std(img, dim=3, unbiased=False)', js: (t) => t.img.std(3, false) },
  { id: 'reflect pad', py: "F.pad(img, (2, 1, 3, 0), mode='reflect')", js: (t) => F.pad(t.img, [2, 1, 3, 0], { mode: 'reflect' }) },
  { id: 'repeat_interleave', py: 'img4.repeat_interleave(2, dim=3)', js: (t) => t.img4.repeatInterleave(2, 3) },
  { id: 'einsum', py: "torch.einsum('bchw->bhwc', img)", js: (t) => torch.einsum('bchw->bhwc', [t.img]) },
  { id: 'log_softmax', py: 'F.log_softmax(logits, dim=0)', js: (t) => F.logSoftmax(t.logits, 0), grad: 'logits' },
];

interface PyResult {
  ops: Record<string, { shape: number[]; dtype: string; data: number[]; grad?: number[] }>;
  tree: [string[], string[], string[], string[], number];
}
let pyCache: PyResult | null | undefined;
/** One Python run computes everything (starting torch takes seconds); null when torch is absent. */
function python(): PyResult | null {
  if (pyCache !== undefined) return pyCache;
  const script = `
import json, sys, torch, torch.nn as nn, torch.nn.functional as F
req = json.load(sys.stdin)
env = {'torch': torch, 'F': F}
for k, v in req['inputs'].items():
    env[k] = torch.tensor(v['data'], dtype=getattr(torch, v.get('dtype') or 'float64')).reshape(v['shape'])
out = {}
for c in req['cases']:
    for k in req['inputs']:
        v = env[k]
        if v.is_floating_point(): v.grad = None; v.requires_grad_(k == c.get('grad'))
    y = eval(c['py'], env)
    r = {'shape': list(y.shape), 'dtype': str(y.dtype).replace('torch.', ''), 'data': y.detach().double().flatten().tolist()}
    if c.get('grad'):
        wts = torch.cos(torch.arange(y.numel(), dtype=torch.float64)).reshape(y.shape)
        (y * wts).sum().backward()
        r['grad'] = env[c['grad']].grad.flatten().tolist()
    out[c['id']] = r
${PYTHON_NET}
n = Net()
tree = [list(n.state_dict().keys()), [k for k, _ in n.named_parameters()], [k for k, _ in n.named_buffers()],
        [k for k, _ in n.named_modules()], sum(p.numel() for p in n.parameters())]
print(json.dumps({'ops': out, 'tree': tree}))`;
  const req = { inputs: INPUTS, cases: CASES.map((c) => ({ id: c.id, py: c.py, grad: c.grad ?? null })) };
  if (!pythonWithTorch()) return (pyCache = null);
  return (pyCache = JSON.parse(runPython(script, [], { input: JSON.stringify(req) })) as PyResult);
}

test('ops agree with Python torch: values, dtypes, gradients (skipped without torch)', (t) => {
  const py = python();
  if (!py) { t.skip('no Python torch'); return; }
  const want = py.ops;
  torch.tidy(() => {
    const inputs: Record<string, torch.Tensor> = {};
    for (const [k, v] of Object.entries(INPUTS)) inputs[k] = torch.tensor(v.data, { dtype: (v.dtype ?? 'float64') as torch.DType, shape: v.shape });
    for (const c of CASES) {
      torch.tidy(() => {
        const w = want[c.id];
        for (const [k, v] of Object.entries(inputs)) if (v.dtype === 'float64') { v.grad = null; v.requiresGrad = k === c.grad; }
        const y = c.js(inputs);
        assert.deepEqual(y.shape, w.shape, `${c.id}: shape`);
        assert.equal(y.dtype, w.dtype, `${c.id}: dtype`);
        assertClose(flat(y), w.data, { atol: c.tol ?? 1e-10, rtol: 1e-9 }, c.id);
        if (c.grad) {
          const wts = torch.arange(y.numel, undefined, 1, { dtype: 'float64' }).cos().reshape(y.shape);
          y.mul(wts).sum().backward();
          assertClose(inputs[c.grad].grad!, w.grad!, { atol: 1e-10, rtol: 1e-9 }, `${c.id}: grad`);
        }
      });
    }
    for (const v of Object.values(inputs)) if (v.dtype === 'float64') v.requiresGrad = false;
  });
});

test('the same module tree in PyTorch has the same state-dict keys, names and parameter count (skipped without torch)', (t) => {
  const py = python();
  if (!py) { t.skip('no Python torch'); return; }
  const [keys, params, buffers, modules, numel] = py.tree;
  const net = new Net();
  try {
    assert.deepEqual([...net.stateDict().keys()], keys);
    assert.deepEqual(net.namedParameters().map(([n]) => n), params);
    assert.deepEqual(net.namedBuffers().map(([n]) => n), buffers);
    assert.deepEqual(net.namedModules().map(([n]) => n), modules);
    assert.equal(net.numParameters(), numel);
  } finally {
    net.dispose();
  }
});
