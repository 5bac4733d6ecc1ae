// The official ConvNeXt layout as the reference SparK uses it (pretrain/models/convnext.py with the
// sparse-aware block and LayerNorm of pretrain/encoder.py): names downsample_layers.<i>.<j>,
// stages.<i>.<j>.{gamma,dwconv,norm,pwconv1,pwconv2}. Sparsity is not a constructor flag here: a
// forward with ctx.mask runs sparsely (the reference's sparse=True), one without runs densely, so one
// set of weights serves pretraining and fine-tuning. Without classes (pretraining) there is no head;
// with classes the head is the official ConvNeXt's that the reference fine-tunes
// (downstream_imagenet/models/convnext_official.py): final LayerNorm `norm` and Linear `head`,
// initialised with the rest and scaled by head_init_scale, so `*_1kfinetuned_*.pth` files load as-is.
import type { Tensor } from '../torch/index.js';
import * as torch from '../torch/index.js';
import { nn } from '../torch/index.js';
import type { Encoder, EncoderForwardOptions, ForwardContext } from './contract.js';
import { convnextLayerIdRule, type HasLayerIds, type LayerIdAndScaleExp } from './layer_decay.js';

export type ConvNeXtDataFormat = 'channels_last' | 'channels_first';

/**
 * The reference's SparseConvNeXtLayerNorm: LayerNorm over channels for (N,H,W,C) (channels_last) or
 * (N,C,H,W) (channels_first) maps, and over the last dim for (N,C). With ctx.mask on a 4-D map the
 * statistics are those of each visible position and masked positions come out exactly 0.
 */
export class ConvNeXtLayerNorm extends nn.LayerNorm {
  readonly dataFormat: ConvNeXtDataFormat;
  constructor(normalizedShape: number, o: { eps?: number; dataFormat?: ConvNeXtDataFormat } = {}) {
    const f = o.dataFormat ?? 'channels_last';
    // checked before super() allocates the affine parameters, so a bad call leaks nothing
    if (f !== 'channels_last' && f !== 'channels_first') {
      throw new Error(`ConvNeXtLayerNorm: dataFormat must be 'channels_last' or 'channels_first', got ${JSON.stringify(f)}`);
    }
    super(normalizedShape, o.eps ?? 1e-6, true);
    this.dataFormat = f;
  }

  override forward(x: Tensor, ctx?: ForwardContext): Tensor {
    // channels_last (and 2-D input) is nn.LayerNorm's own case, sparse (N,H,W,C) included
    if (this.dataFormat === 'channels_last' || x.ndim !== 4) return super.forward(x, ctx);
    if (ctx?.mask) return nn.sparseNormalize(x, ctx.mask(x.size(2), x.size(3)), (rows) => this.normalize(rows));
    // the reference's dense channels_first formula, spelled out as it is (biased variance, eps
    // inside the sqrt) so the numbers follow it op for op
    const u = x.mean([1], true);
    const d = x.sub(u);
    const s = d.pow(2).mean([1], true);
    const n = d.div(s.add(this.eps).sqrt());
    return this.weight!.view([-1, 1, 1]).mul(n).add(this.bias!.view([-1, 1, 1]));
  }
}

/**
 * dwconv 7×7 → (N,H,W,C) → LN → Linear 4× → GELU → Linear → layer scale → (N,C,H,W) → [× mask] →
 * residual + drop path. Sparse: the branch is masked after layer scale, before the residual add (the
 * Linear biases make masked positions non-zero until then).
 */
export class ConvNeXtBlock extends nn.Module<[Tensor, ForwardContext?], Tensor> {
  readonly dwconv: nn.Conv2d;
  readonly norm: ConvNeXtLayerNorm;
  readonly pwconv1: nn.Linear;
  readonly act: nn.GELU;
  readonly pwconv2: nn.Linear;
  readonly gamma: Tensor | null;
  readonly dropPath: nn.DropPath | nn.Identity;

  constructor(dim: number, o: { dropPath?: number; layerScaleInitValue?: number; kernelSize?: number } = {}) {
    super();
    const ks = o.kernelSize ?? 7;
    const ls = o.layerScaleInitValue ?? 1e-6;
    this.dwconv = this.registerModule('dwconv', new nn.Conv2d(dim, dim, ks, { padding: Math.floor(ks / 2), groups: dim }));
    this.norm = this.registerModule('norm', new ConvNeXtLayerNorm(dim, { eps: 1e-6 }));
    this.pwconv1 = this.registerModule('pwconv1', new nn.Linear(dim, 4 * dim));
    this.act = this.registerModule('act', new nn.GELU());
    this.pwconv2 = this.registerModule('pwconv2', new nn.Linear(4 * dim, dim));
    // float32(1e-6) exactly as `layer_scale_init_value * torch.ones(dim)` gives it
    this.gamma = this.registerParameter('gamma', ls > 0 ? torch.full([dim], ls) : null);
    const dp = o.dropPath ?? 0;
    this.dropPath = this.registerModule('drop_path', dp > 0 ? new nn.DropPath(dp) : new nn.Identity());
  }

