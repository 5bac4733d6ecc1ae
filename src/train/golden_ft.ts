// Reproduce the reference's fine-tuning fixtures (shared/golden/README.md "Fine-tuning fixtures"):
//   ft_<case>.safetensors  (__metadata__.kind = "finetune"): build the case's classifier, load `state.*`,
//     run the two recorded iterations through the SAME recipe and step function that `spark finetune`
//     trains with (schedule, BatchMixup applying the recorded decision, criterion, backward, clipping,
//     timm optimizer, EMA) and compare every quantity under the README's check names;
//   ft_param_groups.json: every registered model's layer-decay table at 1000 classes.
// Tolerances: the fixture's own `tolerances` where listed, else the README's floors (golden.ts CheckList).
import { openSync, readSync, closeSync, readFileSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { nn, type Tensor } from '../torch/index.js';
import { loadSafetensors } from '../torch/io/tensor_bridge.js';
import { ResNet, ConvNeXt, createClassifier, isModelName, listModels } from '../models/index.js';
import { CheckList, parseTolerances, relativeError, maxAbsError, buildCaseNetwork, requireField, type Check, type CaseNetwork } from './golden.js';
import { getParamGroupsWithNames } from './param_groups.js';
import { createFinetuneRecipe, finetuneStep, type FinetuneOptimizerName, type FinetuneRecipe } from './finetune/step.js';
import type { MixDecision } from './finetune/mixup.js';

/** The README's floors for fine-tuning checks. */
export const FT_TOLERANCE = {
  /** param_groups and it<i>.lr / it<i>.wd: the same float64 arithmetic */
  exact: 1e-12,
  /** it<i>.mixed_input, it<i>.soft_target: max abs */
  mixed: 1e-6,
  /** it<i>.loss: relative */
  loss: 1e-5,
  /** gradients, state and EMA tensors: relative norm-wise */
  tensor: 1e-4,
  /** integer buffers: exactly */
  integer: 0,
} as const;

export interface FinetuneCase extends CaseNetwork {
  name: string;
  num_classes: number;
  input_size: number;
  batch: number;
  mixup: number;
  ema: number;
  clip: number;
  seed: number;
  opt: { name: FinetuneOptimizerName; lr: number; wd: number; lr_scale: number; wp_it: number; max_it: number };
}

interface RecordedIteration {
  loss: number;
  lam: number;
  lam_drawn: number;
  use_cutmix: boolean;
  bbox: [number, number, number, number] | null;
  lr: [number, number];
  wd: [number, number];
}

export interface FinetuneVerifyResult { name: string; summary: string; pass: boolean; checks: Check[] }

/** The `__metadata__` of a safetensors file, read from its header alone. */
export function readSafetensorsMetadata(path: string): Record<string, string> {
  const fd = openSync(path, 'r');
  try {
    const len = Buffer.alloc(8);
    if (readSync(fd, len, 0, 8, 0) !== 8) throw new Error(`${path} is not a safetensors file (shorter than its 8-byte header length)`);
    const n = Number(len.readBigUInt64LE(0));
    if (!(n > 0 && n < 1e8)) throw new Error(`${path} is not a safetensors file (header length ${n})`);
    const head = Buffer.alloc(n);
    if (readSync(fd, head, 0, n, 8) !== n) throw new Error(`${path} is truncated inside its safetensors header`);
    const h = JSON.parse(head.toString('utf8')) as { __metadata__?: Record<string, string> };
    return h.__metadata__ ?? {};
  } finally {
    closeSync(fd);
  }
}

/** Whether a safetensors file is a fine-tuning fixture (metadata kind "finetune"). */
export function isFinetuneFixture(path: string): boolean {
  return readSafetensorsMetadata(path).kind === 'finetune';
}

const req = <T>(v: T | undefined | null, field: string): T => requireField(v, field, 'fine-tuning fixture case');

/** The classifier a fixture's case describes (ResNet stem width = channels[0], head from the last stage). */
export function buildFinetuneCaseModel(c: FinetuneCase): ResNet | ConvNeXt {
  return buildCaseNetwork(c, { what: 'fine-tuning fixture case', numClasses: c.num_classes, defaultBlock: 'bottleneck', skipInit: true });
}

/** {param name: [lr_scale, weight_decay_scale]} as our param groups assign them. */
export function paramGroupTable(model: nn.Module, lrScale: number): Map<string, [number, number]> {
  const { groups, names } = getParamGroupsWithNames(model, { lrScale });
  const out = new Map<string, [number, number]>();
  groups.forEach((g, i) => names[i].forEach((n) => out.set(n, [g.lr_scale, g.weight_decay_scale])));
  return out;
}

/** Max abs difference of two tables; Infinity when their parameter names differ. */
export function tableError(ours: Map<string, [number, number]>, ref: Record<string, [number, number]>): number {
  const refNames = Object.keys(ref);
  if (refNames.length !== ours.size || refNames.some((n) => !ours.has(n))) return Infinity;
  let worst = 0;
  for (const n of refNames) {
    const [a, b] = ours.get(n)!, [ra, rb] = ref[n];
    worst = Math.max(worst, Math.abs(a - ra), Math.abs(b - rb));
  }
  return worst;
}

const relScalar = (a: number, b: number): number => Math.abs(a - b) / Math.max(Math.abs(b), 1e-12);
const relPair = (a: [number, number], b: [number, number]): number => Math.max(relScalar(a[0], b[0]), relScalar(a[1], b[1]));

/** The recorded decision of one iteration, as BatchMixup.apply takes it. */
export function recordedDecision(it: RecordedIteration): MixDecision {
  return it.use_cutmix && it.lam_drawn !== 1
    ? { lamDrawn: it.lam_drawn, useCutmix: true, bbox: req(it.bbox, 'bbox') }
    : { lamDrawn: it.lam_drawn, useCutmix: it.use_cutmix };
}

/** Run one fine-tuning fixture on `device` and compare every quantity. */
export function verifyFinetuneFixture(path: string, o: { device?: string } = {}): FinetuneVerifyResult {
  const device = o.device ?? 'cpu';
  if (device.startsWith('cuda')) torch.cuda.setAllowTF32(false);
  const { tensors: file, metadata } = loadSafetensors(path);
  const models: nn.Module[] = [];
  let recipe: FinetuneRecipe | null = null;
  try {
    if (metadata.kind !== 'finetune' || !metadata.case) throw new Error(`${path} is not a fine-tuning fixture: its metadata lacks kind "finetune" or 'case' (see shared/golden/README.md)`);
    const c = JSON.parse(metadata.case) as FinetuneCase;
    const iterations = JSON.parse(req(metadata.iterations, 'iterations')) as RecordedIteration[];
    const refTable = JSON.parse(req(metadata.param_groups, 'param_groups')) as Record<string, [number, number]>;
    const get = (k: string): Tensor => {
      const t = file.get(k);
      if (!t) throw new Error(`${path} lacks tensor '${k}'`);
      return t;
    };
    const onDev = (t: Tensor): Tensor => (device === 'cpu' ? t : t.to({ device }));
    const list = new CheckList(parseTolerances(metadata, path), path);
    const add = list.add.bind(list);

    const initial = new Map<string, Tensor>();
    for (const [k, v] of file) if (k.startsWith('state.')) initial.set(k.slice('state.'.length), v);
    const model = buildFinetuneCaseModel(c); models.push(model);
    const emaModule = buildFinetuneCaseModel(c); models.push(emaModule);
    model.loadStateDict(initial);
    if (device !== 'cpu') { model.to(device); emaModule.to(device); }

    // the reference's parameter order too: ModelEmaV2 and optimizer state dicts pair entries by position
    const refNames = JSON.parse(req(metadata.param_names, 'param_names')) as string[];
    const sameOrder = refNames.join('\n') === model.namedParameters().map(([n]) => n).join('\n');
    add('param_groups', sameOrder ? tableError(paramGroupTable(model, c.opt.lr_scale), refTable) : Infinity, FT_TOLERANCE.exact);

    recipe = torch.tidy(() => createFinetuneRecipe(model, {
      opt: c.opt.name, lr: c.opt.lr, wd: c.opt.wd, lrScale: c.opt.lr_scale, clip: c.clip, mixup: c.mixup,
      numClasses: c.num_classes, warmupIters: c.opt.wp_it, maxIters: c.opt.max_it, seed: c.seed,
    }, { module: emaModule, decay: c.ema }));
    const r = recipe;
    iterations.forEach((rec, it) => {
      const res = torch.tidy(() => finetuneStep(r, { input: onDev(get(`it${it}.input`)), target: onDev(get(`it${it}.target`)) }, it, {
        decision: recordedDecision(rec),
        observe: {
          mixed: (x, soft) => {
            add(`it${it}.mixed_input`, maxAbsError(x, get(`it${it}.mixed_input`)), FT_TOLERANCE.mixed);
            add(`it${it}.soft_target`, maxAbsError(soft, get(`it${it}.soft_target`)), FT_TOLERANCE.mixed);
          },
          gradients: (m) => {
            if (it !== 0) return;
            for (const [name, p] of m.namedParameters()) {
              const g = p.grad;
              add(`it0.grad.${name}`, g ? relativeError(g, get(`it0.grad.${name}`)) : Infinity, FT_TOLERANCE.tensor);
            }
          },
        },
      }));
      add(`it${it}.lr`, relPair(res.lr, rec.lr), FT_TOLERANCE.exact);
      add(`it${it}.wd`, relPair(res.wd, rec.wd), FT_TOLERANCE.exact);
      add(`it${it}.loss`, relScalar(res.loss, rec.loss), FT_TOLERANCE.loss);
    });
    const compareState = (prefix: string, sd: Map<string, Tensor>): void => {
      for (const [k, ref] of file) {
        if (!k.startsWith(prefix)) continue;
        const name = k.slice(prefix.length);
        const ours = sd.get(name);
        if (!ours) { add(k, Infinity, FT_TOLERANCE.tensor); continue; }
        const integer = !ref.dtype.startsWith('float') && !ref.dtype.startsWith('bfloat');
        add(k, integer ? maxAbsError(ours, ref) : relativeError(ours, ref), integer ? FT_TOLERANCE.integer : FT_TOLERANCE.tensor);
      }
    };
    compareState('after.state.', model.stateDict());
    compareState('after.ema.', emaModule.stateDict());
    const checks = list.finish();
    const mix = c.mixup > 0 ? `mixup ${c.mixup}` : 'no mixing';
    return {
      name: c.name,
      summary: `fine-tuning case ${c.name} (${c.arch}, ${c.num_classes} classes, input ${c.input_size}, batch ${c.batch}, ${c.opt.name}, lr_scale ${c.opt.lr_scale}, ${mix}, EMA ${c.ema})`,
      pass: checks.every((ch) => ch.pass),
      checks,
    };
  } finally {
    recipe?.optimizer.disposeState();
    for (const m of models) for (const t of [...m.parameters(), ...m.buffers()]) t.dispose();
    for (const t of file.values()) t.dispose();
  }
}

/**
 * `ft_param_groups.json`: for each model, the registry's classifier with 1000 classes at the table's
 * lr_scale must give every parameter the table's [lr_scale, weight_decay_scale] (check `param_groups.<model>`).
 */
export function verifyParamGroupTables(path: string): FinetuneVerifyResult {
  let tables: Record<string, { lr_scale: number; groups: Record<string, [number, number]> }>;
  try {
    tables = JSON.parse(readFileSync(path, 'utf8'));
  } catch (e) {
    throw new Error(`${path} is not a param-group table (JSON {model: {lr_scale, groups}}): ${(e as Error).message}`);
  }
  if (typeof tables !== 'object' || tables === null || Array.isArray(tables)) throw new Error(`${path} is not a param-group table (JSON {model: {lr_scale, groups}})`);
  const list = new CheckList(new Map(), path);
  for (const [name, t] of Object.entries(tables)) {
    if (!isModelName(name)) throw new Error(`${path}: model '${name}' is not registered; known models: ${listModels().join(', ')}`);
    if (typeof t?.lr_scale !== 'number' || typeof t.groups !== 'object') throw new Error(`${path}: entry '${name}' needs a numeric lr_scale and a groups object`);
    // only names, shapes and the layer-id rule matter: no init at all (the large ConvNeXts have 200M weights)
    const m = nn.init.withoutDefaultInit(() => createClassifier(name, { numClasses: 1000, skipInit: true }));
    try {
      list.add(`param_groups.${name}`, tableError(paramGroupTable(m, t.lr_scale), t.groups), FT_TOLERANCE.exact);
    } finally {
      for (const p of [...m.parameters(), ...m.buffers()]) p.dispose();
    }
  }
  const checks = list.finish();
  return { name: 'param_groups', summary: `layer-wise lr decay tables (${Object.keys(tables).join(', ')})`, pass: checks.every((c) => c.pass), checks };
}
