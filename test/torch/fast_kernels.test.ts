// The native kernels that replace stock ATen formulations for speed (native/src/custom_ops.cc) compute
// the same thing: conv_transpose2d_onednn against ATen's conv_transpose2d (values and all three
// gradients, float64 finite differences), the masked_rows / rows_to_masked CPU kernels against the
// index / index_put_ formulation (bit for bit: they only move data), and LAMB's fused step against
// its ATen-op path (LAMB.fused = false).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { checkNoLeaks, gradcheck, randLeaf } from '../helpers.js';

checkNoLeaks();
const { tidy } = torch;

const relErr = (a: Tensor, b: Tensor): number => tidy(() => a.sub(b).abs().maxAll().item() / Math.max(1e-30, b.abs().maxAll().item()));

// [N, Cin, Cout, H, kernel, stride, padding, outputPadding, groups, dilation]: SparK's upsampler
// (the sub-pixel path) and other geometries (the general backward-data path)
const GEOMETRIES: [number, number, number, number, number, number, number, number, number, number][] = [
  [2, 6, 4, 5, 4, 2, 1, 0, 1, 1],
  [1, 3, 5, 4, 4, 2, 1, 0, 1, 1],
  [2, 6, 4, 5, 3, 2, 1, 1, 2, 1],
  [1, 4, 6, 6, 3, 1, 1, 0, 1, 2],
  [2, 4, 2, 3, 2, 2, 0, 0, 1, 1],
];

test('conv_transpose2d_onednn equals conv_transpose2d in float32: output and the input, weight and bias gradients', () => tidy(() => {
  for (const [N, ci, co, H, k, s, p, op, g, d] of GEOMETRIES) {
    const gen = new torch.Generator(7);
    const x = torch.randn([N, ci, H, H + 1], { generator: gen }), w = torch.randn([ci, co / g, k, k], { generator: gen });
    const b = torch.randn([co], { generator: gen });
    for (const t of [x, w, b]) t.requiresGrad = true;
    const run = (f: typeof torch.convTranspose2d): Tensor[] => {
      for (const t of [x, w, b]) t.grad = null;
      const y = f(x, w, b, s, p, op, g, d);
      y.backward(torch.randn(y.shape, { generator: new torch.Generator(8) }));
      return [y, x.grad!, w.grad!, b.grad!];
    };
    const want = run(torch.convTranspose2d), got = run(torch.convTranspose2dOnednn);
    const what = `k${k} s${s} p${p} op${op} g${g} d${d}`;
    assert.deepEqual(got[0]!.shape, want[0]!.shape, `${what}: output shape`);
    ['output', 'grad input', 'grad weight', 'grad bias'].forEach((name, i) => {
      const e = relErr(got[i]!, want[i]!);
      assert.ok(e < 2e-6, `${what}: ${name} differs by ${e} (relative to its largest value)`);
    });
  }
}));

test('conv_transpose2d_onednn: float64 gradients equal finite differences (sub-pixel and general paths)', () => tidy(() => {
  for (const [N, ci, co, H, k, s, p, op, g, d] of [GEOMETRIES[0]!, GEOMETRIES[2]!]) {
    const x = randLeaf([N, ci, H, H], 30), w = randLeaf([ci, co / g, k, k], 31), b = randLeaf([co], 32);
    gradcheck((xx, ww, bb) => torch.convTranspose2dOnednn(xx, ww, bb, s, p, op, g, d), [x, w, b]);
    const want = torch.convTranspose2d(x, w, b, s, p, op, g, d);
    assert.ok(relErr(torch.convTranspose2dOnednn(x, w, b, s, p, op, g, d), want) < 1e-14, 'float64 output');
  }
}));

test('nn.ConvTranspose2d on CPU: the same state-dict names, output and gradients as the stock op', () => tidy(() => {
  const m = new torch.nn.ConvTranspose2d(8, 8, 4, { stride: 2, padding: 1 });
  assert.deepEqual([...m.stateDict().keys()], ['weight', 'bias']);
  const x = torch.randn([2, 8, 7, 7], { generator: new torch.Generator(3) });
  const y = m.forward(x);
  y.sum().backward();
  const [gw, gb] = [m.weight.grad!, m.bias!.grad!];
  const wRef = m.weight.detach(), bRef = m.bias!.detach();
  wRef.requiresGrad = true; bRef.requiresGrad = true;
  const yRef = torch.convTranspose2d(x, wRef, bRef, 2, 1);
  yRef.sum().backward();
  assert.ok(relErr(y, yRef) < 2e-6 && relErr(gw, wRef.grad!) < 2e-6 && relErr(gb, bRef.grad!) < 2e-6);
  for (const t of m.parameters()) { t.grad = null; t.dispose(); }
}));

