// The native kernels that replace stock ATen formulations for speed (native/src/custom_ops.cc) compute
// the same thing: the masked_rows / rows_to_masked CPU kernels against the index / index_put_
// formulation (bit for bit: they only move data).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';

checkNoLeaks();
const { tidy } = torch;

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
