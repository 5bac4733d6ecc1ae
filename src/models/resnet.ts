// timm 0.5.4's ResNet (the layout of the reference's pretrained weights): the plain 7×7 stem, BasicBlock
// and Bottleneck, stochastic depth spread linearly over blocks, timm's init — with exactly timm's
// parameter names and registration order, so state dicts load both ways without renaming. The
// reference's additions are here too: the hierarchical forward (the four stage outputs) and the
// encoder contract (downsample ratio 32, stage widths). Every layer call passes the ForwardContext on,
// which is all sparse (masked) execution needs: the layers themselves mask and normalise sparsely.
import type { Tensor } from '../torch/index.js';
import { nn, dropout } from '../torch/index.js';
import type { Encoder, EncoderForwardOptions, ForwardContext } from './contract.js';
import { resnetLayerIdRule, type HasLayerIds, type LayerIdAndScaleExp } from './layer_decay.js';
import { SEModule } from './squeeze_excite.js';

export type ResNetBlockKind = 'basic' | 'bottleneck';
/** timm's SelectAdaptivePool2d types that this port supports; '' = no pooling (only without a classifier). */
export type GlobalPoolType = 'avg' | 'max' | '';
/** timm's norm_layer: nn.BatchNorm2d, or timm's GroupNorm (layers/norm.py: GroupNorm(num_groups=32)). */
export type ResNetNorm = 'bn' | 'gn';
/** timm's block_args attn_layer: 'se' = create_attn('se') = SEModule after the last norm of each block. */
export type ResNetAttn = 'se' | null;
/** The norm layers a ResNet may hold (same state-dict names: weight, bias, and BN's running statistics). */
export type Norm2d = nn.BatchNorm2d | nn.GroupNorm;

export interface ResNetOptions {
  block: ResNetBlockKind;
  /** Blocks per stage, e.g. [3, 4, 6, 3] for ResNet-50. */
  layers: number[];
  /** Stage widths (planes; a Bottleneck stage outputs 4×). timm hard-codes [64, 128, 256, 512]. */
  channels?: number[];
  /** Width of the stem conv. timm hard-codes 64 for its 7×7 stem. */
  stemWidth?: number;
  /**
   * 'timm' (default): timm's 7×7 stride-2 conv + 3×3 stride-2 max pool (×4). 'small': one 3×3 stride-2
   * conv and no pooling (×2), for small images (sparkts's resnet8): at 32 px it keeps a 16×16 map for
   * the first stage where timm's stem would leave 8×8.
   */
  stem?: 'timm' | 'small';
  inChans?: number;
  /** Classifier outputs; 0 = no classifier (fc is an Identity). Default 1000. */
  numClasses?: number;
  /** Default 'avg'. '' (no pooling) needs numClasses = 0, as in timm. */
  globalPool?: GlobalPoolType;
  /** Dropout before the classifier (timm's drop_rate). */
  dropRate?: number;
  /** Stochastic depth, rising linearly from 0 at the first block to this at the last. */
  dropPathRate?: number;
  /** ResNeXt grouping of the Bottleneck 3×3 conv (timm's cardinality / base_width). */
  cardinality?: number;
  baseWidth?: number;
  /** Zero the last BN weight of every block, so each residual branch starts as identity (timm: true). */
  zeroInitLastBn?: boolean;
  /**
   * Skip timm's init_weights (layers keep PyTorch's default init): for a model whose weights a
   * checkpoint will overwrite anyway.
   */
  skipInit?: boolean;
  /** The norm layer everywhere (stem, blocks, shortcuts): 'bn' (default) or 'gn' (timm's resnet50_gn). */
  norm?: ResNetNorm;
  /** Groups of the 'gn' norm (timm's GroupNorm default 32). */
  gnGroups?: number;
  /** Attention in every block: 'se' (timm's seresnet*) or null (default). */
  attnLayer?: ResNetAttn;
}

/** What a block needs to build its norms and attention. */
export interface BlockLayers {
  norm: (channels: number) => Norm2d;
  attnLayer: ResNetAttn;
}
const BN_LAYERS: BlockLayers = { norm: (c) => new nn.BatchNorm2d(c), attnLayer: null };

