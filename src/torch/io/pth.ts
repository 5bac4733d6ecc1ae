// PyTorch's .pth/.pt format (torch.save since 1.6): a stored zip whose records all live under one
// folder, `<folder>/data.pkl` (a protocol-2 pickle of the saved object) and `<folder>/data/<key>`
// (one record per storage, raw little-endian bytes), plus `<folder>/version` ("3\n"). Tensors are
// pickled as torch._utils._rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad,
// backward_hooks), the storage being a persistent id ('storage', torch.<X>Storage, key, location,
// numel). Here tensors become contiguous RawTensors; everything else stays a PyValue (pyvalue.ts).
//
// Reading trusts nothing in the file (as torch.load(weights_only=True)): the pickle may only name
// tensor rebuilds, storage classes and plain containers (unpickle.ts); a storage must be a stored zip
// entry whose bytes are all present and match its declared element count; a view must lie inside
// its storage; and the tensors of one file may not expand to more than MAX_EXPANSION (stride-0
// views) before anything is allocated. Zip names must stay inside the archive's folder.
import fs from 'node:fs';
import nodePath from 'node:path';
import { writeFileAtomic } from './atomic.js';
import { type DType, type RawTensor, dtypeFromStorageClass, itemSize, storageClassName } from './dtypes.js';
import { pickle } from './pickle.js';
import {
  type PyValue, PyGlobal, PyObject, PyOrderedDict, PyPersistent, PyTuple, isRawTensor, pyTypeName,
} from './pyvalue.js';
import { checkRawTensor, contiguousStrides, gatherStrided, isContiguous, numel } from './raw.js';
import { type PyCallable, unpickle } from './unpickle.js';
import { ZipReader, ZipWriter, type ZipWriterOptions } from './zip.js';

/** A storage that a persistent id named; a PyPersistent so that a bare storage is still a PyValue. */
class StorageRef extends PyPersistent {
  constructor(pid: PyValue, readonly dtype: DType, readonly record: string, readonly numel: number) {
    super(pid);
  }
}

export interface LoadPthResult {
  value: PyValue;
  /** classes/functions outside the allow-list kept as opaque values (only with allowUnknownGlobals) */
  unknownGlobals: string[];
}

export interface LoadPthOptions {
  /**
   * Keep classes/functions outside the allow-list as opaque PyObject/PyGlobal values instead of
   * refusing the file. Only for files you trust: saving what was loaded writes those calls back out
   * for the next Python torch.load to execute. Checkpoints of sparkts and the reference never need it.
   */
  allowUnknownGlobals?: boolean;
  /**
   * Most bytes the tensors of the file may occupy once materialised; default twice the file's size
   * plus MAX_EXPANSION. Only views that repeat elements (stride 0, as expand() makes) come near it.
   */
  maxTensorBytes?: number;
}

/** Room for repeated-element views (expand()) beyond twice the file's own size. */
export const MAX_EXPANSION = 64 * 2 ** 20;

/** Loads a torch.save file; tensors come out as contiguous RawTensors. */
export function loadPth(path: string, opts: LoadPthOptions = {}): PyValue {
  return loadPthDetailed(path, opts).value;
}

export function loadPthDetailed(path: string, opts: LoadPthOptions = {}): LoadPthResult {
  try {
    return load(path, opts);
  } catch (e) {
    // one message, naming the file once, whichever layer (zip, pickle, tensor rebuild) failed
    const msg = (e as Error).message.split(`loadPth ${path}: `).join('').split(`zip ${path}: `).join('');
    throw new Error(`loadPth ${path}: ${msg}`);
  }
}

