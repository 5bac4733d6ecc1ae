// sparkts's resnet8 (the transfer experiment's network, docs/transfer.md): its one registry record
// builds the small-image ResNet (3×3 stride-2 stem, no max pool, stages of 16/32/64 at 16/8/4 px for a
// 32-px input, downsample ratio 8), `spark pretrain` takes it at 32 px (and refuses 28 px, naming the
// ratio), and `spark finetune` starts from the SparK checkpoint it wrote — all at tiny sizes.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import * as torch from '../../src/torch/index.js';
import { nn } from '../../src/torch/index.js';
import { modelRecord, createClassifier, createPretrainEncoder, finetuneDefaults, ResNet } from '../../src/models/index.js';
import { pretrain } from '../../src/train/pretrain.js';
import { finetune } from '../../src/train/finetune.js';
import { checkNoLeaks } from '../helpers.js';
import { tempDir, writeImage, rmrf } from '../data/fixtures.js';
import { photoDataset } from '../train/ft_support.js';

checkNoLeaks();

const threads = torch.getNumThreads();
let root = '';
before(() => { root = tempDir('sparkts-resnet8-'); });
after(() => { torch.setNumThreads(threads); rmrf(root); });

function sink(): Writable & { text: string } {
  const w = new Writable({ write(chunk, _enc, cb) { w.text += String(chunk); cb(); } }) as Writable & { text: string };
  w.text = '';
  return w;
}

test('the resnet8 record: small stem, three stages, maps at 16/8/4 px for 32-px input, downsample ratio 8', () => {
  const r = modelRecord('resnet8');
  assert.equal(r.family, 'resnet');
  assert.equal(r.downsampleRatio, 8);
  assert.deepEqual([r.pretrain.densifyNorm, r.pretrain.adamBeta2, r.pretrain.dropPathRate], ['bn', 0.95, 0]);
  assert.match(finetuneDefaults('resnet8').source, /^sparkts: /);
  const enc = createPretrainEncoder('resnet8');
  try {
    assert.ok(enc instanceof ResNet);
    assert.equal(enc.downsampleRatio, 8);
    assert.deepEqual(enc.featureChannels, [16, 32, 64]);
    assert.ok(enc.maxpool instanceof nn.Identity);
    assert.deepEqual(enc.conv1.weight.shape, [16, 3, 3, 3]);
    const maps = torch.tidy(() => enc.forward(torch.randn([2, 3, 32, 32]), { hierarchical: true }).map((m) => m.shape));
    assert.deepEqual(maps, [[2, 16, 16, 16], [2, 32, 8, 8], [2, 64, 4, 4]]);
    // the layer-id rule: one id per stage (stem 0, stages 1-3, head 4)
    assert.deepEqual(['conv1.weight', 'layer1.0.conv1.weight', 'layer3.0.bn2.bias', 'fc.weight'].map((n) => r.layerIdRule(n)[0]), [0, 1, 3, 4]);
  } finally { enc.dispose(); }
  const clf = createClassifier('resnet8', { numClasses: 10 });
  try {
    const y = torch.tidy(() => (clf.forward(torch.randn([2, 3, 32, 32])) as torch.Tensor).shape);
    assert.deepEqual(y, [2, 10]);
  } finally { clf.dispose(); }
});

test('spark pretrain takes resnet8 at 32 px (not 28), and spark finetune starts from its checkpoint', async () => {
  const data = path.join(root, 'unlabelled');
  fs.mkdirSync(data);
  for (let k = 0; k < 4; k++) await writeImage(path.join(data, `img${k}.png`), 28, 28, k);
  const base = {
    model: 'resnet8', mask: 0.6, bs: 2, baseLr: 0.01, wd: 0.04, wde: 0.2, ep: 2, wpEp: 0.5, clip: 5, opt: 'lamb' as const, ada: 0, dp: 0,
    decoderWidth: 32, initWeight: '', resumeFrom: '', seed: 0, threads: 1, device: 'cpu', workers: 0, visEvery: 1, visImages: 2,
    safetensors: false, maxIters: 0, cmd: 'test', dataPath: data,
  };
  await assert.rejects(pretrain({ ...base, inputSize: 28, expDir: path.join(root, 'pt28'), stdout: sink() }),
    /--input_size 28 is not a multiple of resnet8's downsample ratio 8; use e\.g\. 32/);
  const pt = await pretrain({ ...base, inputSize: 32, expDir: path.join(root, 'pt'), stdout: sink() });
  assert.equal(pt.iters, 4);
  assert.ok(pt.losses.every(([, l]) => Number.isFinite(l)));
  assert.ok(fs.existsSync(pt.sparkStylePath));

  const labelled = await photoDataset(path.join(root, 'labelled'), { classes: 2, trainPerClass: 2, side: 28 });
  const out = sink();
  const ft = await finetune({
    dataPath: labelled, model: 'resnet8', resumeFrom: pt.sparkStylePath, expDir: path.join(root, 'ft'), imgSize: 32,
    bs: 2, ep: 1, wpEp: 0, threads: 1, workers: 0, seed: 0, stdout: out,
  });
  assert.match(out.text, /took the encoder \(sparse_encoder\.sp_cnn\.\*\) of the SparK pretraining checkpoint/);
  assert.match(out.text, /missing_keys=\['fc\.weight', 'fc\.bias'\]/);
  assert.match(out.text, /unexpected_keys=\[\]/);
  assert.deepEqual([ft.iters, ft.numClasses, ft.epochs], [2, 2, 1]);
  assert.ok(Number.isFinite(ft.lastAcc) && fs.existsSync(ft.files.last));
});
