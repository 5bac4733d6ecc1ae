// The reference's per-iteration learning-rate / weight-decay schedule (SparK pretrain/utils/lr_control.py
// lr_wd_annealing): linear warmup from 0.5% of the peak, then cosine down to 0.1% of the peak at the
// last iteration; weight decay follows a cosine from wd to wd_end over the whole run. Each group gets
// lr·lr_scale and wd·weight_decay_scale (scales default to 1).
import type { Optimizer } from '../torch/optim/index.js';

/** Python's round(): halves go to the even neighbour (round(2.5) = 2), unlike Math.round. */
export function pyRound(x: number): number {
  const f = Math.floor(x);
  const d = x - f;
  if (d > 0.5) return f + 1;
  if (d < 0.5) return f;
  return f % 2 === 0 ? f : f + 1;
}

/** The unscaled lr and wd at iteration curIt (what lrWdAnnealing assigns before the group scales). */
export function lrWdAt(peakLr: number, wd: number, wdEnd: number, curIt: number, warmupIt: number, maxIt: number): { lr: number; wd: number } {
  const wpIt = pyRound(warmupIt);
  if (!(maxIt > 1)) throw new Error(`lrWdAnnealing: maxIt must be at least 2 (the schedule divides by maxIt - 1), got ${maxIt}`);
  let lr: number;
  if (curIt < wpIt) {
    lr = 0.005 * peakLr + 0.995 * peakLr * curIt / wpIt;
  } else {
    if (maxIt - 1 - wpIt === 0) throw new Error(`lrWdAnnealing: the warmup (${wpIt} iterations) must end before the last iteration (${maxIt - 1}); shorten the warmup or train longer`);
    const ratio = (curIt - wpIt) / (maxIt - 1 - wpIt);
    lr = 0.001 * peakLr + 0.999 * peakLr * (0.5 + 0.5 * Math.cos(Math.PI * ratio));
  }
  const ratio = curIt / (maxIt - 1);
  const w = wdEnd + (wd - wdEnd) * (0.5 + 0.5 * Math.cos(Math.PI * ratio));
  return { lr, wd: w };
}

/**
 * Set every group's lr and weight_decay for iteration curIt (0-based, over all epochs) and return
 * [minLr, maxLr, minWd, maxWd] over the unscaled values and the groups' values, as the reference.
 */
export function lrWdAnnealing(
  optimizer: Optimizer, peakLr: number, wd: number, wdEnd: number, curIt: number, warmupIt: number, maxIt: number,
): [number, number, number, number] {
  const cur = lrWdAt(peakLr, wd, wdEnd, curIt, warmupIt, maxIt);
  let minLr = cur.lr, maxLr = cur.lr, minWd = cur.wd, maxWd = cur.wd;
  for (const g of optimizer.paramGroups) {
    const lr = cur.lr * scale(g.lr_scale, 'lr_scale');
    g.lr = lr;
    minLr = Math.min(minLr, lr); maxLr = Math.max(maxLr, lr);
    const w = cur.wd * scale(g.weight_decay_scale, 'weight_decay_scale');
    g.weight_decay = w;
    minWd = Math.min(minWd, w); maxWd = Math.max(maxWd, w);
  }
  return [minLr, maxLr, minWd, maxWd];
}

function scale(v: unknown, key: string): number {
  if (v === undefined) return 1;
  if (typeof v !== 'number') throw new Error(`lrWdAnnealing: param group option '${key}' must be a number, got ${JSON.stringify(v)}`);
  return v;
}

/**
 * The fine-tuning schedule (downstream_imagenet/lr_decay.py lr_wd_annealing): the same lr curve,
 * weight decay held constant (the pretraining formula with wd_end = wd gives exactly wd), each
 * group's lr = lr·lr_scale and wd = wd·weight_decay_scale. Returns [minLr, maxLr, minWd, maxWd].
 */
export function finetuneLrWdAnnealing(
  optimizer: Optimizer, peakLr: number, wd: number, curIt: number, warmupIt: number, maxIt: number,
): [number, number, number, number] {
  return lrWdAnnealing(optimizer, peakLr, wd, wd, curIt, warmupIt, maxIt);
}
