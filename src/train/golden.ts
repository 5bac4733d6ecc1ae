// Reproduce the reference's golden computations (shared/golden/README.md) from one fixture file:
//   1. a training-mode forward/backward: loss, every gradient, BN running statistics after it;
//   2. the eval-mode visualisation pass: masked input and rec-or-input;
//   3. two LAMB iterations with the lr/wd schedule from the initial state: lrs, wds, losses,
//      global grad norms and the full state after both.
// Each quantity is compared at the fixture's own tolerance for it (`__metadata__.tolerances`, measured by
// the reference from its float32 spread) or else at the README's floor. `spark verify` prints the result.
import * as torch from '../torch/index.js';
import type { Tensor } from '../torch/index.js';
import { loadSafetensors } from '../torch/io/tensor_bridge.js';
import { LAMB } from '../torch/optim/index.js';
import { ResNet, ConvNeXt } from '../models/index.js';
import { SparK, type DensifyNorm } from '../spark/index.js';
import { getParamGroups } from './param_groups.js';
import { lrWdAnnealing } from './schedule.js';

/** The network fields every fixture's `case` has (pretraining and fine-tuning fixtures alike). */
export interface CaseNetwork {
  arch: 'resnet' | 'convnext';
  block?: 'basic' | 'bottleneck';
  layers?: number[];
  channels?: number[];
  depths?: number[];
  dims?: number[];
}

export interface GoldenCase extends CaseNetwork {
  name: string;
  input_size: number;
  batch: number;
  mask_ratio: number;
  decoder_width: number;
  densify_norm: DensifyNorm;
  opt: { peak_lr: number; beta2: number; wd: number; wd_end: number; max_grad_norm: number; warmup_iters: number; max_iters: number };
}

export interface Check { name: string; error: number; tolerance: number; pass: boolean }
export interface VerifyResult { case: GoldenCase; pass: boolean; checks: Check[] }

/** The README's floors: the tolerance of every check that the fixture's `tolerances` does not list. */
export const TOLERANCE = { loss: 1e-5, tensor: 1e-4, vis: 1e-4, scalar: 1e-5 } as const;

/** A fixture's per-check tolerances ({check name: tolerance}); empty when the fixture lists none. */
export type Tolerances = ReadonlyMap<string, number>;

/**
 * Parse `__metadata__.tolerances` (a JSON object {check name: tolerance}). A fixture without the entry
 * (an older file, a user's own) gets an empty map, so every check keeps its floor. Anything else that is
 * not an object of positive finite numbers is refused: a typo there must not silently widen or skip a check.
 */
export function parseTolerances(metadata: Record<string, string>, file: string): Tolerances {
  const raw = metadata.tolerances;
  const out = new Map<string, number>();
  if (raw === undefined) return out;
  let obj: unknown;
  try { obj = JSON.parse(raw); } catch { obj = undefined; }
  if (typeof obj !== 'object' || obj === null || Array.isArray(obj)) {
    throw new Error(`${file}: metadata 'tolerances' is not a JSON object {check name: tolerance}; fix or remove it (see shared/golden/README.md)`);
  }
  for (const [name, tol] of Object.entries(obj)) {
    if (typeof tol !== 'number' || !Number.isFinite(tol) || tol <= 0) {
      throw new Error(`${file}: tolerance of '${name}' is ${JSON.stringify(tol)}, not a positive finite number; fix or remove it`);
    }
    out.set(name, tol);
  }
  return out;
}

/** The tolerance a check is held to: the fixture's own for it when listed, else the floor. */
export function toleranceFor(tolerances: Tolerances, checkName: string, floor: number): number {
  return tolerances.get(checkName) ?? floor;
}

/**
 * Collects checks, each at `toleranceFor(tolerances, name, floor)`. `finish()` refuses a fixture whose
 * `tolerances` names a check that was never made: the verifier and the fixture disagree on a name, and
 * the quantity it meant would otherwise be held to the floor (or skipped) without anyone noticing.
 */
export class CheckList {
  readonly checks: Check[] = [];
  constructor(private readonly tolerances: Tolerances, private readonly file: string) {}