/** The norm factory of a ResNet's options (checked: GroupNorm's groups must divide every width). */
export function resnetNorm(norm: ResNetNorm = 'bn', gnGroups = 32): (channels: number) => Norm2d {
  if (norm === 'bn') return (c) => new nn.BatchNorm2d(c);
  if (norm !== 'gn') throw new Error(`ResNet: norm must be 'bn' or 'gn', got ${JSON.stringify(norm)}`);
  return (c) => new nn.GroupNorm(gnGroups, c);
}

const { consume } = nn;

/** downsample (1×1 conv, BN) on the block input, freeing the conv output once normalised. */
function shortcutOf(downsample: nn.Sequential | null, x: Tensor, ctx?: ForwardContext): Tensor {
  if (!downsample) return x;
  let y = x;
  for (const m of downsample.children()) y = y === x ? m.forward(y, ctx) as Tensor : consume(y, (t) => m.forward(t, ctx) as Tensor);
  return y;
}

/** The end of both blocks, as timm: drop path, `x += shortcut` in place, then the last activation. */
function residualTail(block: { dropPath: nn.DropPath | null; downsample: nn.Sequential | null }, y: Tensor, x: Tensor,
  ctx: ForwardContext | undefined, act: nn.ReLU): Tensor {
  if (block.dropPath) y = consume(y, (t) => block.dropPath!.forward(t));
  const shortcut = shortcutOf(block.downsample, x, ctx);
  y.add_(shortcut);
  if (shortcut !== x) shortcut.dispose();
  return act.forward(y);
}

/** The residual blocks' common surface. */
export interface ResNetBlock extends nn.Module {
  forward(x: Tensor, ctx?: ForwardContext): Tensor;
  zeroInitLastBn(): void;
  readonly dropPath: nn.DropPath | null;
}

export class BasicBlock extends nn.Module<[Tensor, ForwardContext?], Tensor> implements ResNetBlock {
  static override readonly sparseAware = true;
  static readonly expansion = 1;
  readonly conv1: nn.Conv2d;
  readonly bn1: Norm2d;
  readonly act1: nn.ReLU;
  readonly conv2: nn.Conv2d;
  readonly bn2: Norm2d;
  readonly se: SEModule | null;
  readonly act2: nn.ReLU;
  readonly downsample: nn.Sequential | null;
  readonly dropPath: nn.DropPath | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: nn.Sequential | null = null,
    o: { cardinality?: number; baseWidth?: number; dropPath?: number; layers?: BlockLayers } = {}) {
    super();
    const { norm, attnLayer } = o.layers ?? BN_LAYERS;
    if ((o.cardinality ?? 1) !== 1 || (o.baseWidth ?? 64) !== 64) {
      throw new Error('BasicBlock supports only cardinality 1 and baseWidth 64 (use the bottleneck block for ResNeXt)');
    }
    const outplanes = planes * BasicBlock.expansion;
    // registration order = timm's __init__ order = state-dict order
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inplanes, planes, 3, { stride, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', norm(planes));
    this.act1 = this.registerModule('act1', new nn.ReLU(true));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(planes, outplanes, 3, { padding: 1, bias: false }));
    this.bn2 = this.registerModule('bn2', norm(outplanes));
    this.se = attnLayer === 'se' ? this.registerModule('se', new SEModule(outplanes)) : null;
    this.act2 = this.registerModule('act2', new nn.ReLU(true));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
    this.dropPath = o.dropPath ? this.registerModule('drop_path', new nn.DropPath(o.dropPath)) : null;
  }

  zeroInitLastBn(): void { nn.init.zeros_(this.bn2.weight!); }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    // timm: ReLU(inplace=True), `x += shortcut`; intermediates freed as they are consumed
    let y = consume(this.conv1.forward(x, ctx), (t) => this.bn1.forward(t, ctx));
    y = this.act1.forward(y);
    y = consume(y, (t) => this.conv2.forward(t, ctx));
    y = consume(y, (t) => this.bn2.forward(t, ctx));
    if (this.se) y = consume(y, (t) => this.se!.forward(t, ctx));
    return residualTail(this, y, x, ctx, this.act2);
  }
}

