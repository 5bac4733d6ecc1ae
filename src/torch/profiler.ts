// libtorch's op profiler from JS (native/src/profiler.cc): the same RecordFunction ranges and ATen op
// names as torch.profiler in Python, so a step of ours and a step of the reference can be broken down
// into the same categories.
import { native } from './native.js';

/** One op name's share of a profiled run. */
export interface OpTime {
  /** the ATen op (e.g. aten::convolution_backward); "[optimizer] " prefixed inside an optimizer step */
  name: string;
  /** time in the op minus the ops nested in it, µs */
  selfUs: number;
  totalUs: number;
  calls: number;
}

let running = false;

/** Run `fn` with the profiler on (this thread's ops, and the tasks they launch); its result and the op times. */
export function profile<T>(fn: () => T): { result: T; ops: OpTime[] } {
  if (running) throw new Error('torch.profiler.profile: a profile is already running; profiles do not nest');
  running = true;
  native.profilerStart();
  let result: T;
  let ops: OpTime[];
  try {
    result = fn();
  } finally {
    ops = native.profilerStop();  // also when fn throws: the profiler must not keep recording
    running = false;
  }
  return { result, ops };
}

/** `fn` inside a named range (torch.autograd.profiler.record_function); nearly free when no profile runs. */
export function recordFunction<T>(name: string, fn: () => T): T {
  const range = native.profilerRangeStart(name);
  try {
    return fn();
  } finally {
    native.profilerRangeEnd(range);
  }
}