  add(name: string, error: number, floor: number): void {
    const tolerance = toleranceFor(this.tolerances, name, floor);
    this.checks.push({ name, error, tolerance, pass: Number.isFinite(error) && error <= tolerance });
  }

  finish(): Check[] {
    const made = new Set(this.checks.map((c) => c.name));
    const stray = [...this.tolerances.keys()].filter((k) => !made.has(k));
    if (stray.length) {
      throw new Error(`${this.file}: 'tolerances' lists ${stray.length} check(s) that verify does not make (${stray.slice(0, 3).join(', ')}${stray.length > 3 ? ', …' : ''}); the fixture and this verifier disagree on check names`);
    }
    return this.checks;
  }
}

/** The SparK model a fixture's `case` describes (ResNet stem width = channels[0], as the fixtures). */
export function buildCaseModel(c: GoldenCase): SparK {
  const encoder = buildCaseNetwork(c, { what: 'golden case', numClasses: 0, defaultBlock: 'basic' });
  return new SparK(encoder, { inputSize: c.input_size, maskRatio: c.mask_ratio, densifyNorm: c.densify_norm, decoderWidth: c.decoder_width });
}

/**
 * The network a fixture's case describes (ResNet stem width = channels[0]): an encoder without head
 * or pooling at numClasses 0, else a classifier. `what` names the fixture kind in errors; skipInit for
 * weights the fixture's state overwrites.
 */
export function buildCaseNetwork(c: CaseNetwork, o: { what: string; numClasses: number; defaultBlock: 'basic' | 'bottleneck'; skipInit?: boolean }): ResNet | ConvNeXt {
  const head = { numClasses: o.numClasses, ...(o.skipInit ? { skipInit: true } : {}) };
  if (c.arch === 'resnet') {
    const channels = requireField(c.channels, 'channels', o.what);
    return new ResNet({ block: c.block ?? o.defaultBlock, layers: requireField(c.layers, 'layers', o.what), channels, stemWidth: channels[0], ...head, ...(o.numClasses ? {} : { globalPool: '' as const }) });
  }
  if (c.arch === 'convnext') return new ConvNeXt({ depths: requireField(c.depths, 'depths', o.what), dims: requireField(c.dims, 'dims', o.what), ...head });
  throw new Error(`${o.what} has unknown arch ${JSON.stringify(c.arch)} (expected resnet or convnext)`);
}

/** A field a fixture must have: one error naming it and the fixture kind. */
export function requireField<T>(v: T | undefined | null, field: string, what = 'golden case'): T {
  if (v === undefined || v === null) throw new Error(`${what} is missing '${field}'`);
  return v;
}

const req = <T>(v: T | undefined, field: string): T => requireField(v, field);

/** ‖a − b‖ / max(‖b‖, 1e-12), in float64. */
export function relativeError(a: Tensor, b: Tensor): number {
  return torch.tidy(() => {
    const a64 = a.to({ dtype: 'float64', device: 'cpu' }), b64 = b.to({ dtype: 'float64', device: 'cpu' });
    return a64.sub(b64).norm().item() / Math.max(b64.norm().item(), 1e-12);
  });
}

export function maxAbsError(a: Tensor, b: Tensor): number {
  return torch.tidy(() => a.to({ dtype: 'float64', device: 'cpu' }).sub(b.to({ dtype: 'float64', device: 'cpu' })).abs().maxAll().item());
}

const relScalar = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);

function withPrefix(all: Map<string, Tensor>, prefix: string): Map<string, Tensor> {
  const out = new Map<string, Tensor>();
  for (const [k, v] of all) if (k.startsWith(prefix)) out.set(k.slice(prefix.length), v);
  return out;
}

