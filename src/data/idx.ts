// The IDX format of the MNIST family (Fashion-MNIST as Debian's dataset-fashion-mnist ships it), and
// the label-budget subset used by the transfer experiment. Pure functions; scripts/fashion-mnist.mjs
// writes the image folders.
//
// IDX: a big-endian header of 0x00 0x00, a type code (0x08 = unsigned byte), the number of dimensions,
// then one 32-bit size per dimension, then the data in row-major order.

import { Rng, permutation } from './rng.js';

export interface IdxArray {
  shape: number[];
  data: Uint8Array;
}

/** Parse an (uncompressed) IDX file of unsigned bytes. Throws one line naming `what` when it is not one. */
export function parseIdx(buf: Uint8Array, what = 'IDX file'): IdxArray {
  if (buf.length < 4 || buf[0] !== 0 || buf[1] !== 0) throw new Error(`${what}: not an IDX file (bad magic number); pass the *-ubyte(.gz) files of MNIST/Fashion-MNIST`);
  if (buf[2] !== 0x08) throw new Error(`${what}: IDX element type 0x${buf[2]!.toString(16)} is not unsigned byte (0x08)`);
  const ndim = buf[3]!;
  if (ndim < 1 || buf.length < 4 + 4 * ndim) throw new Error(`${what}: truncated IDX header`);
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const shape: number[] = [];
  for (let d = 0; d < ndim; d++) shape.push(dv.getUint32(4 + 4 * d, false));
  const n = shape.reduce((a, b) => a * b, 1);
  const start = 4 + 4 * ndim;
  if (buf.length !== start + n) throw new Error(`${what}: ${buf.length - start} data bytes for shape [${shape.join(', ')}] (${n} expected); the file is truncated or not IDX`);
  return { shape, data: buf.subarray(start) };
}

/** Fashion-MNIST's classes in label order (the dataset's README), as folder names that sort in label order. */
export const FASHION_MNIST_CLASSES: readonly string[] = [
  '0_tshirt_top',
  '1_trouser',
  '2_pullover',
  '3_dress',
  '4_coat',
  '5_sandal',
  '6_shirt',
  '7_sneaker',
  '8_bag',
  '9_ankle_boot',
];

/**
 * A label budget: `perClass` indices of every class, drawn uniformly without replacement under `seed`
 * (one permutation of the whole set, the first `perClass` of each class in that order), returned sorted.
 * Throws when a class has fewer than `perClass` examples.
 */
export function labelBudget(labels: ArrayLike<number>, numClasses: number, perClass: number, seed: number): number[] {
  if (!Number.isSafeInteger(perClass) || perClass < 1) throw new Error(`per-class label budget must be a positive integer, got ${perClass}`);
  const taken = new Array<number>(numClasses).fill(0);
  const out: number[] = [];
  for (const i of permutation(labels.length, new Rng(seed))) {
    const c = labels[i]!;
    if (taken[c]! < perClass) {
      taken[c]!++;
      out.push(i);
    }
  }
  const short = taken.findIndex((t) => t < perClass);
  if (short >= 0) throw new Error(`class ${short} has only ${taken[short]} examples, fewer than the budget of ${perClass} per class`);
  return out.sort((a, b) => a - b);
}
