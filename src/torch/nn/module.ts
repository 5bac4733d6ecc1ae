// Module: PyTorch's module tree with the same state-dict names and order.
// Children, parameters and buffers are registered explicitly (TypeScript has no __setattr__), in the
// order PyTorch's __init__ assigns them, because that order is the state-dict order.
import { Tensor } from '../tensor.js';
import { native } from '../native.js';
import { keep } from '../memory.js';
import { noGrad } from '../autograd.js';
import type { DType, Device } from '../dtype.js';

/**
 * The context that travels with a forward pass. Dense use passes nothing. SparK's sparse encoder
 * passes `mask`: layers then mask their outputs and normalise over visible positions only, so one
 * module tree (one set of weights) serves pretraining and fine-tuning.
 */
export interface ForwardContext {
  /** The visible-position mask at a resolution: bool (N,1,h,w). Set only during sparse execution. */
  mask?: (h: number, w: number) => Tensor;
  /** Where a module sits in the model run sparsely (its state-dict prefix), for error messages. */
  pathOf?: (m: Module) => string | undefined;
}

/** true for a ForwardContext that carries a mask, or an encoder options bag `{ctx}` holding one. */
function carriesMask(a: unknown): a is ForwardContext | { ctx: ForwardContext } {
  if (a === null || typeof a !== 'object' || a instanceof Tensor) return false;
  const o = a as { mask?: unknown; ctx?: { mask?: unknown } };
  return typeof o.mask === 'function' || typeof o.ctx?.mask === 'function';
}

/**
 * The error for a module that has no sparse form but was reached by a mask context: it names the
 * layer and its module path, so that sparse execution is never silently dense.
 */
export function noSparseForm(m: Module, ctx: ForwardContext | undefined, why: string): Error {
  const path = ctx?.pathOf?.(m);
  const where = path === undefined ? 'at an unknown module path (build the context with sparseContext(active, { root: model }) to name it)'
    : `at '${path || '<root>'}'`;
  return new Error(`${m.constructor.name} ${where} has no sparse form: ${why}`);
}

export interface LoadReport { missingKeys: string[]; unexpectedKeys: string[] }

