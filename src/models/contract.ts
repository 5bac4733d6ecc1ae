// The encoder contract (DESIGN.md "Names and formats"): what SparK needs from a CNN to pretrain it.
//
// An encoder is a Module with
//   downsampleRatio  the total stride of its deepest map = the mask patch size (32 for ResNet/ConvNeXt)
//   featureChannels  the channel count of each map the hierarchical forward returns, shallow to deep
//   forward(x, {hierarchical: true, ctx})  → those maps, as Tensor[] (the reference's
//                                            `forward(x, hierarchical=True)`)
//   forward(x) / forward(x, {ctx})         → the dense output: logits when the model has a head,
//                                            pooled (or unpooled) features when it has none
// One forward with an options bag serves both calls so that a reference-style user model ports
// directly; TypeScript overloads give each call its precise return type. The sparse-execution mask
// travels in `ctx` (a ForwardContext), never in a module-level global: every layer call inside an
// encoder passes the ctx on, so convs/pools mask their outputs and norms use visible positions only.
import type { Tensor } from '../torch/index.js';
import { nn } from '../torch/index.js';

export type ForwardContext = nn.ForwardContext;

export interface EncoderForwardOptions {
  /** true: return the per-stage feature maps (shallow to deep) instead of the dense output. */
  hierarchical?: boolean;
  /** Sparse execution (SparK pretraining) passes the visible-position mask here. */
  ctx?: ForwardContext;
}

export interface Encoder extends nn.Module {
  /** The mask patch size: input size / deepest feature map size (32 for ResNet and ConvNeXt). */
  readonly downsampleRatio: number;
  /** One entry per map returned by the hierarchical forward, shallow to deep. */
  readonly featureChannels: number[];
  forward(x: Tensor, opts: { hierarchical: true; ctx?: ForwardContext }): Tensor[];
  forward(x: Tensor, opts?: EncoderForwardOptions): Tensor | Tensor[];
}

/** What is wrong with `m` as an encoder (empty when nothing is). */
export function encoderProblems(m: unknown): string[] {
  const out: string[] = [];
  if (!(m instanceof nn.Module)) out.push('it is not an nn.Module');
  const o = (m ?? {}) as Record<string, unknown>;
  const r = o.downsampleRatio;
  if (typeof r !== 'number' || !Number.isInteger(r) || r < 1) {
    out.push(`downsampleRatio must be a positive integer (the mask patch size), got ${String(r)}`);
  }
  const ch = o.featureChannels;
  if (!Array.isArray(ch) || ch.length === 0 || ch.some((c) => typeof c !== 'number' || !Number.isInteger(c) || c < 1)) {
    out.push(`featureChannels must be a non-empty array of positive integers (one per feature map, shallow to deep), got ${JSON.stringify(ch)}`);
  }
  if (typeof o.forward !== 'function') out.push('forward(x, {hierarchical: true, ctx}) is missing');
  return out;
}

/** true when `m` satisfies the encoder contract (see encoderProblems for why not). */
export function isEncoder(m: unknown): m is Encoder {
  return encoderProblems(m).length === 0;
}

/** Throw one line listing everything `m` lacks to be an encoder. */
export function assertEncoder(m: unknown, what = 'model'): asserts m is Encoder {
  const p = encoderProblems(m);
  if (p.length) {
    const name = (m as object | null)?.constructor?.name ?? String(m);
    throw new Error(`${what} (${name}) is not a SparK encoder: ${p.join('; ')}; implement the Encoder contract of src/models/contract.ts`);
  }
}

/**
 * Run an encoder's hierarchical forward and check what comes back against its own declaration:
 * one 4-D map per featureChannels entry with that channel count. The check catches a user encoder
 * whose declaration and forward disagree, which would otherwise fail deep inside the decoder.
 */
export function encoderFeatures(enc: Encoder, x: Tensor, ctx?: ForwardContext): Tensor[] {
  const feats = enc.forward(x, { hierarchical: true, ctx });
  const name = enc.constructor.name;
  if (!Array.isArray(feats)) throw new Error(`${name}.forward(x, {hierarchical: true}) must return an array of feature maps, got ${typeof feats}`);
  if (feats.length !== enc.featureChannels.length) {
    throw new Error(`${name} returned ${feats.length} feature maps but declares featureChannels [${enc.featureChannels}]; make them agree`);
  }
  feats.forEach((f, i) => {
    if (f.ndim !== 4 || f.size(1) !== enc.featureChannels[i]) {
      throw new Error(`${name} feature map ${i} has shape [${f.shape}] but featureChannels[${i}] = ${enc.featureChannels[i]} (expected (N, ${enc.featureChannels[i]}, H, W))`);
    }
  });
  return feats;
}