  /**
   * Each intermediate map is freed as soon as the next op has it, as Python frees them (autograd keeps
   * its own references to what backward needs): held to the end of the step they could not be reused,
   * and fresh memory costs page faults (and peak memory).
   */
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    const { consume } = nn;
    let y = consume(this.dwconv.forward(x, ctx), (t) => t.permute([0, 2, 3, 1]));
    y = consume(y, (t) => this.norm.forward(t, ctx));
    y = consume(y, (t) => this.pwconv1.forward(t));
    y = consume(y, (t) => this.act.forward(t));
    y = consume(y, (t) => this.pwconv2.forward(t));
    if (this.gamma) y = consume(y, (t) => t.mul(this.gamma!));
    // in place, as the reference's `x *= mask`: y is fresh and no backward needs it (mul and Linear
    // save their inputs), so no second map is allocated
    y = consume(y, (t) => nn.maskOutput_(t.permute([0, 3, 1, 2]), ctx));
    y = consume(y, (t) => this.dropPath.forward(t));
    return consume(y, (t) => x.add(t));
  }
}

export interface ConvNeXtOptions {
  /** Blocks per stage. Default [3, 3, 9, 3] (ConvNeXt-T). */
  depths?: number[];
  /** Stage widths. Default [96, 192, 384, 768]. */
  dims?: number[];
  inChans?: number;
  /** Classifier outputs; 0 = no head (norm and head are Identity, as the reference's encoder). Default 1000. */
  numClasses?: number;
  /** Stochastic depth: linspace(0, rate, total blocks) over the blocks. */
  dropPathRate?: number;
  /** Initial layer scale (gamma); ≤ 0 = no layer scale. Default 1e-6. */
  layerScaleInitValue?: number;
  /** The official ConvNeXt's head_init_scale: the initial head weight and bias are multiplied by it. Default 1. */
  headInitScale?: number;
  /** Accepted for timm-style calls and ignored, as in the reference: the head always averages. */
  globalPool?: 'avg' | '';
  /**
   * Skip the truncated-normal init (layers keep PyTorch's default init; it is the slow part of
   * building a large ConvNeXt): for a model whose weights a checkpoint will overwrite anyway.
   */
  skipInit?: boolean;
}

