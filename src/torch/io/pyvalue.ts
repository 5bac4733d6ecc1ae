// The Python values that PyTorch checkpoints hold, as explicit TypeScript values.
//
//   Python                      TypeScript
//   None                        null
//   bool                        boolean
//   int                         bigint          (always: 3 is written 3n, so int and float never mix)
//   float                       number          (always a float, even 1.0)
//   str                         string
//   bytes                       Uint8Array      (a plain Uint8Array; never a RawTensor's field)
//   list                        PyValue[]
//   tuple                       PyTuple         (new PyTuple([...]) or tuple(...))
//   dict                        Map             (insertion order kept; keys compare like JS Map keys)
//   collections.OrderedDict     PyOrderedDict   (a Map with `attrs`, e.g. the state dict's _metadata)
//   set / frozenset             PySet
//   torch.Tensor                RawTensor       (only from/into .pth files)
//   any other object            PyObject        (opaque: class, constructor args, state; round-trips)
//   a class/function reference  PyGlobal
//   a persistent id             PyPersistent    (what BINPERSID refers to, when nobody resolved it)
import type { RawTensor } from './dtypes.js';

export class PyTuple {
  readonly items: PyValue[];
  constructor(items: PyValue[] = []) {
    this.items = items;
  }
  get length(): number {
    return this.items.length;
  }
}

export function tuple(...items: PyValue[]): PyTuple {
  return new PyTuple(items);
}

/** collections.OrderedDict. `attrs` is the instance __dict__ that pickle's BUILD sets. */
export class PyOrderedDict extends Map<PyValue, PyValue> {
  readonly attrs = new Map<string, PyValue>();
}

export class PySet {
  constructor(readonly items: PyValue[] = [], readonly frozen = false) {}
}

/** A reference to a Python class or function, `module.name`. */
export class PyGlobal {
  constructor(readonly module: string, readonly name: string) {}
  get qualifiedName(): string {
    return `${this.module}.${this.name}`;
  }
}

/**
 * An object that this reader does not model (argparse.Namespace, numpy scalars, ...), kept as its
 * recipe so that reading never fails and writing it back reproduces it: `cls(*args)` (REDUCE) or
 * `cls.__new__(cls, *args)` (NEWOBJ), then list/dict items appended, then `state` via BUILD.
 */
export class PyObject {
  state: PyValue | undefined = undefined;
  readonly listItems: PyValue[] = [];
  readonly dictItems = new Map<PyValue, PyValue>();
  constructor(readonly cls: PyValue, readonly args: PyTuple, readonly viaNewobj = false) {}
}

export class PyPersistent {
  constructor(readonly pid: PyValue) {}
}

export type PyDict = Map<PyValue, PyValue>;

export type PyValue =
  | null
  | boolean
  | bigint
  | number
  | string
  | Uint8Array
  | PyValue[]
  | PyTuple
  | PyDict
  | PySet
  | RawTensor
  | PyObject
  | PyGlobal
  | PyPersistent;

/** A dict from a JS record (string keys), e.g. `pyDict({epoch: 3n, lr: 0.1})`. */
export function pyDict(record: Record<string, PyValue>): Map<PyValue, PyValue> {
  return new Map(Object.entries(record));
}

/** A Python int from a JS integer (throws on non-integers, so floats never slip in as ints). */
export function pyInt(n: number | bigint): bigint {
  if (typeof n === 'number' && !Number.isSafeInteger(n)) throw new Error(`pyInt: ${n} is not a safe integer`);
  return BigInt(n);
}

/** True for a RawTensor (structurally: dtype, shape and data fields). */
export function isRawTensor(v: unknown): v is RawTensor {
  return typeof v === 'object' && v !== null && !(v instanceof Uint8Array) && !Array.isArray(v)
    && typeof (v as RawTensor).dtype === 'string' && Array.isArray((v as RawTensor).shape)
    && (v as RawTensor).data instanceof Uint8Array;
}

/** Python's type name of a value, for messages. */
export function pyTypeName(v: PyValue | undefined): string {
  if (v === undefined) return 'undefined';
  if (v === null) return 'None';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'bigint') return 'int';
  if (typeof v === 'number') return 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  if (v instanceof PyTuple) return 'tuple';
  if (v instanceof PyOrderedDict) return 'OrderedDict';
  if (v instanceof Map) return 'dict';
  if (v instanceof PySet) return v.frozen ? 'frozenset' : 'set';
  if (v instanceof Uint8Array) return 'bytes';
  if (v instanceof PyObject) return v.cls instanceof PyGlobal ? v.cls.qualifiedName : 'object';
  if (v instanceof PyGlobal) return `<class ${v.qualifiedName}>`;
  if (v instanceof PyPersistent) return 'persistent id';
  if (isRawTensor(v)) return 'Tensor';
  return typeof v;
}
