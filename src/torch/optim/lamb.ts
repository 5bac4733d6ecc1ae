// LAMB exactly as the reference's TheSameAsTimmLAMB (SparK pretrain/utils/lamb.py = timm 0.5.4's
// Lamb plus a `global_grad_norm` member), op for op:
//   1. global grad norm = sqrt(Σ over ALL params' grads of Σ g²); clip factor = 1 / (norm/max_grad_norm
//      when norm > max_grad_norm, else 1), applied to every grad in place (the grads stay clipped);
//   2. per group: step += 1 (the step count lives in the GROUP, not per param); bias corrections;
//   3. per param: Adam moments (exp_avg with 1 - beta1 when grad_averaging, else 1), update =
//      (m / bc1) / (sqrt(v) / sqrt(bc2) + eps), plus wd·p when wd ≠ 0; when wd ≠ 0 or always_adapt,
//      times the trust ratio ‖p‖/‖update‖ (1 when either norm is 0; min(·, 1) with trust_clip);
//      p -= lr·update.
// max_grad_norm is read from the constructor's defaults, as the reference does (not from the group).
//
// variant 'timm' is timm 0.5.4's own Lamb, which the reference fine-tunes with
// (`Lamb(max_grad_norm=1e7, always_adapt=True, bias_correction=False)`): the same algorithm, but the
// clip factor is `where(norm > max, norm / max, 1)` and each grad is DIVIDED by it (SparK's copy
// multiplies by its reciprocal, which can differ in the last bit), and timm's default max_grad_norm is 1.
//
// With LAMB.fused on, the per-parameter part of the 'spark' variant runs on CPU in one native call per
// group (lamb_step_ in native/src/custom_ops.cc: the same formula in two fused passes instead of ~20 ATen
// ops); by default, and always on CUDA and for the 'timm' variant (division by the clip factor), the
// ATen ops below run as written.
import type { Tensor } from '../tensor.js';
import { keep, tidy } from '../memory.js';
import { lambStep_, minimum, sumOfSquares, where, zeros, zerosLike } from '../generated/ops.js';
import { tensor } from '../tensor.js';
import { isFloating } from '../dtype.js';
import { Optimizer, check, type ParamGroup, type ParamGroupInput } from './optimizer.js';

export interface LAMBOptions {
  lr?: number;
  bias_correction?: boolean;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  grad_averaging?: boolean;
  max_grad_norm?: number;
  trust_clip?: boolean;
  always_adapt?: boolean;
  /** 'spark' (default): the reference's pretraining TheSameAsTimmLAMB; 'timm': timm 0.5.4's Lamb. Not a group option. */
  variant?: 'spark' | 'timm';
}

export class LAMB extends Optimizer {
  /** The global gradient norm (before clipping) of the last step; 0 before the first. */
  globalGradNorm = 0;
  readonly variant: 'spark' | 'timm';
  /**
   * Use the fused native kernel (lamb_step_) where it applies (CPU). Off by default: it was written to
   * save the ATen ops' temporaries, whose fresh pages cost a fault each under malloc; with the caching CPU
   * allocator those are reused, and the ATen ops are the faster path (ResNet-50 SparK's 52.9M values:
   * 212–274 ms vs 525–567 ms, `spark_parts.bench --parts lamb`, 1 and 2 threads, 2026-11-30).
   */
  static fused = false;

  constructor(params: Tensor[] | ParamGroupInput[], opts: LAMBOptions = {}) {
    const variant = opts.variant ?? 'spark';
    check(variant === 'spark' || variant === 'timm', `LAMB: variant must be 'spark' or 'timm', got ${JSON.stringify(variant)}`);
    // the reference's defaults (which differ from timm's only in max_grad_norm: 2 vs timm's 1)
    const {
      lr = 1e-3, bias_correction = true, betas = [0.9, 0.999], eps = 1e-6, weight_decay = 0.01,
      grad_averaging = true, max_grad_norm = variant === 'timm' ? 1.0 : 2.0, trust_clip = false, always_adapt = false,
    } = opts;
    check(Array.isArray(betas) && betas.length === 2, 'LAMB: betas must be a pair [beta1, beta2]');
    check(typeof max_grad_norm === 'number' && max_grad_norm > 0, `LAMB: max_grad_norm must be a positive number, got ${max_grad_norm}`);
    super(params, {
      lr, bias_correction, betas: [betas[0], betas[1]], eps, weight_decay, grad_averaging,
      max_grad_norm, trust_clip, always_adapt,
    });
    this.variant = variant;
  }

