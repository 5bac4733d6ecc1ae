import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { readSafetensors, type RawTensor } from '../../src/torch/io/index.js';
import { repoRoot } from '../../src/data/demo.js';
import { Rng } from '../../src/data/rng.js';
import {
  TAW_OPS,
  applyTrivialAugmentOp,
  tawMagnitudes,
  sampleTrivialAugment,
  type TawOp,
} from '../../src/data/trivialaugment.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

// Made by test/fixtures/ft_data/gen.py: torchvision 0.14's _apply_op on Pillow 9.4 images.
const fx = readSafetensors(path.join(repoRoot(), 'test/fixtures/ft_data/taw.safetensors')).tensors;

function f64(t: RawTensor): number[] {
  return [...new Float64Array(t.data.buffer.slice(t.data.byteOffset, t.data.byteOffset + t.data.byteLength))];
}

test('magnitude tables equal torchvision TrivialAugmentWide._augmentation_space(31) (float32 linspace)', () => {
  const ref = (op: string): number[] => f64(fx.get(`taw.mag.${op}`)!);
  for (const op of ['ShearX', 'ShearY', 'Brightness', 'Color', 'Contrast', 'Sharpness', 'Rotate', 'Solarize', 'Posterize'] as const) {
    assert.deepEqual(tawMagnitudes(op).values, ref(op), op);
  }
  // translations are used as int(magnitude) pixels
  for (const op of ['TranslateX', 'TranslateY'] as const) {
    assert.deepEqual(tawMagnitudes(op).values!.map(Math.trunc), ref(op).map(Math.trunc), op);
  }
  for (const op of ['Identity', 'AutoContrast', 'Equalize'] as const) assert.equal(tawMagnitudes(op).values, null);
  // Posterize bins: the sampled magnitudes must be the table's values
  const rng = new Rng(0);
  const seen = new Map<TawOp, Set<number>>();
  for (let i = 0; i < 20000; i++) {
    const c = sampleTrivialAugment(rng);
    if (!seen.has(c.op)) seen.set(c.op, new Set());
    seen.get(c.op)!.add(c.magnitude);
  }
  assert.deepEqual([...seen.get('Posterize')!].sort((a, b) => a - b), [...new Set(ref('Posterize'))].sort((a, b) => a - b));
  // signed ops: both signs of every bin; unsigned: the table; 0-d ops: 0
  assert.equal(seen.get('Rotate')!.size, 61); // 30 nonzero bins × 2 signs + 0
  assert.deepEqual([...seen.get('Solarize')!].sort((a, b) => a - b), ref('Solarize').sort((a, b) => a - b));
  for (const op of ['Identity', 'AutoContrast', 'Equalize'] as const) assert.deepEqual([...seen.get(op)!], [0]);
  // every op is drawn, uniformly (20000/14 ≈ 1429 each)
  assert.equal(seen.size, TAW_OPS.length);
});

test('every op gives Pillow/torchvision bytes on real image crops', () => {
  let cases = 0;
  const failures: string[] = [];
  for (const crop of ['sq', 'wide']) {
    const input = fx.get(`taw.in.${crop}`)!;
    const [H, W] = input.shape as [number, number, number];
    const img = { width: W, height: H, data: input.data };
    for (const [name, t] of fx) {
      const m = /^taw\.(\w+)\.(\w+)\.(\d+)\.([pn])$/.exec(name);
      if (!m || m[1] !== crop) continue;
      const op = m[2] as TawOp;
      const table = f64(fx.get(`taw.mag.${op}`)!);
      const mag = (m[4] === 'n' ? -1 : 1) * (table.length === 1 ? 0 : table[Number(m[3])]!);
      const got = applyTrivialAugmentOp(img, op, mag);
      let diff = 0;
      let maxDiff = 0;
      for (let i = 0; i < got.length; i++) {
        const d = Math.abs(got[i]! - t.data[i]!);
        if (d) diff++;
        maxDiff = Math.max(maxDiff, d);
      }
      if (diff) failures.push(`${name} (magnitude ${mag}): ${diff}/${got.length} bytes differ, max ${maxDiff}`);
      cases++;
    }
  }
  assert.ok(cases > 80, `${cases} cases`);
  assert.deepEqual(failures, []);
});
