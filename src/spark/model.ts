// The SparK model (reference spark.py): mask → sparse encode → densify (norm, mask tokens,
// projection) from the smallest map up → light decoder → loss on masked patches.
// Parameter names equal the reference's: sparse_encoder.sp_cnn.*, dense_decoder.*, densify_norms.*,
// densify_projs.*, mask_tokens.*.
import * as torch from '../torch/index.js';
import type { Tensor, Generator } from '../torch/index.js';
import { nn } from '../torch/index.js';
import { type Encoder, assertEncoder, encoderFeatures } from '../models/contract.js';
import { ConvNeXtLayerNorm } from '../models/convnext.js';
import { LightDecoder } from './decoder.js';
import { randomMask, expandMask, checkMask, visibleCount } from './mask.js';
import { sparseContext, withModulePaths } from './sparse.js';
import { patchify, unpatchify, normalizedTarget, maskedPatchLoss } from './loss.js';

const { Module, Conv2d, BatchNorm2d, Identity, ModuleList, ParameterList, init } = nn;

export type DensifyNorm = 'bn' | 'ln' | 'identity';

export interface SparKOptions {
  inputSize: number;
  maskRatio?: number;       // 0.6
  densifyNorm?: DensifyNorm; // 'bn' for ResNets, 'ln' for ConvNeXts
  decoderWidth?: number;    // 768
}

/** Wraps the encoder under the name `sp_cnn` (the reference's SparseEncoder). */
export class SparseEncoder extends Module<[Tensor, ReturnType<typeof sparseContext>?], Tensor[]> {
  static override readonly sparseAware = true;
  readonly sp_cnn: Encoder;
  constructor(cnn: Encoder, readonly inputSize: number) {
    super();
    assertEncoder(cnn);
    this.sp_cnn = this.registerModule('sp_cnn', cnn);
  }
  get downsampleRatio(): number { return this.sp_cnn.downsampleRatio; }
  get featureChannels(): number[] { return this.sp_cnn.featureChannels; }
  /**
   * The encoder's maps, shallow to deep, checked against its declaration: featureChannels, and the
   * strides SparK's decoder needs (the deepest map at input/downsampleRatio, each shallower one twice
   * as large). A user encoder that disagrees gets one line here instead of a shape error in the decoder.
   */
  forward(x: Tensor, ctx?: ReturnType<typeof sparseContext>): Tensor[] {
    // a context without module paths (built without a root) names them relative to this module
    if (ctx?.mask && !ctx.pathOf) ctx = withModulePaths(ctx, this);
    const feats = encoderFeatures(this.sp_cnn, x, ctx);
    const n = feats.length, name = this.sp_cnn.constructor.name;
    feats.forEach((f, i) => {
      const scale = this.downsampleRatio / 2 ** (n - 1 - i);
      const h = x.size(2) / scale, w = x.size(3) / scale;
      if (f.size(2) !== h || f.size(3) !== w) {
        throw new Error(`${name} feature map ${i} is ${f.size(2)}×${f.size(3)} but SparK needs ${h}×${w} (input/${scale}): the maps must be at strides downsampleRatio (${this.downsampleRatio}), /2, /4 … from the deepest`);
      }
    });
    return feats;
  }
}

export interface Visualization {
  /** the input (normalised image) */ input: Tensor;
  /** input with masked patches zeroed */ masked: Tensor;
  /** visible patches from the input, masked ones from the reconstruction */ recOrInp: Tensor;
  /** the full de-normalised reconstruction */ reconstruction: Tensor;
}

export class SparK extends Module {
  static override readonly sparseAware = true;
  readonly sparse_encoder: SparseEncoder;
  readonly dense_decoder: LightDecoder;
  readonly densify_norms: InstanceType<typeof ModuleList>;
  readonly densify_projs: InstanceType<typeof ModuleList>;
  readonly mask_tokens: InstanceType<typeof ParameterList>;
  readonly inputSize: number;
  readonly maskRatio: number;
  readonly densifyNorm: DensifyNorm;
  readonly downsampleRatio: number;
  readonly fmapSize: number;
  readonly lenKeep: number;
  readonly hierarchy: number;