export class Bottleneck extends nn.Module<[Tensor, ForwardContext?], Tensor> implements ResNetBlock {
  static override readonly sparseAware = true;
  static readonly expansion = 4;
  readonly conv1: nn.Conv2d;
  readonly bn1: Norm2d;
  readonly act1: nn.ReLU;
  readonly conv2: nn.Conv2d;
  readonly bn2: Norm2d;
  readonly act2: nn.ReLU;
  readonly conv3: nn.Conv2d;
  readonly bn3: Norm2d;
  readonly se: SEModule | null;
  readonly act3: nn.ReLU;
  readonly downsample: nn.Sequential | null;
  readonly dropPath: nn.DropPath | null;

  constructor(inplanes: number, planes: number, stride = 1, downsample: nn.Sequential | null = null,
    o: { cardinality?: number; baseWidth?: number; dropPath?: number; layers?: BlockLayers } = {}) {
    super();
    const { norm, attnLayer } = o.layers ?? BN_LAYERS;
    const cardinality = o.cardinality ?? 1;
    const width = Math.floor(planes * ((o.baseWidth ?? 64) / 64)) * cardinality;
    const outplanes = planes * Bottleneck.expansion;
    this.conv1 = this.registerModule('conv1', new nn.Conv2d(inplanes, width, 1, { bias: false }));
    this.bn1 = this.registerModule('bn1', norm(width));
    this.act1 = this.registerModule('act1', new nn.ReLU(true));
    this.conv2 = this.registerModule('conv2', new nn.Conv2d(width, width, 3, { stride, padding: 1, groups: cardinality, bias: false }));
    this.bn2 = this.registerModule('bn2', norm(width));
    this.act2 = this.registerModule('act2', new nn.ReLU(true));
    this.conv3 = this.registerModule('conv3', new nn.Conv2d(width, outplanes, 1, { bias: false }));
    this.bn3 = this.registerModule('bn3', norm(outplanes));
    this.se = attnLayer === 'se' ? this.registerModule('se', new SEModule(outplanes)) : null;
    this.act3 = this.registerModule('act3', new nn.ReLU(true));
    this.downsample = downsample ? this.registerModule('downsample', downsample) : null;
    this.dropPath = o.dropPath ? this.registerModule('drop_path', new nn.DropPath(o.dropPath)) : null;
  }

  zeroInitLastBn(): void { nn.init.zeros_(this.bn3.weight!); }

  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    // timm: ReLU(inplace=True), `x += shortcut`; intermediates freed as they are consumed
    let y = consume(this.conv1.forward(x, ctx), (t) => this.bn1.forward(t, ctx));
    y = this.act1.forward(y);
    y = consume(y, (t) => this.conv2.forward(t, ctx));
    y = consume(y, (t) => this.bn2.forward(t, ctx));
    y = this.act2.forward(y);
    y = consume(y, (t) => this.conv3.forward(t, ctx));
    y = consume(y, (t) => this.bn3.forward(t, ctx));
    if (this.se) y = consume(y, (t) => this.se!.forward(t, ctx));
    return residualTail(this, y, x, ctx, this.act3);
  }
}

/**
 * timm's SelectAdaptivePool2d for the pool types supported here (no parameters, so no state). Sparse:
 * the average or max of the visible positions (an all-masked sample pools to 0; see nn.masked).
 */
export class SelectAdaptivePool2d extends nn.Module<[Tensor, ForwardContext?], Tensor> {
  static override readonly sparseAware = true;
  constructor(readonly poolType: GlobalPoolType = 'avg', readonly flatten = true) { super(); }
  forward(x: Tensor, ctx?: ForwardContext): Tensor {
    if (this.poolType === '') return ctx?.mask ? nn.maskOutput(x, ctx) : x;
    const mask = ctx?.mask?.(x.size(2), x.size(3));
    const pooled = mask ? (this.poolType === 'avg' ? nn.masked.maskedGlobalAvgPool(x, mask) : nn.masked.maskedGlobalMaxPool(x, mask))
      : this.poolType === 'avg' ? x.adaptiveAvgPool2d([1, 1]) : x.amax([-2, -1], true);
    return this.flatten ? pooled.flatten(1) : pooled;
  }
}