/** Mark a tensor as a trainable parameter: requires grad, never freed by tidy. */
export function parameter(t: Tensor): Tensor {
  if (!t.requiresGrad) t.requiresGrad = true;
  return keep(t);
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any
export abstract class Module<I extends unknown[] = any[], O = any> {
  /**
   * Whether this class's forward implements sparse execution when its ForwardContext carries a mask:
   * masked positions come out exactly 0 and statistics and pools use visible positions only. A
   * subclass inherits its parent's declaration. A childless module whose class does not declare it
   * refuses a mask context with one error naming it and its path (see noSparseForm), rather than run
   * densely inside a sparse encoder. Modules with children are containers: they pass the context on
   * to their children, which check it themselves; ops a container computes itself in its forward are
   * its author's to make sparse (nn.functional takes a ctx for pooling and interpolation).
   */
  static sparseAware = false;
  training = true;
  #params = new Map<string, Tensor | null>();
  #buffers = new Map<string, Tensor | null>();
  #nonPersistent = new Set<string>();
  #modules = new Map<string, Module>();

  abstract forward(...args: I): O;

  constructor() {
    if (!(new.target as typeof Module).sparseAware) {
      // the class has no sparse form: wrap this instance's forward with the check (declared classes,
      // the library's layers, pay nothing)
      const self = this as unknown as { forward: (...a: unknown[]) => unknown };
      const dense = self.forward;
      self.forward = function checkedForward(this: Module, ...args: unknown[]): unknown {
        if (this.#modules.size === 0) {
          const c = args.find(carriesMask);
          if (c) {
            const ctx = 'ctx' in c ? c.ctx : c;
            throw noSparseForm(this, ctx, `its class does not declare sparse execution (static sparseAware = true); use sparse-aware layers inside the encoder, or implement the masked semantics in ${this.constructor.name}.forward and declare it`);
          }
        }
        return dense.apply(this, args);
      };
    }
  }
  /** Same as forward (PyTorch's __call__). */
  call(...args: I): O { return this.forward(...args); }

  registerParameter(name: string, t: Tensor | null): Tensor {
    if (t) parameter(t);
    this.#params.set(name, t);
    return t as Tensor;
  }
  registerBuffer(name: string, t: Tensor | null, persistent = true): Tensor {
    if (t) keep(t);
    this.#buffers.set(name, t);
    if (!persistent) this.#nonPersistent.add(name);
    return t as Tensor;
  }
  registerModule<M extends Module>(name: string, m: M): M {
    this.#modules.set(name, m);
    return m;
  }
  /** Replace a registered parameter/buffer tensor (same name, same position in the state dict). */
  setTensor(name: string, t: Tensor): void {
    if (this.#params.has(name)) this.registerParameter(name, t);
    else if (this.#buffers.has(name)) this.#buffers.set(name, keep(t));
    else throw new Error(`${this.constructor.name} has no parameter or buffer '${name}'`);
  }
  getParameter(name: string): Tensor | null { return this.#params.get(name) ?? null; }
  getBuffer(name: string): Tensor | null { return this.#buffers.get(name) ?? null; }
  getModule(name: string): Module | undefined { return this.#modules.get(name); }

  namedChildren(): [string, Module][] { return [...this.#modules]; }
  children(): Module[] { return [...this.#modules.values()]; }
  namedModules(prefix = ''): [string, Module][] {
    const out: [string, Module][] = [[prefix, this]];
    for (const [n, m] of this.#modules) out.push(...m.namedModules(prefix ? `${prefix}.${n}` : n));
    return out;
  }
  modules(): Module[] { return this.namedModules().map(([, m]) => m); }

  namedParameters(prefix = '', recurse = true): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    const seen = new Set<Tensor>();
    for (const [mp, m] of recurse ? this.namedModules(prefix) : [[prefix, this] as [string, Module]]) {
      for (const [n, p] of m.#params) if (p && !seen.has(p)) { seen.add(p); out.push([mp ? `${mp}.${n}` : n, p]); }
    }
    return out;
  }
  parameters(recurse = true): Tensor[] { return this.namedParameters('', recurse).map(([, p]) => p); }
  namedBuffers(prefix = '', recurse = true): [string, Tensor][] {
    const out: [string, Tensor][] = [];
    for (const [mp, m] of recurse ? this.namedModules(prefix) : [[prefix, this] as [string, Module]]) {
      for (const [n, b] of m.#buffers) if (b) out.push([mp ? `${mp}.${n}` : n, b]);
    }
    return out;
  }
  buffers(recurse = true): Tensor[] { return this.namedBuffers('', recurse).map(([, b]) => b); }
  /** Number of parameter elements (PyTorch's sum(p.numel() for p in m.parameters())). */
  numParameters(): number { return this.parameters().reduce((a, p) => a + p.numel, 0); }

  /**
   * The state dict in PyTorch's order: a module's parameters, then its persistent buffers, then its
   * children's, depth first. The tensors are the live ones (not copies).
   */
  stateDict(prefix = ''): Map<string, Tensor> {
    const out = new Map<string, Tensor>();
    const visit = (m: Module, p: string): void => {
      for (const [n, t] of m.#params) if (t) out.set(p + n, t);
      for (const [n, t] of m.#buffers) if (t && !m.#nonPersistent.has(n)) out.set(p + n, t);
      for (const [n, c] of m.#modules) visit(c, `${p}${n}.`);
    };
    visit(this, prefix);
    return out;
  }

  /**
   * Copy tensors into this module's parameters and buffers (values are copied; dtype converted).
   * strict: missing or unexpected keys throw one error listing them. A shape mismatch always throws.
   */
  loadStateDict(sd: Map<string, Tensor> | Record<string, Tensor>, opts: { strict?: boolean } = {}): LoadReport {
    const strict = opts.strict ?? true;
    const src = sd instanceof Map ? sd : new Map(Object.entries(sd));
    const own = this.stateDict();
    const missingKeys = [...own.keys()].filter((k) => !src.has(k));
    const unexpectedKeys = [...src.keys()].filter((k) => !own.has(k));
    if (strict && (missingKeys.length || unexpectedKeys.length)) {
      throw new Error(`loadStateDict: state dict does not match the model` +
        (missingKeys.length ? `; missing keys: ${missingKeys.join(', ')}` : '') +
        (unexpectedKeys.length ? `; unexpected keys: ${unexpectedKeys.join(', ')}` : ''));
    }
    for (const [k, dst] of own) {
      const v = src.get(k);
      if (!v) continue;
      const a = dst.shape, b = v.shape;
      if (a.length !== b.length || a.some((d, i) => d !== b[i])) {
        throw new Error(`loadStateDict: size mismatch for ${k}: the checkpoint has [${b}], the model has [${a}]`);
      }
    }
    noGrad(() => {
      for (const [k, dst] of own) { const v = src.get(k); if (v) dst.copy_(v); }
    });
    return { missingKeys, unexpectedKeys };
  }

  train(mode = true): this { for (const m of this.modules()) m.training = mode; return this; }
  eval(): this { return this.train(false); }
  /** fn on every submodule, children first (in order), then this module: PyTorch's apply order. */
  apply(fn: (m: Module) => void): this { for (const c of this.children()) c.apply(fn); fn(this); return this; }
  /**
   * Free every parameter and buffer of this module tree (they are kept out of tidy(), so a module
   * dropped without this lives until GC). The module must not be used afterwards.
   */
  dispose(): void {
    for (const m of this.modules()) for (const t of [...m.#params.values(), ...m.#buffers.values()]) t?.dispose();
  }
  /** Set every parameter's gradient to None (PyTorch's zero_grad(set_to_none=True)). */
  zeroGrad(): void { for (const p of this.parameters()) p.grad = null; }

  /** Move/cast parameters and buffers in place (identity kept, as PyTorch's param.data = ...). */
  to(target: Device | DType | { device?: Device; dtype?: DType }): this {
    const t = typeof target === 'string' ? (isDtype(target) ? { dtype: target } : { device: target }) : target;
    noGrad(() => {
      for (const m of this.modules()) {
        for (const x of [...m.#params.values(), ...m.#buffers.values()]) {
          if (!x) continue;
          // only floating tensors change dtype (num_batches_tracked stays int64), as in PyTorch
          const dtype = t.dtype && ['float32', 'float64', 'float16', 'bfloat16'].includes(x.dtype) ? t.dtype : undefined;
          if (!dtype && (!t.device || x.device === normDevice(t.device))) continue;
          const moved = x.to({ device: t.device, dtype });
          native.setData(x.handle, moved.handle);
          moved.dispose();
        }
      }
    });
    // cached metadata on the Tensor objects is stale now
    for (const x of [...this.parameters(), ...this.buffers()]) x.resetMeta();
    return this;
  }
}

function isDtype(s: string): s is DType {
  return ['float32', 'float64', 'float16', 'bfloat16', 'int64', 'int32', 'int16', 'int8', 'uint8', 'bool'].includes(s);
}
function normDevice(d: string): string { return d === 'cuda' ? 'cuda:0' : d; }