  constructor(encoder: Encoder, o: SparKOptions) {
    super();
    assertEncoder(encoder);   // before reading downsampleRatio/featureChannels from it
    this.inputSize = o.inputSize;
    this.maskRatio = o.maskRatio ?? 0.6;
    this.densifyNorm = o.densifyNorm ?? 'bn';
    if (!(this.maskRatio > 0 && this.maskRatio < 1)) throw new Error(`mask ratio must be in (0, 1), got ${this.maskRatio}`);
    this.downsampleRatio = encoder.downsampleRatio;
    if (o.inputSize % this.downsampleRatio) {
      throw new Error(`input size ${o.inputSize} is not a multiple of the encoder's downsample ratio ${this.downsampleRatio}; use e.g. ${Math.max(1, Math.round(o.inputSize / this.downsampleRatio)) * this.downsampleRatio}`);
    }
    this.fmapSize = o.inputSize / this.downsampleRatio;
    this.lenKeep = visibleCount(this.fmapSize, this.maskRatio);
    this.sparse_encoder = this.registerModule('sparse_encoder', new SparseEncoder(encoder, o.inputSize));
    this.dense_decoder = this.registerModule('dense_decoder', new LightDecoder(this.downsampleRatio, o.decoderWidth ?? 768));
    this.densify_norms = this.registerModule('densify_norms', new ModuleList());
    this.densify_projs = this.registerModule('densify_projs', new ModuleList());
    this.mask_tokens = this.registerModule('mask_tokens', new ParameterList());

    const eWidths = encoder.featureChannels.slice();
    this.hierarchy = eWidths.length;
    let dWidth = this.dense_decoder.width;
    for (let i = 0; i < this.hierarchy; i++) {   // smallest feature map first
      const eWidth = eWidths.pop()!;
      const token = torch.zeros([1, eWidth, 1, 1]);
      init.truncNormal_(token, { mean: 0, std: 0.02, a: -0.02, b: 0.02 });
      this.mask_tokens.append(token);
      this.densify_norms.append(
        this.densifyNorm === 'bn' ? new BatchNorm2d(eWidth)
          : this.densifyNorm === 'ln' ? new ConvNeXtLayerNorm(eWidth, { eps: 1e-6, dataFormat: 'channels_first' })
            : new Identity());
      if (i === 0 && eWidth === dWidth) this.densify_projs.append(new Identity());
      else {
        const k = i === 0 ? 1 : 3;
        this.densify_projs.append(new Conv2d(eWidth, dWidth, k, { padding: Math.floor(k / 2), bias: true }));
      }
      dWidth = Math.floor(dWidth / 2);
    }
  }

  /** A random visible-patch mask (B,1,f,f), bool. */
  mask(batch: number, o: { generator?: Generator | null; device?: string } = {}): Tensor {
    return randomMask(batch, this.fmapSize, this.maskRatio, o);
  }

  /**
   * Encode the masked input sparsely and decode; returns the reconstruction (B,3,H,W). Every other
   * tensor made here is freed on the way out, and the densified maps as soon as they are used, as
   * Python frees them (autograd keeps what backward needs): memory held through backward is not
   * reused, and fresh memory costs page faults.
   */
  private reconstruct(inp: Tensor, active: Tensor): Tensor {
    return torch.tidy(() => {
      const feats = this.encodeChecked(inp, active).reverse();   // smallest first
      const toDec: (Tensor | null)[] = [];
      let cur = active;
      feats.forEach((f, i) => {
        const norm = this.densify_norms.at(i) as nn.Module;
        const scaleCtx = sparseContext(cur);
        const normed = norm.forward(f, scaleCtx) as Tensor;
        const filled = torch.where(cur.expand(normed.shape), normed, (this.mask_tokens.at(i)).expand(normed.shape));
        if (normed !== f) normed.dispose();
        const projected = (this.densify_projs.at(i) as nn.Module).forward(filled) as Tensor;
        if (projected !== filled) filled.dispose();
        toDec.push(projected);
        cur = expandMask(cur, cur.size(2) * 2, cur.size(3) * 2);
      });
      return this.dense_decoder.forward(toDec);
    });
  }