  protected update(): void {
    const first = this.paramGroups.find((g) => g.params.length)?.params[0];
    if (!first) return;
    if (LAMB.fused && this.variant === 'spark' && this.fusedApplies(first)) { this.fusedUpdate(first); return; }
    const device = first.device;
    // the reference makes these in torch's default dtype (float32, the params' dtype in training);
    // we follow the params' dtype so that float64 runs keep float64 precision
    const dtype = isFloating(first.dtype) ? first.dtype : 'float32';
    const one = tensor(1.0, { dtype, device });

    let globalNorm = zeros([1], { dtype, device });
    for (const g of this.paramGroups) {
      for (const p of g.params) {
        tidy(() => {
          const grad = p.grad;
          if (grad) globalNorm.add_(grad.pow(2).sum());
        });
      }
    }
    globalNorm = globalNorm.sqrt();
    this.globalGradNorm = globalNorm.item();
    const mgn = this.defaults.max_grad_norm;
    if (typeof mgn !== 'number') throw new Error(`LAMB: max_grad_norm must be a number, got ${JSON.stringify(mgn)}`);
    const maxGradNorm = tensor(mgn, { dtype, device });
    const factor = where(globalNorm.gt(maxGradNorm), globalNorm.div(maxGradNorm), one);
    // SparK: grad.mul_(1 / factor) (Python's `1 / t` is t.reciprocal() * 1); timm: grad.div_(factor)
    const clipGrad = this.variant === 'timm' ? (g: Tensor): Tensor => g.div_(factor) : ((r: Tensor) => (g: Tensor): Tensor => g.mul_(r))(factor.reciprocal());

    for (const g of this.paramGroups) {
      const { beta1, beta2, beta3, eps, wd, lr, alwaysAdapt, trustClip, bc1, bc2 } = this.advanceGroup(g);

      for (const p of g.params) {
        tidy(() => {
          const g0 = p.grad;
          if (!g0) return;
          const grad = clipGrad(g0);
          const [expAvg, expAvgSq] = this.moments(p);
          expAvg.mul_(beta1).add_(grad, beta3);
          expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
          const denom = expAvgSq.sqrt().div(Math.sqrt(bc2)).add_(eps);
          const update = expAvg.div(bc1).div_(denom);
          if (wd !== 0) update.add_(p, wd);
          if (wd !== 0 || alwaysAdapt) {
            const wNorm = p.norm(2.0);
            const gNorm = update.norm(2.0);
            let trust = where(wNorm.gt(0), where(gNorm.gt(0), wNorm.div(gNorm), one), one);
            if (trustClip) trust = minimum(trust, one);
            update.mul_(trust);
          }
          p.add_(update, -lr);
        });
      }
    }
  }

  /** A group's hyperparameters for this step, its step count advanced (both update paths use it). */
  private advanceGroup(g: ParamGroup) {
    const biasCorrection = this.flag(g, 'bias_correction');
    const [beta1, beta2] = this.pair(g, 'betas');
    const beta3 = this.flag(g, 'grad_averaging') ? 1 - beta1 : 1.0;
    const eps = this.num(g, 'eps'), wd = this.num(g, 'weight_decay'), lr = this.num(g, 'lr');
    const alwaysAdapt = this.flag(g, 'always_adapt'), trustClip = this.flag(g, 'trust_clip');
    const step = g.step === undefined ? 1 : this.num(g, 'step') + 1;
    g.step = step;
    const bc1 = biasCorrection ? 1 - beta1 ** step : 1.0;
    const bc2 = biasCorrection ? 1 - beta2 ** step : 1.0;
    return { beta1, beta2, beta3, eps, wd, lr, alwaysAdapt, trustClip, bc1, bc2 };
  }

  /** p's first and second moments, created as zeros on its first step (a loaded state must hold both). */
  private moments(p: Tensor): [Tensor, Tensor] {
    const state = this.stateFor(p);
    if (Object.keys(state).length === 0) {
      state.exp_avg = keep(zerosLike(p));
      state.exp_avg_sq = keep(zerosLike(p));
    }
    const expAvg = state.exp_avg as Tensor, expAvgSq = state.exp_avg_sq as Tensor;
    if (!expAvg || !expAvgSq) throw new Error('LAMB: a parameter state lacks exp_avg/exp_avg_sq; the state dict is not a LAMB one');
    return [expAvg, expAvgSq];
  }

  /** The fused kernel takes contiguous float32/float64 CPU tensors of one dtype (params, grads and states). */
  private fusedApplies(first: Tensor): boolean {
    if (first.device !== 'cpu' || (first.dtype !== 'float32' && first.dtype !== 'float64')) return false;
    const ok = (t: unknown): boolean => t === undefined || ((t as Tensor).device === 'cpu' && (t as Tensor).dtype === first.dtype && (t as Tensor).isContiguous());
    return this.paramGroups.every((g) => g.params.every((p) => {
      if (!ok(p) || !ok(p.grad ?? undefined)) return false;
      const st = this.state.get(p);
      return !st || (ok(st.exp_avg ?? undefined) && ok(st.exp_avg_sq ?? undefined));
    }));
  }

  /** update()'s math through lamb_step_: the global norm and clip factor here, the rest per group natively. */
  private fusedUpdate(first: Tensor): void {
    // the scalars are float32 tensors in the reference: round as float32 does
    const f = first.dtype === 'float32' ? Math.fround : (x: number): number => x;
    const grads = this.paramGroups.flatMap((g) => g.params.map((p) => p.grad).filter((t): t is Tensor => t !== null));
    const globalNorm = f(Math.sqrt(sumOfSquares(grads)));
    this.globalGradNorm = globalNorm;
    const mgn = this.defaults.max_grad_norm;
    if (typeof mgn !== 'number') throw new Error(`LAMB: max_grad_norm must be a number, got ${JSON.stringify(mgn)}`);
    const clip = globalNorm > f(mgn) ? f(1 / f(globalNorm / f(mgn))) : 1;

    for (const g of this.paramGroups) {
      const { beta1, beta2, beta3, eps, wd, lr, alwaysAdapt, trustClip, bc1, bc2 } = this.advanceGroup(g);
      const ps: Tensor[] = [], gs: Tensor[] = [], ms: Tensor[] = [], vs: Tensor[] = [];
      for (const p of g.params) {
        if (!p.grad) continue;
        const [expAvg, expAvgSq] = this.moments(p);
        ps.push(p); gs.push(p.grad); ms.push(expAvg); vs.push(expAvgSq);
      }
      if (ps.length) lambStep_(ps, gs, ms, vs, clip, beta1, beta2, beta3, bc1, bc2, eps, wd, lr, alwaysAdapt, trustClip);
    }
  }
}