test('masked_rows / rows_to_masked CPU kernels equal the index / index_put_ formulation exactly', () => tidy(() => {
  for (const dtype of ['float32', 'float64'] as const) {
    const gen = new torch.Generator(11);
    const [N, C, H, W] = [3, 5, 4, 6];
    // sample 1 has no visible position at all
    const mask = torch.rand([N, 1, H, W], { generator: gen }).lt(0.4).mul(torch.tensor([1, 0, 1]).view([3, 1, 1, 1])).bool();
    const flatIdx = mask.reshape([-1]).nonzero().squeeze(1);
    const n = flatIdx.div(H * W, 'floor'), hw = flatIdx.remainder(H * W);
    for (const layout of ['contiguous', 'channels_last'] as const) {
      const x = torch.randn([N, C, H, W], { generator: gen, dtype }).contiguous(layout);
      const want = x.reshape([N, C, -1]).transpose(1, 2).index([n, hw]);
      const rows = torch.maskedRows(x, mask);
      assert.equal(rows.sub(want).abs().maxAll().item(), 0, `${dtype} ${layout}: masked_rows`);
      const back = torch.rowsToMasked(rows, mask);
      const wantBack = torch.zeros([N, C, H, W], { dtype });
      wantBack.view([N, C, -1]).transpose(1, 2).indexPut_([n, hw], want);
      assert.equal(back.sub(wantBack).abs().maxAll().item(), 0, `${dtype} ${layout}: rows_to_masked`);
      assert.ok(back.isContiguous(), 'rows_to_masked returns a contiguous NCHW map');
    }
  }
}));

test('LAMB: the fused CPU step equals the ATen-op path (moments, parameters, clipped grads, global norm)', () => {
  for (const dtype of ['float64', 'float32'] as const) {
    const run = (fused: boolean): { values: number[][]; norms: number[] } => {
      const gen = new torch.Generator(5);
      const params = [[6, 4], [4], [3, 3, 2, 2], [5]].map((s) => {
        const p = torch.randn(s, { generator: gen, dtype }).keep();
        p.requiresGrad = true;
        return p;
      });
      torch.noGrad(() => params[3]!.zero_());   // ‖p‖ = 0: trust ratio 1
      const opt = new torch.optim.LAMB([
        { params: params.slice(0, 3), weight_decay: 0.05 }, { params: params.slice(3), weight_decay: 0 },
      ], { lr: 0.01, betas: [0.9, 0.95], max_grad_norm: 1.0 });
      const norms: number[] = [];
      torch.optim.LAMB.fused = fused;
      try {
        for (const scale of [5, 0.1, 0.3]) {   // clipping active, then inactive
          tidy(() => { for (const p of params) p.grad = torch.randn(p.shape, { generator: gen, dtype }).mul(scale); });
          opt.step();
          norms.push(opt.globalGradNorm);
        }
      } finally { torch.optim.LAMB.fused = false; }
      const values = tidy(() => params.flatMap((p) => {
        const s = opt.state.get(p)!;
        return [p, p.grad!, s.exp_avg as Tensor, s.exp_avg_sq as Tensor].map((t) => Array.from(t.toTypedArray() as Float32Array | Float64Array));
      }));
      opt.disposeState();
      for (const p of params) p.dispose();
      return { values, norms };
    };
    const a = run(true), b = run(false);
    const tol = dtype === 'float64' ? 1e-13 : 2e-6;
    a.norms.forEach((v, i) => assert.ok(Math.abs(v - b.norms[i]!) <= tol * Math.abs(b.norms[i]!), `${dtype}: global norm ${v} vs ${b.norms[i]}`));
    a.values.forEach((vs, i) => vs.forEach((v, j) => {
      const w = b.values[i]![j]!;
      assert.ok(Math.abs(v - w) <= tol * (1 + Math.abs(w)), `${dtype}: tensor ${i} element ${j}: fused ${v} vs ATen ${w}`);
    }));
  }
});