  /** The masked input through the sparse encoder: its maps, shallow to deep. */
  private encodeChecked(inp: Tensor, active: Tensor): Tensor[] {
    const ctx = sparseContext(active, { root: this });
    const masked = inp.mul(ctx.mask!(inp.size(2), inp.size(3)));
    const feats = this.sparse_encoder.forward(masked, ctx);
    if (!feats.includes(masked)) masked.dispose();
    return feats;
  }

  /**
   * The encoder's sparse feature maps for images (B,3,H,W) and a visible-patch mask `active`
   * (B,1,f,f; bool or 0/1): shallow to deep, exactly as the decoder receives them before densifying
   * (the input masked, every map 0 at masked positions). For inspecting what an encoder sees; runs
   * in the current mode (train: batch statistics over visible positions), with autograd as usual.
   */
  encode(images: Tensor, active: Tensor): Tensor[] {
    this.checkInput(images);
    return torch.tidy(() => this.encodeChecked(images, checkMask(active, images.size(0), this.fmapSize)));
  }

  /** The training loss on inp (B,3,H,W). A mask is drawn (from generator) unless given. */
  forward(inp: Tensor, o: { active?: Tensor; generator?: Generator | null } = {}): Tensor {
    this.checkInput(inp);
    const active = o.active ? checkMask(o.active, inp.size(0), this.fmapSize)
      : this.mask(inp.size(0), { generator: o.generator, device: inp.device });
    const rec = this.reconstruct(inp, active);
    return torch.tidy(() => {   // the patches, target and per-patch losses go as soon as the loss exists
      const { target } = normalizedTarget(patchify(inp, this.downsampleRatio));
      return maskedPatchLoss(patchify(rec, this.downsampleRatio), target, active);
    });
  }

  /** The reference's vis=True pass (run it in eval mode and noGrad). */
  visualize(inp: Tensor, active: Tensor): Visualization {
    this.checkInput(inp);
    active = checkMask(active, inp.size(0), this.fmapSize);
    const rec = this.reconstruct(inp, active);
    const p = this.downsampleRatio;
    const { mean, std } = normalizedTarget(patchify(inp, p));
    const reconstruction = unpatchify(patchify(rec, p).mul(std).add(mean), p, this.fmapSize, this.fmapSize);
    const activeHW = expandMask(active, inp.size(2), inp.size(3));
    return {
      input: inp,
      masked: inp.mul(activeHW),
      recOrInp: torch.where(activeHW, inp, reconstruction),
      reconstruction,
    };
  }

  private checkInput(inp: Tensor): void {
    const s = inp.shape;
    if (s.length !== 4 || s[1] !== 3 || s[2] !== this.inputSize || s[3] !== this.inputSize) {
      throw new Error(`SparK expects images of shape [B,3,${this.inputSize},${this.inputSize}], got [${s}]`);
    }
  }

  /** The reference's get_config(), stored in its checkpoints' module state as `config`. */
  config(): Record<string, number | string | boolean> {
    return {
      mask_ratio: this.maskRatio,
      densify_norm_str: this.densifyNorm === 'identity' ? '' : this.densifyNorm,
      sbn: false,
      hierarchy: this.hierarchy,
      'sparse_encoder.input_size': this.inputSize,
      'dense_decoder.width': this.dense_decoder.width,
    };
  }
}
