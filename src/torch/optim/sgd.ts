// torch.optim.SGD (PyTorch 1.13's single-tensor path, op for op): weight decay added to the gradient,
// momentum whose buffer starts as a copy of the first step's gradient, dampening, Nesterov.
import type { Tensor } from '../tensor.js';
import { keep, tidy } from '../memory.js';
import { Optimizer, REQUIRED, check, type ParamGroupInput } from './optimizer.js';

export interface SGDOptions {
  lr?: number;
  momentum?: number;
  dampening?: number;
  weight_decay?: number;
  nesterov?: boolean;
  maximize?: boolean;
}

export class SGD extends Optimizer {
  constructor(params: Tensor[] | ParamGroupInput[], opts: SGDOptions = {}) {
    const { lr, momentum = 0, dampening = 0, weight_decay = 0, nesterov = false, maximize = false } = opts;
    check(lr === undefined || lr >= 0, `SGD: invalid learning rate ${lr} (must be >= 0)`);
    check(momentum >= 0, `SGD: invalid momentum ${momentum} (must be >= 0)`);
    check(weight_decay >= 0, `SGD: invalid weight_decay ${weight_decay} (must be >= 0)`);
    check(!nesterov || (momentum > 0 && dampening === 0), 'SGD: Nesterov momentum requires a momentum and zero dampening');
    super(params, { lr: lr ?? REQUIRED, momentum, dampening, weight_decay, nesterov, maximize });
  }

  protected update(): void {
    for (const g of this.paramGroups) {
      const lr = this.num(g, 'lr'), momentum = this.num(g, 'momentum'), dampening = this.num(g, 'dampening');
      const wd = this.num(g, 'weight_decay'), nesterov = this.flag(g, 'nesterov'), maximize = this.flag(g, 'maximize');
      for (const p of g.params) {
        tidy(() => {
          const grad = p.grad;
          if (!grad) return;
          const state = this.stateFor(p);
          let dp = maximize ? grad.neg() : grad;
          if (wd !== 0) dp = dp.add(p, wd);
          let buf = (state.momentum_buffer ?? null) as Tensor | null;
          if (momentum !== 0) {
            if (buf === null) {
              buf = keep(dp.clone()); // torch.clone(d_p).detach(); no graph is recorded here anyway
            } else {
              buf.mul_(momentum).add_(dp, 1 - dampening);
            }
            dp = nesterov ? dp.add(buf, momentum) : buf;
          }
          p.add_(dp, -lr);
          // PyTorch stores the buffer for every param that had a gradient, None without momentum
          state.momentum_buffer = buf;
        });
      }
    }
  }
}
