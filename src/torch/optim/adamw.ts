// torch.optim.AdamW (PyTorch 1.13's single-tensor path, op for op): decoupled weight decay
// p *= 1 - lr·wd, Adam moments, bias corrections, eps added after sqrt(v̂), optional AMSGrad.
// The per-parameter step count is a 0-dim float32 CPU tensor, as PyTorch stores it, so state dicts
// match PyTorch's layout.
// variant 'timm' is timm 0.5.4's AdamW (timm/optim/adamw.py, what the reference fine-tunes with): the
// same arithmetic, but its groups carry only lr/betas/eps/weight_decay/amsgrad (no `maximize`) and the
// step count is a plain int, so its state dicts load into timm's class.
import type { Tensor } from '../tensor.js';
import { keep, tidy } from '../memory.js';
import { maximum, zerosLike } from '../generated/ops.js';
import { tensor } from '../tensor.js';
import { Optimizer, check, type ParamGroupInput, type ParamState } from './optimizer.js';

export interface AdamWOptions {
  lr?: number;
  betas?: [number, number];
  eps?: number;
  weight_decay?: number;
  amsgrad?: boolean;
  maximize?: boolean;
  /** 'torch' (default): torch.optim.AdamW; 'timm': timm 0.5.4's AdamW. Not a group option. */
  variant?: 'torch' | 'timm';
}

export class AdamW extends Optimizer {
  readonly variant: 'torch' | 'timm';

  constructor(params: Tensor[] | ParamGroupInput[], opts: AdamWOptions = {}) {
    const { lr = 1e-3, betas = [0.9, 0.999], eps = 1e-8, weight_decay = 1e-2, amsgrad = false, maximize = false, variant = 'torch' } = opts;
    check(variant === 'torch' || variant === 'timm', `AdamW: variant must be 'torch' or 'timm', got ${JSON.stringify(variant)}`);
    check(variant === 'torch' || !maximize, 'AdamW: timm\'s AdamW has no maximize option');
    check(lr >= 0, `AdamW: invalid learning rate ${lr} (must be >= 0)`);
    check(eps >= 0, `AdamW: invalid epsilon ${eps} (must be >= 0)`);
    check(betas[0] >= 0 && betas[0] < 1, `AdamW: invalid beta parameter at index 0: ${betas[0]} (must be in [0, 1))`);
    check(betas[1] >= 0 && betas[1] < 1, `AdamW: invalid beta parameter at index 1: ${betas[1]} (must be in [0, 1))`);
    check(weight_decay >= 0, `AdamW: invalid weight_decay ${weight_decay} (must be >= 0)`);
    super(params, variant === 'timm'
      ? { lr, betas: [betas[0], betas[1]], eps, weight_decay, amsgrad }
      : { lr, betas: [betas[0], betas[1]], eps, weight_decay, amsgrad, maximize });
    this.variant = variant;
  }

  protected update(): void {
    for (const g of this.paramGroups) {
      const lr = this.num(g, 'lr'), eps = this.num(g, 'eps'), wd = this.num(g, 'weight_decay');
      const [beta1, beta2] = this.pair(g, 'betas');
      const amsgrad = this.flag(g, 'amsgrad'), maximize = this.variant === 'timm' ? false : this.flag(g, 'maximize');
      for (const p of g.params) {
        tidy(() => {
          const g0 = p.grad;
          if (!g0) return;
          const grad = maximize ? g0.neg() : g0;
          const state = this.stateFor(p);
          if (Object.keys(state).length === 0) {
            state.step = this.variant === 'timm' ? 0 : keep(tensor(0));
            state.exp_avg = keep(zerosLike(p));
            state.exp_avg_sq = keep(zerosLike(p));
            if (amsgrad) state.max_exp_avg_sq = keep(zerosLike(p));
          }
          const expAvg = state.exp_avg as Tensor, expAvgSq = state.exp_avg_sq as Tensor;
          const step = this.variant === 'timm' ? nextIntStep(state) : ((t) => t.add_(1).item())(stepTensor(state));
          p.mul_(1 - lr * wd);
          expAvg.mul_(beta1).add_(grad, 1 - beta1);
          expAvgSq.mul_(beta2).addcmul_(grad, grad, 1 - beta2);
          const bc1 = 1 - beta1 ** step;
          const bc2 = 1 - beta2 ** step;
          const stepSize = lr / bc1;
          const bc2Sqrt = Math.sqrt(bc2);
          let denom: Tensor;
          if (amsgrad) {
            const m = state.max_exp_avg_sq as Tensor | undefined;
            if (!m) throw new Error('AdamW: amsgrad is on but the state has no max_exp_avg_sq (it was saved with amsgrad off)');
            m.copy_(maximum(m, expAvgSq));
            denom = m.sqrt().div(bc2Sqrt).add_(eps);
          } else {
            denom = expAvgSq.sqrt().div(bc2Sqrt).add_(eps);
          }
          p.addcdiv_(expAvg, denom, -stepSize);
        });
      }
    }
  }
}

/** timm's int step counter, incremented; a tensor step (a torch.optim state dict) is read as its value. */
function nextIntStep(state: ParamState): number {
  const s = state.step;
  const n = typeof s === 'number' ? s : s ? s.item() : NaN;
  if (Number.isNaN(n)) throw new Error('AdamW: the state has exp_avg but no step; the state dict is not an AdamW one');
  if (s && typeof s !== 'number') s.dispose();
  state.step = n + 1;
  return n + 1;
}

/** The step counter; an old-style numeric step becomes a tensor, as PyTorch's __setstate__ does. */
function stepTensor(state: ParamState): Tensor {
  const s = state.step;
  if (typeof s === 'number') { state.step = keep(tensor(s)); return state.step; }
  if (!s) throw new Error('AdamW: the state has exp_avg but no step; the state dict is not an AdamW one');
  return s;
}