function load(path: string, opts: LoadPthOptions): LoadPthResult {
  const what = `loadPth ${path}`;
  let zip: ZipReader;
  try {
    zip = ZipReader.open(path);
  } catch (e) {
    throw new Error(explainNotZip(path, what, e as Error));
  }
  try {
    const folder = findFolder(zip, what);
    const budget = new TensorBudget(opts.maxTensorBytes ?? 2 * zip.fileSize + MAX_EXPANSION);
    const byteorder = zip.has(`${folder}/byteorder`) ? new TextDecoder().decode(zip.read(`${folder}/byteorder`)).trim() : 'little';
    if (byteorder !== 'little' && byteorder !== 'big') throw new Error(`${what}: unknown byteorder record ${JSON.stringify(byteorder)}`);

    const persistentLoad = (pid: PyValue): PyValue => {
      const t = pid instanceof PyTuple ? pid.items : [];
      if (t[0] !== 'storage' || t.length < 5) throw new Error(`${what}: unsupported persistent id ${pyTypeName(pid)} (expected ('storage', class, key, location, numel))`);
      const [, cls, key, , n] = t;
      const dtype = cls instanceof PyGlobal && cls.module === 'torch' ? dtypeFromStorageClass(cls.name) : undefined;
      if (!dtype || typeof key !== 'string' || typeof n !== 'bigint') {
        const name = cls instanceof PyGlobal ? cls.qualifiedName : pyTypeName(cls);
        throw new Error(`${what}: unsupported storage ${name} (supported: torch.FloatStorage, DoubleStorage, HalfStorage, BFloat16Storage, LongStorage, IntStorage, ShortStorage, CharStorage, ByteStorage, BoolStorage)`);
      }
      // torch's keys are decimal numbers; anything with a path separator would point outside data/
      if (!/^[A-Za-z0-9_]+$/.test(key)) throw new Error(`${what}: storage key ${JSON.stringify(key)} is not a plain name (corrupt or hostile file)`);
      const record = `${folder}/data/${key}`;
      const entry = zip.entries.get(record);
      if (!entry) throw new Error(`${what}: storage record ${record} is missing (truncated or corrupt file)`);
      // the declared element count against the bytes that are really there, before anything is allocated
      if (BigInt(entry.size) !== n * BigInt(itemSize(dtype))) {
        throw new Error(`${what}: storage ${record} has ${entry.size} bytes, expected ${n} × ${itemSize(dtype)}`);
      }
      if (entry.method !== 0) throw new Error(`${what}: storage ${record} is compressed; torch.save stores storages uncompressed (corrupt or re-packed file)`);
      zip.checkPresent(record);
      return new StorageRef(pid, dtype, record, Number(n));
    };

    const rebuild = (args: PyValue[]): PyValue => rebuildTensor(zip, args, byteorder === 'big', budget);
    const asTensor = (v: PyValue | undefined): PyValue => {
      if (!isRawTensor(v)) throw new Error(`expected a tensor, got ${pyTypeName(v)}`);
      return v;
    };
    const rebuilders: Record<string, PyCallable> = {
      'torch._utils._rebuild_tensor_v2': rebuild,
      'torch._utils._rebuild_tensor': rebuild,
      // nn.Parameter: the tensor itself (a RawTensor has no requires_grad to carry)
      'torch._utils._rebuild_parameter': (args) => asTensor(args[0]),
      'torch._utils._rebuild_parameter_with_state': (args) => asTensor(args[0]),
    };
    const callables: Record<string, PyCallable> = {
      ...rebuilders,
      // tensor subclasses (torch >= 1.12 for Parameter in some paths): func(*args), func one of the
      // rebuilders above (not itself: a chain of them would recurse as deep as the file likes)
      'torch._tensor._rebuild_from_type_v2': (args) => {
        const [fn, , fargs] = args;
        const c = fn instanceof PyGlobal && Object.hasOwn(rebuilders, fn.qualifiedName) ? rebuilders[fn.qualifiedName] : undefined;
        if (!c || !(fargs instanceof PyTuple)) throw new Error(`cannot rebuild a tensor through ${pyTypeName(fn)}`);
        return c(fargs.items);
      },
    };
    const isKnownName = (q: string): boolean => /^torch\.[A-Za-z0-9]+Storage$/.test(q);   // named in persistent ids, never called
    return unpickle(zip.read(`${folder}/data.pkl`), {
      persistentLoad, callables, isKnownName, allowUnknownGlobals: opts.allowUnknownGlobals, what,
    });
  } finally {
    zip.close();
  }
}