function checkPositiveInts(v: unknown, what: string): void {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new Error(`ConvNeXt: ${what} must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
  }
}

/** torch.linspace(0, end, steps) in float32, read back as numbers (the reference's dp_rates). */
export function convnextDropPathRates(end: number, steps: number): number[] {
  if (steps === 0) return [];
  return torch.tidy(() => Array.from(torch.linspace(0, end, steps).toTypedArray() as Float32Array));
}

export class ConvNeXt extends nn.Module<[Tensor, EncoderForwardOptions?], Tensor | Tensor[]> implements Encoder, HasLayerIds {
  /** Stem ×4, then ×2 per downsampling layer (32 for 4 stages; the reference's get_downsample_ratio). */
  readonly downsampleRatio: number;
  /** The stage widths (the reference's get_feature_map_channels = dims). */
  readonly featureChannels: number[];
  readonly depths: number[];
  readonly numClasses: number;
  readonly dropPathRate: number;
  readonly layerScaleInitValue: number;
  readonly downsample_layers: nn.ModuleList<nn.Sequential>;
  readonly stages: nn.ModuleList<nn.Sequential>;
  /** The final norm before the classifier (official ConvNeXt: nn.LayerNorm over channels). */
  readonly norm: ConvNeXtLayerNorm | nn.Identity;
  /** The classifier (official ConvNeXt's `head`). */
  readonly head: nn.Linear | nn.Identity;

  constructor(o: ConvNeXtOptions = {}) {
    super();
    const depths = o.depths ?? [3, 3, 9, 3];
    const dims = o.dims ?? [96, 192, 384, 768];
    checkPositiveInts(depths, 'depths (blocks per stage)');
    checkPositiveInts(dims, 'dims (stage widths)');
    if (depths.length !== dims.length) {
      throw new Error(`ConvNeXt: depths has ${depths.length} stages but dims has ${dims.length}; give one width per stage`);
    }
    const inChans = o.inChans ?? 3;
    this.numClasses = o.numClasses ?? 1000;
    this.dropPathRate = o.dropPathRate ?? 0;
    this.layerScaleInitValue = o.layerScaleInitValue ?? 1e-6;
    this.depths = [...depths];
    this.featureChannels = [...dims];
    this.downsampleRatio = 4 * 2 ** (dims.length - 1);

    // stem, then one (LN, 2×2 stride-2 conv) between consecutive stages
    this.downsample_layers = this.registerModule('downsample_layers', new nn.ModuleList<nn.Sequential>());
    this.downsample_layers.append(new nn.Sequential(
      new nn.Conv2d(inChans, dims[0], 4, { stride: 4 }),
      new ConvNeXtLayerNorm(dims[0], { eps: 1e-6, dataFormat: 'channels_first' }),
    ));
    for (let i = 0; i + 1 < dims.length; i++) {
      this.downsample_layers.append(new nn.Sequential(
        new ConvNeXtLayerNorm(dims[i], { eps: 1e-6, dataFormat: 'channels_first' }),
        new nn.Conv2d(dims[i], dims[i + 1], 2, { stride: 2 }),
      ));
    }

    this.stages = this.registerModule('stages', new nn.ModuleList<nn.Sequential>());
    const rates = convnextDropPathRates(this.dropPathRate, depths.reduce((a, b) => a + b, 0));
    let cur = 0;
    dims.forEach((dim, i) => {
      const blocks = Array.from({ length: depths[i] }, (_, j) =>
        new ConvNeXtBlock(dim, { dropPath: rates[cur + j], layerScaleInitValue: this.layerScaleInitValue }));
      this.stages.append(new nn.Sequential(...blocks));
      cur += depths[i];
    });

    // The official ConvNeXt builds norm and head before `self.apply(self._init_weights)`, so the head
    // gets the truncated-normal init too (then × head_init_scale). Convs and Linears are leaves, so
    // pre-order equals PyTorch's post-order apply(), and the RNG draws come in the reference's order.
    const last = dims[dims.length - 1];
    if (this.numClasses > 0) {
      this.norm = this.registerModule('norm', new ConvNeXtLayerNorm(last, { eps: 1e-6 }));
      this.head = this.registerModule('head', new nn.Linear(last, this.numClasses));
    } else {
      this.norm = this.registerModule('norm', new nn.Identity());
      this.head = this.registerModule('head', new nn.Identity());
    }
    for (const [, m] of o.skipInit ? [] : this.namedModules()) {
      if (m instanceof nn.Conv2d || m instanceof nn.Linear) {
        nn.init.truncNormal_(m.weight, { std: 0.02 });
        nn.init.constant_(m.bias!, 0);
      }
    }
    const his = o.headInitScale ?? 1;
    if (this.head instanceof nn.Linear && his !== 1) {
      const h = this.head;
      torch.noGrad(() => { h.weight.mul_(his); h.bias!.mul_(his); });
    }
  }

  /** convnext_get_layer_id_and_scale_exp (layer-wise lr decay; see layer_decay.ts). */
  layerIdAndScaleExp(paramName: string): LayerIdAndScaleExp {
    return convnextLayerIdRule(this.depths)(paramName);
  }

  /** Every block, in order. */
  blocks(): ConvNeXtBlock[] {
    return [...this.stages].flatMap((s) => s.children() as ConvNeXtBlock[]);
  }

  override forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  override forward(x: Tensor, opts?: { hierarchical?: false; ctx?: ForwardContext }): Tensor;
  override forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
  override forward(x: Tensor, opts: EncoderForwardOptions = {}): Tensor | Tensor[] {
    const ctx = opts.ctx;
    if (x.ndim !== 4) throw new Error(`ConvNeXt.forward: expected an (N, C, H, W) image batch, got shape [${x.shape}]`);
    const maps: Tensor[] = [];
    for (let i = 0; i < this.stages.length; i++) {
      x = this.downsample_layers.at(i).forward(x, ctx);
      x = this.stages.at(i).forward(x, ctx);
      maps.push(x);
    }
    if (opts.hierarchical) return maps;
    // The official ConvNeXt head: global average → LN → Linear. (The reference's pretrain-only copy
    // skips the stages on this path; it never uses it, and a classifier needs the features.)
    return this.head.forward(this.norm.forward(x.mean([-2, -1])));
  }

  /** The stage outputs, shallow to deep (forward with hierarchical: true). */
  features(x: Tensor, ctx?: ForwardContext): Tensor[] {
    return this.forward(x, { hierarchical: true, ctx });
  }
}

/** The reference's registered ConvNeXts. */
export const CONVNEXT_ARCHS = {
  convnext_tiny: { depths: [3, 3, 9, 3], dims: [96, 192, 384, 768] },
  convnext_small: { depths: [3, 3, 27, 3], dims: [96, 192, 384, 768] },
  convnext_base: { depths: [3, 3, 27, 3], dims: [128, 256, 512, 1024] },
  convnext_large: { depths: [3, 3, 27, 3], dims: [192, 384, 768, 1536] },
} as const satisfies Record<string, { depths: readonly number[]; dims: readonly number[] }>;