/** Stochastic-depth rate of block `i` of `n` (timm 0.5.4 make_blocks: linear from 0 to `rate`). */
export function resnetDropPathRate(rate: number, i: number, n: number): number {
  // timm divides by (n - 1), which is 0 for a one-block net; such a net has only block 0 (rate 0)
  return n > 1 ? rate * i / (n - 1) : 0;
}

function checkPositiveInts(v: unknown, what: string): void {
  if (!Array.isArray(v) || v.length === 0 || v.some((x) => !Number.isInteger(x) || x < 1)) {
    throw new Error(`ResNet: ${what} must be a non-empty array of positive integers, got ${JSON.stringify(v)}`);
  }
}

export class ResNet extends nn.Module<[Tensor, EncoderForwardOptions?], Tensor | Tensor[]> implements Encoder, HasLayerIds {
  static override readonly sparseAware = true;
  /** The reference's get_downsample_ratio: stem ×4 (×2 for the 'small' stem), then ×2 per stage after the first (32 for 4 stages). */
  readonly downsampleRatio: number;
  /** The reference's get_feature_map_channels: each stage's output width. */
  readonly featureChannels: number[];
  /** Width of the last stage (timm's num_features): the classifier's input. */
  readonly numFeatures: number;
  numClasses: number;
  readonly dropRate: number;
  readonly blockKind: ResNetBlockKind;
  readonly conv1: nn.Conv2d;
  readonly bn1: Norm2d;
  readonly act1: nn.ReLU;
  /** timm's stem max pool; Identity for the 'small' stem */
  readonly maxpool: nn.MaxPool2d | nn.Identity;
  /** layer1, layer2, … */
  readonly stages: nn.Sequential[] = [];
  globalPool: SelectAdaptivePool2d;
  fc: nn.Linear | nn.Identity;

