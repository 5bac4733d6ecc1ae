// Deterministic release of native memory (DESIGN.md "Memory").
// tidy(fn) frees every tensor created inside except what fn returns and what was keep()-ed.
// Finalizers in the addon are only a safety net: they run whenever V8 gets to them.
import { native } from './native.js';

/** What a tensor must offer to be tracked by scopes (avoids an import cycle with tensor.ts). */
export interface Disposable {
  dispose(): void;
  readonly isDisposed: boolean;
  /** true once keep()-ed: never freed by tidy */
  kept: boolean;
}

const scopes: Set<Disposable>[] = [];

export function track(t: Disposable): void {
  if (scopes.length) scopes[scopes.length - 1].add(t);
}

/** Exclude a tensor from every enclosing tidy; it lives until dispose() (or GC). */
export function keep<T extends Disposable>(t: T): T {
  t.kept = true;
  for (const s of scopes) s.delete(t);
  return t;
}

function collect(v: unknown, out: Set<Disposable>, depth = 0): void {
  if (v === null || typeof v !== 'object' || depth > 4) return;
  if (typeof (v as Disposable).dispose === 'function' && 'kept' in (v as object)) { out.add(v as Disposable); return; }
  if (Array.isArray(v)) { for (const x of v) collect(x, out, depth + 1); return; }
  if (v instanceof Map) { for (const x of v.values()) collect(x, out, depth + 1); return; }
  if (Object.getPrototypeOf(v) === Object.prototype) for (const x of Object.values(v)) collect(x, out, depth + 1);
}

/**
 * Run fn and free every tensor it created, except the tensors in its result (a tensor, or arrays /
 * plain objects / Maps of them) and keep()-ed ones. Results move to the enclosing scope.
 * fn must be synchronous: an async fn would let other work's tensors into this scope.
 */
export function tidy<T>(fn: () => T): T {
  const scope = new Set<Disposable>();
  scopes.push(scope);
  let result: T;
  try {
    result = fn();
    if (result instanceof Promise) throw new Error('tidy(fn): fn returned a Promise; tidy only accepts synchronous functions');
  } catch (e) {
    scopes.pop();
    for (const t of scope) if (!t.kept) t.dispose();
    throw e;
  }
  scopes.pop();
  const survivors = new Set<Disposable>();
  collect(result, survivors);
  for (const t of scope) if (!survivors.has(t) && !t.kept) t.dispose();
  const parent = scopes[scopes.length - 1];
  if (parent) for (const t of survivors) if (!t.kept && !t.isDisposed) parent.add(t);
  return result;
}

/** Dispose tensors (or nested arrays / objects of them). */
export function dispose(v: unknown): void {
  const all = new Set<Disposable>();
  collect(v, all);
  for (const t of all) t.dispose();
}

/** Number of native tensor handles alive (not disposed, not finalized): for leak tests. */
export function liveTensorCount(): number {
  return native.liveTensorCount();
}

/**
 * Native memory as V8 sees it: `reportedBytes` is what sparkts has reported (CPU tensor storages, each
 * counted once, by the first handle that owned it alone); `v8ExternalBytes` is V8's whole external
 * total, which GC heuristics use. Neither shows up in process.memoryUsage().
 */
export function nativeMemory(): { reportedBytes: number; v8ExternalBytes: number } {
  const [reportedBytes, v8ExternalBytes] = native.externalMemory() as [number, number];
  return { reportedBytes, v8ExternalBytes };
}

/** Counters of the caching CPU allocator (native/src/cpu_allocator.cc) for blocks of 1 MiB and more. */
export interface CpuAllocatorStats {
  /** false when SPARKTS_CPU_ALLOCATOR=system kept libtorch's default (malloc) allocator */
  caching: boolean;
  liveBytes: number;
  cachedBytes: number;
  /** the most that live + cached ever held: roughly the allocator's share of the peak resident size */
  highWaterBytes: number;
  freshMaps: number;
  reuses: number;
  unmaps: number;
}

/**
 * libtorch's CPU tensors come from sparkts's caching allocator: freed blocks are kept and handed out
 * again, because a training step allocates the same sizes every iteration and fresh memory costs a
 * page fault per 4 KiB page. These are its counters.
 */
export function cpuAllocatorStats(): CpuAllocatorStats {
  return native.cpuAllocatorStats();
}

/** Give every cached (free) CPU block back to the operating system, e.g. before a long idle spell. */
export function emptyCpuCache(): void {
  native.cpuAllocatorEmptyCache();
}
