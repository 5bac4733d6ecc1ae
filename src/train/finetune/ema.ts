// timm 0.5.4's ModelEmaV2 (what the reference fine-tunes with): a copy of the model whose whole state
// dict — parameters AND buffers, matched by order, not by name — moves toward the model's after every
// step: ema = d·ema + (1−d)·model, written back into the EMA tensor's dtype with copy_ (an int64
// buffer such as num_batches_tracked gets the float result truncated, as PyTorch's copy_ does).
import * as torch from '../../torch/index.js';
import type { Tensor, nn } from '../../torch/index.js';

export class ModelEmaV2 {
  /**
   * `module` is a second instance of the model's architecture (PyTorch's deepcopy has no counterpart
   * here): its state is overwritten with the model's now, and it stays in eval mode.
   */
  constructor(readonly module: nn.Module, public decay: number, model?: nn.Module) {
    if (!(decay >= 0 && decay <= 1)) throw new Error(`ModelEmaV2: decay must be in [0, 1], got ${decay}`);
    module.eval();
    if (model) this.set(model);
  }

  private pairs(model: nn.Module): [Tensor, Tensor][] {
    const ema = [...this.module.stateDict()], cur = [...model.stateDict()];
    if (ema.length !== cur.length) {
      throw new Error(`ModelEmaV2: the EMA has ${ema.length} state entries but the model has ${cur.length}; build the EMA from the same architecture`);
    }
    return ema.map(([k, e], i) => {
      const [km, m] = cur[i];
      if (k !== km || e.shape.join() !== m.shape.join()) {
        throw new Error(`ModelEmaV2: state entry ${i} is '${k}' [${e.shape}] in the EMA but '${km}' [${m.shape}] in the model; build the EMA from the same architecture`);
      }
      return [e, m];
    });
  }

  private apply(model: nn.Module, fn: (e: Tensor, m: Tensor) => Tensor): void {
    torch.noGrad(() => {
      for (const [e, m] of this.pairs(model)) {
        torch.tidy(() => { e.copy_(fn(e, m.device === e.device ? m : m.to({ device: e.device }))); });
      }
    });
  }

  /** One EMA step: ema = decay·ema + (1 − decay)·model, for every state entry in order. */
  update(model: nn.Module): void {
    const d = this.decay;
    this.apply(model, (e, m) => e.mul(d).add(m.mul(1 - d)));
  }

  /** Copy the model's state into the EMA. */
  set(model: nn.Module): void {
    this.apply(model, (_e, m) => m);
  }
}