function explainNotZip(path: string, what: string, e: Error): string {
  if (!fs.existsSync(path)) return `${what}: file does not exist`;
  let head = new Uint8Array(0);
  try {
    const fd = fs.openSync(path, 'r');
    head = new Uint8Array(2);
    fs.readSync(fd, head, 0, 2, 0);
    fs.closeSync(fd);
  } catch { /* fall through to the generic message */ }
  if (head[0] === 0x80 && head[1] === 0x02) {
    return `${what}: this is the legacy (torch < 1.6) format, which is not supported; re-save it with torch.save in torch >= 1.6`;
  }
  const msg = e.message.split(`zip ${path}: `).join('').replace(/^zip: /, '');
  return `${what}: ${msg}; a torch.save checkpoint is a zip archive`;
}

// torch.save puts every record in one folder; the folder's name varies (file stem or "archive").
// A name that climbs out of its folder (`..`), is absolute or uses backslashes never comes from
// torch.save; such a file is refused whole rather than read around.
function findFolder(zip: ZipReader, what: string): string {
  for (const n of zip.entries.keys()) {
    const parts = n.split('/');
    if (n.startsWith('/') || /[\\\0]/.test(n) || /^[A-Za-z]:/.test(n) || parts.some((p) => p === '..' || p === '.')) {
      throw new Error(`${what}: zip entry ${JSON.stringify(n)} escapes its folder (not a torch.save checkpoint; corrupt or hostile file)`);
    }
  }
  const pkl = [...zip.entries.keys()].filter((n) => /^[^/]+\/data\.pkl$/.test(n));
  if (pkl.length === 0) {
    if ([...zip.entries.keys()].some((n) => n.endsWith('/constants.pkl'))) {
      throw new Error(`${what}: this is a TorchScript archive (torch.jit.save); save a state_dict with torch.save instead`);
    }
    throw new Error(`${what}: no <folder>/data.pkl record (a zip, but not a torch.save checkpoint)`);
  }
  if (pkl.length > 1) throw new Error(`${what}: several data.pkl records (${pkl.join(', ')}); not a torch.save checkpoint`);
  return pkl[0].slice(0, -'/data.pkl'.length);
}

/** Counts the bytes the tensors of one file materialise, refusing the one that would pass the limit. */
class TensorBudget {
  private used = 0;
  constructor(readonly limit: number) {}
  take(bytes: bigint, what: string): void {
    if (BigInt(this.used) + bytes > BigInt(this.limit)) {
      throw new Error(`${what} would need ${bytes} bytes, which takes this file's tensors past ${this.limit} bytes ` +
        '(twice the file plus 64 MiB; a view repeating elements, or a corrupt or hostile file); raise maxTensorBytes only for a file you trust');
    }
    this.used += Number(bytes);
  }
}

function intList(v: PyValue, name: string): bigint[] {
  const items = v instanceof PyTuple ? v.items : Array.isArray(v) ? v : undefined;
  if (!items || !items.every((x) => typeof x === 'bigint')) throw new Error(`${name} must be a tuple of ints, got ${pyTypeName(v)}`);
  return items as bigint[];
}

// _rebuild_tensor_v2(storage, storage_offset, size, stride, requires_grad, backward_hooks[, metadata])
// Sizes are checked in bigint: a hostile shape's element count may not fit a double exactly.
function rebuildTensor(zip: ZipReader, args: PyValue[], bigEndian: boolean, budget: TensorBudget): RawTensor {
  const [storage, offsetV, sizeV, strideV] = args;
  if (!(storage instanceof StorageRef)) throw new Error(`expected a storage, got ${pyTypeName(storage)}`);
  if (typeof offsetV !== 'bigint') throw new Error(`storage_offset must be an int, got ${pyTypeName(offsetV)}`);
  const shapeB = intList(sizeV, 'size');
  const stridesB = intList(strideV, 'stride');
  if (stridesB.length !== shapeB.length) throw new Error(`size has ${shapeB.length} dims but stride has ${stridesB.length}`);
  if (stridesB.some((s) => s < 0n) || shapeB.some((d) => d < 0n) || offsetV < 0n) throw new Error('negative sizes/strides/offsets are not supported');
  const es = itemSize(storage.dtype);
  const nB = shapeB.reduce((a, d) => a * d, 1n);
  const view = `tensor view [offset ${offsetV}, size [${shapeB}], stride [${stridesB}]]`;
  if (nB === 0n) return { dtype: storage.dtype, shape: shapeB.map(Number), data: new Uint8Array(0) };
  const lastB = offsetV + shapeB.reduce((s, d, i) => s + (d - 1n) * stridesB[i], 0n);
  if (lastB >= BigInt(storage.numel)) throw new Error(`${view} runs past its storage of ${storage.numel} elements`);
  // inside the storage, so offset and strides are small; only the element count can still be huge
  budget.take(nB * BigInt(es), view);
  const shape = shapeB.map(Number), strides = stridesB.map(Number), offset = Number(offsetV), n = Number(nB), last = Number(lastB);
  let data: Uint8Array;
  if (isContiguous(shape, strides)) {
    data = offset === 0 && n === storage.numel
      ? zip.read(storage.record) // whole storage: read with its CRC check
      : zip.readRange(storage.record, offset * es, n * es);
  } else {
    const span = zip.readRange(storage.record, offset * es, (last - offset + 1) * es);
    data = gatherStrided(span, 0, es, shape, strides);
  }
  if (bigEndian && es > 1) swapBytes(data, es);
  return { dtype: storage.dtype, shape, data };
}

