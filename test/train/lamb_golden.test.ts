// The golden runs' first LAMB iteration: from `state.*` with the recorded gradients `grad.*` (iteration 0
// of the reference's two-iteration run starts from the same state, batch and mask), our LAMB over
// getParamGroups with the schedule's lr/wd reports the reference's global gradient norm.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor } from '../../src/torch/index.js';
import { SafetensorsReader, type RawTensor } from '../../src/torch/io/index.js';
import { getParamGroups } from '../../src/train/param_groups.js';
import { lrWdAnnealing } from '../../src/train/schedule.js';
import { checkNoLeaks } from '../helpers.js';
import { GOLDEN_CASES, goldenPath } from './golden_meta.js';

checkNoLeaks();

const fromRaw = (r: RawTensor): Tensor => torch.tensor(r.data, { dtype: r.dtype, shape: r.shape });

for (const name of GOLDEN_CASES) {
  test(`${name}: iteration 0's global gradient norm equals the reference's opt_global_grad_norms[0]`, () => {
    const r = SafetensorsReader.open(goldenPath(`${name}.safetensors`));
    const meta = r.metadata;
    const o = (JSON.parse(meta.case) as { opt: { peak_lr: number; beta2: number; wd: number; wd_end: number; max_grad_norm: number; warmup_iters: number; max_iters: number } }).opt;
    const names = JSON.parse(meta.param_names) as string[];
    const list: [string, Tensor][] = names.map((n) => [n, fromRaw(r.read(`state.${n}`)).requiresGrad_(true).keep()]);
    for (const [n, p] of list) torch.tidy(() => { p.grad = fromRaw(r.read(`grad.${n}`)); });
    r.close();
    const opt = new torch.optim.LAMB(getParamGroups(list), { lr: o.peak_lr, weight_decay: 0, betas: [0.9, o.beta2], max_grad_norm: o.max_grad_norm });
    lrWdAnnealing(opt, o.peak_lr, o.wd, o.wd_end, 0, o.warmup_iters, o.max_iters);
    opt.step();
    const ref = (JSON.parse(meta.opt_global_grad_norms) as number[])[0];
    // float32 sums over ~10⁵–10⁶ elements: allow for another summation order (threads, vector width)
    assert.ok(Math.abs(opt.globalGradNorm - ref) <= 1e-6 * ref, `global grad norm ${opt.globalGradNorm} vs reference ${ref}`);
    opt.zeroGrad(); opt.dispose();
    torch.dispose(list.map(([, t]) => t));
  });
}
