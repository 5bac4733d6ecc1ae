// The light hierarchical UNet-style decoder of the reference (decoder.py): width w, log2(32) = 5
// blocks halving the width; block i adds the i-th densified map (if any), then upsamples ×2.
import type { Tensor } from '../torch/index.js';
import { nn } from '../torch/index.js';

const { Module, Conv2d, ConvTranspose2d, BatchNorm2d, ReLU6, Sequential, ModuleList, init, consume } = nn;

export class UNetBlock extends Module<[Tensor], Tensor> {
  readonly up_sample: InstanceType<typeof ConvTranspose2d>;
  readonly conv: InstanceType<typeof Sequential>;
  constructor(cin: number, cout: number) {
    super();
    this.up_sample = this.registerModule('up_sample', new ConvTranspose2d(cin, cin, 4, { stride: 2, padding: 1, bias: true }));
    this.conv = this.registerModule('conv', new Sequential(
      new Conv2d(cin, cin, 3, { padding: 1, bias: false }), new BatchNorm2d(cin), new ReLU6(true),
      new Conv2d(cin, cout, 3, { padding: 1, bias: false }), new BatchNorm2d(cout),
    ));
  }
  /** The reference's up_sample then conv; each intermediate map is freed once the next layer has it. */
  forward(x: Tensor): Tensor {
    let y = this.up_sample.forward(x);
    for (const m of this.conv.children()) y = consume(y, (t) => m.forward(t) as Tensor);
    return y;
  }
}

export class LightDecoder extends Module<[(Tensor | null)[]], Tensor> {
  readonly dec: InstanceType<typeof ModuleList<UNetBlock>>;
  readonly proj: InstanceType<typeof Conv2d>;
  readonly channels: number[];
  constructor(upSampleRatio: number, readonly width = 768) {
    super();
    const n = Math.round(Math.log2(upSampleRatio));
    if (2 ** n !== upSampleRatio) throw new Error(`the decoder needs a power-of-2 downsample ratio, got ${upSampleRatio}`);
    if (width % 2 ** n) throw new Error(`decoder width ${width} must be divisible by ${2 ** n} (it halves ${n} times)`);
    this.channels = Array.from({ length: n + 1 }, (_, i) => Math.floor(width / 2 ** i));
    this.dec = this.registerModule('dec', new ModuleList<UNetBlock>(
      this.channels.slice(0, -1).map((cin, i) => new UNetBlock(cin, this.channels[i + 1]))));
    this.proj = this.registerModule('proj', new Conv2d(this.channels[n], 3, 1, { bias: true }));
    this.initialize();
  }

  /** The reference's initialize(): trunc-normal(.02) convs, kaiming-normal(fan_out, relu) transposed convs, BN 1/0. */
  private initialize(): void {
    for (const m of this.modules()) {
      if (m instanceof Conv2d) {
        init.truncNormal_(m.weight, { std: 0.02 });
        if (m.bias) init.constant_(m.bias, 0);
      } else if (m instanceof ConvTranspose2d) {
        init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
        if (m.bias) init.constant_(m.bias, 0);
      } else if (m instanceof BatchNorm2d) {
        init.constant_(m.bias!, 0);
        init.constant_(m.weight!, 1);
      }
    }
  }

  /** toDec: densified maps from the smallest to the largest (fewer than the blocks is fine). */
  forward(toDec: (Tensor | null)[]): Tensor {
    let x: Tensor | null = null;
    let ours = false;   // x is a map made here (freed once consumed), not the caller's toDec[0]
    this.dec.children().forEach((block, i) => {
      const d = toDec[i];
      if (d) {
        if (x === null) x = d;
        else { x = ours ? consume(x, (t) => t.add(d)) : x.add(d); ours = true; }
      }
      if (x === null) throw new Error('LightDecoder: the first densified map is missing');
      x = ours ? consume(x, (t) => (block as UNetBlock).forward(t)) : (block as UNetBlock).forward(x);
      ours = true;
    });
    return consume(x!, (t) => this.proj.forward(t));
  }
}