  constructor(o: ResNetOptions) {
    super();
    if (o.block !== 'basic' && o.block !== 'bottleneck') {
      throw new Error(`ResNet: block must be 'basic' or 'bottleneck', got ${JSON.stringify(o.block)}`);
    }
    const channels = o.channels ?? [64, 128, 256, 512];
    checkPositiveInts(o.layers, 'layers (blocks per stage)');
    checkPositiveInts(channels, 'channels (stage widths)');
    if (channels.length !== o.layers.length) {
      throw new Error(`ResNet: layers has ${o.layers.length} stages but channels has ${channels.length}; give one width per stage`);
    }
    const numClasses = o.numClasses ?? 1000;
    const globalPool = o.globalPool ?? 'avg';
    if (!['avg', 'max', ''].includes(globalPool)) throw new Error(`ResNet: globalPool must be 'avg', 'max' or '', got ${JSON.stringify(globalPool)}`);
    if (globalPool === '' && numClasses > 0) {
      throw new Error(`ResNet: globalPool '' (no pooling) needs numClasses 0 (got ${numClasses}), as in timm`);
    }
    if (o.block === 'basic' && ((o.cardinality ?? 1) !== 1 || (o.baseWidth ?? 64) !== 64)) {
      // checked before any tensor is allocated, so a bad config leaks nothing
      throw new Error('ResNet: the basic block supports only cardinality 1 and baseWidth 64 (use the bottleneck block for ResNeXt)');
    }
    const Block = o.block === 'basic' ? BasicBlock : Bottleneck;
    const norm = resnetNorm(o.norm, o.gnGroups);
    if (o.attnLayer !== undefined && o.attnLayer !== null && o.attnLayer !== 'se') {
      throw new Error(`ResNet: attnLayer must be 'se' or null, got ${JSON.stringify(o.attnLayer)}`);
    }
    if (o.norm === 'gn') {
      const g = o.gnGroups ?? 32;
      const widths = [o.stemWidth ?? 64, ...channels.flatMap((p) => {
        const w = Math.floor(p * ((o.baseWidth ?? 64) / 64)) * (o.cardinality ?? 1);
        return [w, p * Block.expansion];
      })];
      const bad = widths.find((c) => c % g);
      if (bad !== undefined) throw new Error(`ResNet: GroupNorm with ${g} groups needs every norm width divisible by ${g}, but one is ${bad}; set gnGroups`);
    }
    const blockLayers: BlockLayers = { norm, attnLayer: o.attnLayer ?? null };
    const stemWidth = o.stemWidth ?? 64;
    const stem = o.stem ?? 'timm';
    if (stem !== 'timm' && stem !== 'small') throw new Error(`ResNet: stem must be 'timm' or 'small', got ${JSON.stringify(o.stem)}`);
    const inChans = o.inChans ?? 3;
    this.blockKind = o.block;
    this.numClasses = numClasses;
    this.dropRate = o.dropRate ?? 0;

    // Construction order matters beyond the names: each layer's default init draws from the RNG,
    // so building in timm's order (stem, then per stage the downsample before its blocks, then fc)
    // makes a seeded model reproduce timm's weights.
    this.conv1 = this.registerModule('conv1', stem === 'timm'
      ? new nn.Conv2d(inChans, stemWidth, 7, { stride: 2, padding: 3, bias: false })
      : new nn.Conv2d(inChans, stemWidth, 3, { stride: 2, padding: 1, bias: false }));
    this.bn1 = this.registerModule('bn1', norm(stemWidth));
    this.act1 = this.registerModule('act1', new nn.ReLU(true));
    this.maxpool = this.registerModule('maxpool', stem === 'timm' ? new nn.MaxPool2d(3, { stride: 2, padding: 1 }) : new nn.Identity());

    // timm's make_blocks (output_stride 32: no dilation; down_kernel_size 1: plain 1×1 conv shortcut)
    const numBlocks = o.layers.reduce((a, b) => a + b, 0);
    const rate = o.dropPathRate ?? 0;
    let inplanes = stemWidth;
    let blockIdx = 0;
    this.featureChannels = [];
    channels.forEach((planes, s) => {
      const stride = s === 0 ? 1 : 2;
      const outplanes = planes * Block.expansion;
      let downsample: nn.Sequential | null = null;
      if (stride !== 1 || inplanes !== outplanes) {
        downsample = new nn.Sequential(
          new nn.Conv2d(inplanes, outplanes, 1, { stride, bias: false }),
          norm(outplanes),
        );
      }
      const blocks: nn.Module[] = [];
      for (let b = 0; b < o.layers[s]; b++) {
        blocks.push(new Block(inplanes, planes, b === 0 ? stride : 1, b === 0 ? downsample : null, {
          cardinality: o.cardinality, baseWidth: o.baseWidth, dropPath: resnetDropPathRate(rate, blockIdx, numBlocks), layers: blockLayers,
        }));
        inplanes = outplanes;
        blockIdx++;
      }
      this.stages.push(this.registerModule(`layer${s + 1}`, new nn.Sequential(...blocks)));
      this.featureChannels.push(outplanes);
    });
    this.numFeatures = inplanes;
    this.downsampleRatio = (stem === 'timm' ? 4 : 2) * 2 ** (channels.length - 1);

    this.globalPool = this.registerModule('global_pool', new SelectAdaptivePool2d(globalPool, globalPool !== ''));
    this.fc = this.registerModule('fc', numClasses > 0 ? new nn.Linear(this.numFeatures, numClasses) : new nn.Identity());
    if (!o.skipInit) this.initWeights(o.zeroInitLastBn ?? true);
  }

  /**
   * timm's init_weights: Kaiming-normal (fan_out, relu) convs (SE's 1×1 convs included), BN to 1/0,
   * then zero each block's last norm (GroupNorm starts at 1/0 already, which timm leaves as it is).
   */
  initWeights(zeroInitLastBn = true): void {
    for (const [, m] of this.namedModules()) {
      if (m instanceof nn.Conv2d) nn.init.kaimingNormal_(m.weight, { mode: 'fan_out', nonlinearity: 'relu' });
      else if (m instanceof nn.BatchNorm2d) { nn.init.ones_(m.weight!); nn.init.zeros_(m.bias!); }
    }
    if (zeroInitLastBn) for (const b of this.blocks()) b.zeroInitLastBn();
  }

  /** resnets_get_layer_id_and_scale_exp (layer-wise lr decay; see layer_decay.ts). */
  layerIdAndScaleExp(paramName: string): LayerIdAndScaleExp {
    return resnetLayerIdRule(this.stages.map((s) => s.length))(paramName);
  }

