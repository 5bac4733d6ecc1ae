// timm 0.5.4's SEModule (timm/models/layers/squeeze_excite.py), as create_attn('se', channels) builds
// it for the seresnet models: squeeze (mean over positions) → fc1 (1×1 conv with bias) → bn (Identity)
// → ReLU → fc2 → sigmoid gate → x · gate. Names fc1, bn, act, fc2, gate (only fc1 and fc2 hold state).
// Sparse (ctx with a mask): the squeeze averages visible positions only and the gated map is masked,
// so masked positions stay exactly 0; fc1/fc2 act on the pooled (N,C,1,1) vector, which has no
// positions, and get no context.
import type { Tensor } from '../torch/index.js';
import { nn, tidy } from '../torch/index.js';
import type { ForwardContext } from './contract.js';

/** timm's make_divisible (layers/helpers.py). */
export function makeDivisible(v: number, divisor = 8, minValue?: number, roundLimit = 0.9): number {
  const min = minValue || divisor;
  let out = Math.max(min, Math.floor((v + divisor / 2) / divisor) * divisor);
  if (out < roundLimit * v) out += divisor;
  return out;
}

export interface SEOptions {
  /** reduction ratio (default 1/16) */
  rdRatio?: number;
  /** reduction channels; default makeDivisible(channels · rdRatio, rdDivisor, round limit 0) */
  rdChannels?: number;
  rdDivisor?: number;
}

export class SEModule extends nn.Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  readonly fc1: nn.Conv2d;
  readonly bn: nn.Identity;
  readonly act: nn.ReLU;
  readonly fc2: nn.Conv2d;
  readonly gate: nn.Sigmoid;
  readonly rdChannels: number;

  constructor(readonly channels: number, o: SEOptions = {}) {
    super();
    this.rdChannels = o.rdChannels || makeDivisible(channels * (o.rdRatio ?? 1 / 16), o.rdDivisor ?? 8, undefined, 0);
    this.fc1 = this.registerModule('fc1', new nn.Conv2d(channels, this.rdChannels, 1, { bias: true }));
    this.bn = this.registerModule('bn', new nn.Identity());
    this.act = this.registerModule('act', new nn.ReLU(true));
    this.fc2 = this.registerModule('fc2', new nn.Conv2d(this.rdChannels, channels, 1, { bias: true }));
    this.gate = this.registerModule('gate', new nn.Sigmoid());
  }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const mask = ctx?.mask?.(x.size(2), x.size(3));
    return tidy(() => {
      const squeezed = mask ? nn.masked.maskedGlobalAvgPool(x, mask) : x.mean([2, 3], true);
      const s = this.fc2.forward(this.act.forward(this.bn.forward(this.fc1.forward(squeezed))));
      const y = x.mul(this.gate.forward(s));
      return mask ? y.mul_(mask) : y;
    });
  }
}