function swapBytes(data: Uint8Array, es: number): void {
  for (let i = 0; i < data.byteLength; i += es) data.subarray(i, i + es).reverse();
}

// ---- saving --------------------------------------------------------------------------------

export interface SavePthOptions {
  /** Folder name inside the zip; default: the file name without its extension, as torch.save does. */
  archiveName?: string;
  /** Zip writer options (tests). */
  zip?: ZipWriterOptions;
}

/**
 * Writes `value` as torch.save does, atomically. Each RawTensor becomes one storage (the same
 * RawTensor object reached twice is written once and loads back as one shared tensor).
 */
export function savePth(path: string, value: PyValue, opts: SavePthOptions = {}): void {
  const folder = opts.archiveName ?? archiveNameFor(path);
  if (!/^[^/\\]+$/.test(folder)) throw new Error(`savePth ${path}: invalid archive name ${JSON.stringify(folder)}`);
  const storages: Uint8Array[] = [];
  const ours = new WeakSet<PyPersistent>();
  const rebuild = new PyGlobal('torch._utils', '_rebuild_tensor_v2');
  const reduce = (v: PyValue): PyObject | undefined => {
    if (!isRawTensor(v)) return undefined;
    checkRawTensor(v, `savePth ${path}: tensor`);
    const key = String(storages.length);
    storages.push(v.data);
    const pid = new PyPersistent(new PyTuple([
      'storage', new PyGlobal('torch', storageClassName(v.dtype)), key, 'cpu', BigInt(numel(v.shape)),
    ]));
    ours.add(pid);
    const ints = (xs: number[]) => new PyTuple(xs.map((x) => BigInt(x)));
    return new PyObject(rebuild, new PyTuple([
      pid, 0n, ints(v.shape), ints(contiguousStrides(v.shape)), false, new PyOrderedDict(),
    ]));
  };
  let pkl: Uint8Array;
  try {
    pkl = pickle(value, { reduce, allowPersistent: (p) => ours.has(p) });
  } catch (e) {
    throw new Error(`savePth ${path}: ${(e as Error).message}`);
  }
  const enc = new TextEncoder();
  writeFileAtomic(path, (fd) => {
    const z = new ZipWriter(fd, opts.zip);
    z.add(`${folder}/data.pkl`, pkl);
    z.add(`${folder}/byteorder`, enc.encode('little'));
    // torch writes storages sorted by key as strings ("0", "1", "10", ...)
    const keys = storages.map((_, i) => String(i)).sort();
    for (const k of keys) z.add(`${folder}/data/${k}`, storages[Number(k)]);
    z.add(`${folder}/version`, enc.encode('3\n'));
    z.finish();
  });
}

/** torch.save's folder name: the file's base name without its last extension ("archive" if empty). */
export function archiveNameFor(path: string): string {
  const base = nodePath.basename(path);
  const dot = base.lastIndexOf('.');
  const stem = dot >= 0 ? base.slice(0, dot) : base;
  return stem === '' ? 'archive' : stem;
}