  /** Every residual block, in order. */
  blocks(): ResNetBlock[] {
    return this.stages.flatMap((s) => s.children() as unknown as ResNetBlock[]);
  }

  /**
   * timm's reset_classifier: a new pool and classifier (fresh PyTorch-default Linear init). The old
   * classifier's tensors are freed (call this before handing the parameters to an optimizer).
   */
  resetClassifier(numClasses: number, globalPool: GlobalPoolType = 'avg'): void {
    if (globalPool === '' && numClasses > 0) throw new Error(`ResNet: globalPool '' (no pooling) needs numClasses 0 (got ${numClasses})`);
    for (const t of this.fc.parameters()) t.dispose();
    this.numClasses = numClasses;
    this.globalPool = this.registerModule('global_pool', new SelectAdaptivePool2d(globalPool, globalPool !== ''));
    this.fc = this.registerModule('fc', numClasses > 0 ? new nn.Linear(this.numFeatures, numClasses) : new nn.Identity());
  }

  override forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  override forward(x: Tensor, opts?: { hierarchical?: false; ctx?: ForwardContext }): Tensor;
  override forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
  override forward(x: Tensor, opts: EncoderForwardOptions = {}): Tensor | Tensor[] {
    const ctx = opts.ctx;
    if (x.ndim !== 4) throw new Error(`ResNet.forward: expected an (N, C, H, W) image batch, got shape [${x.shape}]`);
    let y = consume(this.conv1.forward(x, ctx), (t) => this.bn1.forward(t, ctx));
    y = this.act1.forward(y);
    if (this.maxpool instanceof nn.MaxPool2d) y = consume(y, (t) => (this.maxpool as nn.MaxPool2d).forward(t, ctx));
    if (opts.hierarchical) {
      const maps: Tensor[] = [];
      for (const s of this.stages) { y = s.forward(y, ctx); maps.push(y); }
      return maps;
    }
    for (const s of this.stages) y = s.forward(y, ctx);
    y = this.globalPool.forward(y, ctx);
    if (this.dropRate) y = dropout(y, this.dropRate, this.training);
    return this.fc.forward(y);
  }

  /** The stage outputs, shallow to deep (forward with hierarchical: true). */
  features(x: Tensor, ctx?: ForwardContext): Tensor[] {
    return this.forward(x, { hierarchical: true, ctx });
  }
}

/**
 * timm's layer counts for the registered ResNets, and sparkts's resnet8: a small ResNet for 28-px images
 * resized to 32 (Fashion-MNIST; docs/transfer.md). 8 weighted layers as He et al.'s CIFAR ResNet-8
 * (3×3 stem, three one-block stages of widths 16/32/64, fc), but with a stride-2 stem so that a
 * 32-px input gives maps of 16/8/4 px: downsample ratio 8, a 4×4 grid of SparK mask patches.
 */
export const RESNET_ARCHS = {
  resnet18: { block: 'basic', layers: [2, 2, 2, 2] },
  resnet34: { block: 'basic', layers: [3, 4, 6, 3] },
  resnet50: { block: 'bottleneck', layers: [3, 4, 6, 3] },
  resnet101: { block: 'bottleneck', layers: [3, 4, 23, 3] },
  resnet152: { block: 'bottleneck', layers: [3, 8, 36, 3] },
  resnet200: { block: 'bottleneck', layers: [3, 24, 36, 3] },
  // timm 0.5.4 seresnet50: block_args=dict(attn_layer='se')
  seresnet50: { block: 'bottleneck', layers: [3, 4, 6, 3], attnLayer: 'se' },
  // timm 0.5.4 resnet50_gn: norm_layer=GroupNorm (32 groups) everywhere
  resnet50_gn: { block: 'bottleneck', layers: [3, 4, 6, 3], norm: 'gn' },
  // sparkts's small ResNet for 32-px images (docs/transfer.md; not a timm model)
  resnet8: { block: 'basic', layers: [1, 1, 1], channels: [16, 32, 64], stemWidth: 16, stem: 'small' },
} as const satisfies Record<string, { block: ResNetBlockKind; layers: readonly number[]; attnLayer?: ResNetAttn; norm?: ResNetNorm; channels?: readonly number[]; stemWidth?: number; stem?: 'timm' | 'small' }>;
