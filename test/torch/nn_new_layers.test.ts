// The dense forms of the layers added for sparse encoders, against PyTorch itself (Debian's
// python3-torch; skipped without it): InstanceNorm2d (train with running statistics, then eval, and
// without them), adaptive max pooling to uneven bins, Dropout2d under the same seed, nn.Upsample.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import type { Tensor, NestedArray } from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';
import { pythonWithTorch, runPython } from '../python.js';
import { maxAbsDiff } from '../spark/support.js';

checkNoLeaks();
const skip = pythonWithTorch() ? false : 'python3 with torch is not installed';

const PY = `
import json, torch, torch.nn as nn, torch.nn.functional as F
torch.manual_seed(0)
x = torch.randn(2, 4, 7, 9)
out = {'x': x.tolist()}
m = nn.InstanceNorm2d(4, affine=True, track_running_stats=True)
with torch.no_grad():
    m.weight.copy_(torch.tensor([0.5, 1.5, -1.0, 2.0])); m.bias.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]))
out['in_train'] = m(x).tolist()
out['in_running'] = [m.running_mean.tolist(), m.running_var.tolist(), int(m.num_batches_tracked)]
m.eval()
out['in_eval'] = m(x * 2).tolist()
out['in_plain'] = nn.InstanceNorm2d(4)(x).tolist()
out['amax'] = F.adaptive_max_pool2d(x, (3, 4)).tolist()
out['aavg'] = F.adaptive_avg_pool2d(x, (3, 4)).tolist()
torch.manual_seed(5)
out['drop2d'] = F.dropout2d(torch.ones(3, 6, 2, 2), 0.5, True).tolist()
out['up'] = nn.Upsample(scale_factor=2, mode='bilinear')(x).tolist()
print(json.dumps(out))
`;

test('InstanceNorm2d, adaptive max pooling, Dropout2d and Upsample equal PyTorch', { skip }, () => {
  const r = JSON.parse(runPython(PY)) as Record<string, NestedArray & unknown[]>;
  const inorm = new nn.InstanceNorm2d(4, { affine: true, trackRunningStats: true });
  try {
    torch.tidy(() => torch.noGrad(() => {
      const t = (v: unknown): Tensor => torch.tensor(v as NestedArray);
      const close = (a: Tensor, b: unknown, what: string, tol = 1e-5): void => {
        const d = maxAbsDiff(a, t(b));
        assert.ok(d <= tol, `${what}: ours vs PyTorch differ by ${d}`);
      };
      const x = t(r.x);
      inorm.weight!.copy_(torch.tensor([0.5, 1.5, -1.0, 2.0]));
      inorm.bias!.copy_(torch.tensor([0.1, -0.2, 0.3, 0.0]));
      close(inorm.forward(x), r.in_train, 'InstanceNorm2d train');
      const [rm, rv, nbt] = r.in_running as [number[], number[], number];
      close(inorm.runningMean!, rm, 'running_mean', 1e-6);
      close(inorm.runningVar!, rv, 'running_var', 1e-6);
      assert.equal(inorm.getBuffer('num_batches_tracked')!.item(), nbt, 'num_batches_tracked (PyTorch never increments it)');
      inorm.eval();
      close(inorm.forward(x.mul(2)), r.in_eval, 'InstanceNorm2d eval (running statistics)');
      close(new nn.InstanceNorm2d(4).forward(x), r.in_plain, 'InstanceNorm2d default');
      close(new nn.AdaptiveMaxPool2d([3, 4]).forward(x), r.amax, 'AdaptiveMaxPool2d (3, 4) of 7×9', 0);
      close(new nn.AdaptiveAvgPool2d([3, 4]).forward(x), r.aavg, 'AdaptiveAvgPool2d (3, 4) of 7×9');
      torch.manualSeed(5);
      close(new nn.Dropout2d(0.5).forward(torch.ones([3, 6, 2, 2])), r.drop2d, 'Dropout2d (same seed, same draws)', 0);
      close(new nn.Upsample({ scaleFactor: 2, mode: 'bilinear' }).forward(x), r.up, 'Upsample bilinear ×2');
    }));
  } finally { for (const p of [...inorm.parameters(), ...inorm.buffers()]) p.dispose(); }
});

test('Dropout2d: whole channels dropped, survivors scaled by 1/(1−p); identity in eval; p = 1 zeroes', () => {
  torch.tidy(() => {
    const d = new nn.Dropout2d(0.25);
    const y = d.forward(torch.ones([4, 32, 3, 3]));
    const perChannel = y.amax([2, 3]), perChannelMin = y.amin([2, 3]);
    assert.equal(maxAbsDiff(perChannel, perChannelMin), 0, 'constant within each channel');
    const vals = new Set(Array.from(perChannel.toTypedArray() as Float32Array).map((v) => v.toFixed(6)));
    assert.deepEqual([...vals].sort(), ['0.000000', (1 / 0.75).toFixed(6)].sort());
    d.eval();
    const x = torch.randn([2, 3, 4, 4]);
    assert.equal(d.forward(x), x);
    d.train();
    assert.equal(new nn.Dropout2d(1).forward(x).abs().maxAll().item(), 0);
    assert.throws(() => new nn.Dropout2d(1.5), /^Error: Dropout2d: p must be in \[0, 1\], got 1.5$/);
  });
});
