// Full-size SparK: the default decoder (width 768) with densify norms/projections and mask tokens for a
// 4-stage encoder. The encoders' own counts (resnet50 23,508,032, resnet101 42,500,160, convnext_small
// 49,453,152, convnext_base 87,564,416) and their 224² feature shapes are tested in test/models.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { createPretrainEncoder, ConvNeXt, ConvNeXtLayerNorm } from '../../src/models/index.js';
import { SparK } from '../../src/spark/index.js';
import { checkNoLeaks } from '../helpers.js';
import { disposeModule, oneThread } from './support.js';

checkNoLeaks();
oneThread();

/**
 * The parameter count SparK adds to an encoder, from the architecture the golden README describes
 * (written out here, independent of the model code): decoder blocks of width w, w/2, … (ConvTranspose
 * k4 with bias, conv3×3, BN, conv3×3, BN), a 1×1 projection to 3 channels, and per scale (smallest
 * first) a BN densify norm, a projection (1×1 at the smallest scale, 3×3 elsewhere) and a mask token.
 */
function sparkExtraParams(encoderWidths: number[], width: number, downsample = 32): number {
  const n = Math.log2(downsample);
  const ch = Array.from({ length: n + 1 }, (_, i) => width / 2 ** i);
  let total = 0;
  for (let i = 0; i < n; i++) {
    const cin = ch[i], cout = ch[i + 1];
    total += cin * cin * 16 + cin;          // up_sample
    total += 9 * cin * cin + 2 * cin;       // conv3×3 + BN
    total += 9 * cin * cout + 2 * cout;     // conv3×3 + BN
  }
  total += ch[n] * 3 + 3;                   // proj
  const e = encoderWidths.slice().reverse();
  e.forEach((ew, i) => {
    const d = ch[i];
    total += 2 * ew + ew;                   // BN densify norm + mask token
    if (!(i === 0 && ew === d)) total += (i === 0 ? 1 : 9) * ew * d + d;
  });
  return total;
}

test('SparK-resnet50 with the default decoder: 52,921,835 parameters (the reference\'s count)', () => {
  const enc = createPretrainEncoder('resnet50', { skipInit: true });
  const m = new SparK(enc, { inputSize: 224 });
  try {
    assert.equal(enc.numParameters(), 23_508_032);
    assert.equal(m.numParameters(), 52_921_835);
    assert.equal(m.numParameters(), 23_508_032 + sparkExtraParams([256, 512, 1024, 2048], 768));
    // the pieces: reference defaults (width 768, mask 0.6, bn densify), f = 7, keep round(19.6) = 20
    assert.equal(m.dense_decoder.width, 768);
    assert.deepEqual([m.fmapSize, m.lenKeep, m.hierarchy, m.downsampleRatio, m.maskRatio], [7, 20, 4, 32, 0.6]);
    assert.deepEqual(m.mask_tokens.parameters().map((t) => t.shape), [[1, 2048, 1, 1], [1, 1024, 1, 1], [1, 512, 1, 1], [1, 256, 1, 1]]);
    const projs = m.densify_projs.children() as nn.Conv2d[];
    assert.deepEqual(projs.map((p) => p.weight.shape), [[768, 2048, 1, 1], [384, 1024, 3, 3], [192, 512, 3, 3], [96, 256, 3, 3]]);
    assert.ok((m.densify_norms.children() as nn.Module[]).every((n) => n instanceof nn.BatchNorm2d));
    assert.deepEqual(m.config(), {
      mask_ratio: 0.6, densify_norm_str: 'bn', sbn: false, hierarchy: 4, 'sparse_encoder.input_size': 224, 'dense_decoder.width': 768,
    });
    // reference init of the mask tokens: trunc_normal(std .02) cut at ±.02
    torch.tidy(() => {
      for (const t of m.mask_tokens.parameters()) {
        assert.ok(t.abs().maxAll().item() <= 0.02 && t.std().item() > 0.005, 'mask tokens are truncated normal in ±0.02');
      }
    });
    // state-dict order of the reference: encoder, decoder, densify norms, densify projections, mask tokens
    const prefixes = [...new Set([...m.stateDict().keys()].map((k) => k.split('.')[0]))];
    assert.deepEqual(prefixes, ['sparse_encoder', 'dense_decoder', 'densify_norms', 'densify_projs', 'mask_tokens']);
  } finally { disposeModule(m); }
});

test('the smallest-scale projection is the identity when the encoder width equals the decoder width (ln densify)', () => {
  // as convnext_small (last width 768) under the default decoder; a small ConvNeXt ending at 64 under width 64
  const enc = new ConvNeXt({ depths: [1, 1, 1, 1], dims: [8, 16, 32, 64], numClasses: 0, globalPool: '', skipInit: true });
  const m = new SparK(enc, { inputSize: 64, densifyNorm: 'ln', decoderWidth: 64 });
  try {
    assert.ok(m.densify_projs.at(0) instanceof nn.Identity);
    assert.ok((m.densify_norms.children() as nn.Module[]).every((n) => n instanceof ConvNeXtLayerNorm));
    // a channels-first LayerNorm has a weight and a bias per channel, like a BatchNorm
    assert.equal(m.numParameters(), enc.numParameters() + sparkExtraParams([8, 16, 32, 64], 64));
  } finally { disposeModule(m); }
});
