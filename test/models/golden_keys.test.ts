// Our encoders' state dicts against the reference's, as the golden fixtures record them (names,
// order, shapes, parameter order, feature channels), and the fixture weights load strictly.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { ResNet, ConvNeXt } from '../../src/models/index.js';
import { disposeModule, fixtureEncoder, leakCheck, maxAbsDiff } from './support.js';

const noLeaks = leakCheck();

/** The encoder a fixture's case describes, built the way the reference built it (no head, no pooling). */
function buildFromCase(c: Record<string, unknown>): ResNet | ConvNeXt {
  if (c.arch === 'resnet') {
    const channels = c.channels as number[];
    // gen.py: timm's ResNet with stage widths `channels` and a stem as wide as the first stage
    return new ResNet({ block: c.block as 'basic' | 'bottleneck', layers: c.layers as number[], channels, stemWidth: channels[0], numClasses: 0, globalPool: '' });
  }
  assert.equal(c.arch, 'convnext');
  return new ConvNeXt({ depths: c.depths as number[], dims: c.dims as number[], numClasses: 0, globalPool: '' });
}

for (const file of ['resnet_basic_96', 'resnet_bottleneck_64', 'convnext_96', 'convnext_128_m75']) {
  test(`${file}: encoder state-dict names, order and shapes equal the reference's; its weights load`, () => {
    const fx = fixtureEncoder(`${file}.safetensors`);
    const m = buildFromCase(fx.case);
    try {
      assert.ok(fx.entries.length > 0);
      const ours = [...m.stateDict()].map(([k, t]): [string, number[]] => [k, t.shape]);
      assert.deepEqual(ours, fx.entries);
      assert.deepEqual(m.namedParameters().map(([k]) => k), fx.paramNames);
      assert.deepEqual(m.featureChannels, fx.featureChannels);
      assert.equal(m.downsampleRatio, 32);

      const sd = new Map(fx.entries.map(([k]) => [k, fx.read(k)]));
      try {
        const report = m.loadStateDict(sd);
        assert.deepEqual(report, { missingKeys: [], unexpectedKeys: [] });
        for (const [k, t] of m.stateDict()) assert.equal(maxAbsDiff(t, sd.get(k)!), 0, k);
      } finally { for (const t of sd.values()) t.dispose(); }
    } finally { disposeModule(m); fx.close(); }
  });
}

test('no tensors leaked', noLeaks);