/** Run the three golden computations of one fixture on `device` and compare every quantity. */
export function verifyGolden(path: string, o: { device?: string } = {}): VerifyResult {
  const device = o.device ?? 'cpu';
  // the reference numbers are float32; TF32 convolutions on a GPU would differ in the 4th digit
  if (device.startsWith('cuda')) torch.cuda.setAllowTF32(false);
  const { tensors: file, metadata } = loadSafetensors(path);
  try {
    if (!metadata.case) throw new Error(`${path} is not a golden fixture: its metadata has no 'case' (see shared/golden/README.md)`);
    const c = JSON.parse(metadata.case) as GoldenCase;
    const get = (k: string): Tensor => {
      const t = file.get(k);
      if (!t) throw new Error(`${path} lacks tensor '${k}'`);
      return t;
    };
    const list = new CheckList(parseTolerances(metadata, path), path);
    const add = list.add.bind(list);
    const initial = withPrefix(file, 'state.');
    const model = buildCaseModel(c).to(device);
    const onDev = (t: Tensor): Tensor => (device === 'cpu' ? t : t.to({ device }));

    torch.tidy(() => {
      // 1) training pass
      model.loadStateDict(initial);
      model.train();
      const input = onDev(get('input')), active = onDev(get('active'));
      const loss = model.forward(input, { active });
      loss.backward();
      add('loss', relScalar(loss.item(), JSON.parse(metadata.loss)), TOLERANCE.loss);
      for (const [name, p] of model.namedParameters()) {
        const g = p.grad;
        add(`grad.${name}`, g ? relativeError(g, get(`grad.${name}`)) : Infinity, TOLERANCE.tensor);
      }
      const sd = model.stateDict();
      for (const [k, ref] of withPrefix(file, 'state_after.')) {
        const ours = sd.get(k);
        add(`state_after.${k}`, ours ? relativeError(ours, ref) : Infinity, TOLERANCE.tensor);
      }
      model.zeroGrad();

      // 2) visualisation in eval mode, with the running statistics of pass 1
      model.eval();
      torch.noGrad(() => {
        const v = model.visualize(input, active);
        add('vis.masked', maxAbsError(v.masked, get('vis.masked')), TOLERANCE.vis);
        add('vis.rec_or_inp', maxAbsError(v.recOrInp, get('vis.rec_or_inp')), TOLERANCE.vis);
      });
    });

    // 3) two LAMB iterations with the schedule, from the initial state
    const opt = c.opt;
    const lamb = torch.tidy(() => {
      model.loadStateDict(initial);
      model.train();
      return new LAMB(getParamGroups(model), { lr: opt.peak_lr, weight_decay: 0, betas: [0.9, opt.beta2], max_grad_norm: opt.max_grad_norm });
    });
    const refLosses = JSON.parse(metadata.opt_losses) as number[];
    const refLrs = JSON.parse(metadata.opt_lrs) as number[];
    const refWds = JSON.parse(metadata.opt_wds) as number[];
    const refNorms = JSON.parse(metadata.opt_global_grad_norms) as number[];
    const batches: [string, string][] = [['input', 'active'], ['opt.input2', 'opt.active2']];
    batches.forEach(([xk, ak], it) => {
      torch.tidy(() => {
        const [, lr, , wd] = lrWdAnnealing(lamb, opt.peak_lr, opt.wd, opt.wd_end, it, opt.warmup_iters, opt.max_iters);
        add(`opt.lr[${it}]`, relScalar(lr, refLrs[it]), TOLERANCE.scalar);
        add(`opt.wd[${it}]`, relScalar(wd, refWds[it]), TOLERANCE.scalar);
        const loss = model.forward(onDev(get(xk)), { active: onDev(get(ak)) });
        lamb.zeroGrad();
        loss.backward();
        lamb.step();
        add(`opt.loss[${it}]`, relScalar(loss.item(), refLosses[it]), TOLERANCE.loss);
        add(`opt.global_grad_norm[${it}]`, relScalar(lamb.globalGradNorm, refNorms[it]), TOLERANCE.tensor);
      });
    });
    const after = model.stateDict();
    for (const [k, ref] of withPrefix(file, 'opt.state_after.')) {
      const ours = after.get(k);
      add(`opt.state_after.${k}`, ours ? relativeError(ours, ref) : Infinity, TOLERANCE.tensor);
    }
    lamb.disposeState();
    for (const t of [...model.parameters(), ...model.buffers()]) t.dispose();
    const checks = list.finish();
    return { case: c, pass: checks.every((ch) => ch.pass), checks };
  } finally {
    for (const t of file.values()) t.dispose();
  }
}
