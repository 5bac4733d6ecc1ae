import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { test } from 'node:test';
import { crc32, crc32Js } from '../../../src/torch/io/crc32.js';
import {
  DTYPES, bfloat16ToFloat, dtypeFromSafetensors, dtypeFromStorageClass, floatToBfloat16, floatToHalf, halfToFloat,
  itemSize, safetensorsCode, storageClassName,
} from '../../../src/torch/io/dtypes.js';
import { contiguousStrides, fromNumbers, gatherStrided, isContiguous, toNumbers } from '../../../src/torch/io/raw.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('dtype tables: codes and storage classes map back', () => {
  for (const d of DTYPES) {
    assert.equal(dtypeFromSafetensors(safetensorsCode(d)), d);
    assert.equal(dtypeFromStorageClass(storageClassName(d)), d);
  }
  assert.equal(itemSize('bfloat16'), 2);
  assert.equal(itemSize('int64'), 8);
  assert.equal(storageClassName('int8'), 'CharStorage');
  assert.equal(safetensorsCode('bool'), 'BOOL');
  assert.equal(dtypeFromSafetensors('F8_E4M3'), undefined);
});

test('binary16: known encodings (IEEE 754)', () => {
  const known: [number, number][] = [
    [0x3c00, 1], [0xc000, -2], [0x7bff, 65504], [0x0400, 2 ** -14], [0x0001, 2 ** -24],
    [0x3555, 0.333251953125], [0x7c00, Infinity], [0xfc00, -Infinity], [0x0000, 0],
  ];
  for (const [bits, x] of known) {
    assert.equal(halfToFloat(bits), x);
    assert.equal(floatToHalf(x), bits);
  }
  assert.ok(Number.isNaN(halfToFloat(0x7e00)));
  assert.ok(Object.is(halfToFloat(0x8000), -0));
  // ties go to even: 1 + 2^-11 is halfway between 1 and the next half 1 + 2^-10
  assert.equal(floatToHalf(1 + 2 ** -11), 0x3c00);
  assert.equal(floatToHalf(1 + 3 * 2 ** -11), 0x3c02);
  assert.equal(floatToHalf(65520), 0x7c00); // rounds up to infinity
  assert.equal(floatToHalf(65519.99), 0x7bff);
  assert.equal(floatToHalf(2 ** -25), 0); // tie between 0 and the smallest subnormal
  assert.equal(floatToHalf(3 * 2 ** -25), 0x0002);
});

test('binary16 and bfloat16: every finite bit pattern survives decode -> encode', () => {
  for (let h = 0; h < 0x10000; h++) {
    const x = halfToFloat(h);
    if (!Number.isNaN(x)) assert.equal(floatToHalf(x), h, `half 0x${h.toString(16)}`);
    const y = bfloat16ToFloat(h);
    if (!Number.isNaN(y)) assert.equal(floatToBfloat16(y), h, `bfloat16 0x${h.toString(16)}`);
  }
});

test('bfloat16: known encodings and round to nearest even', () => {
  assert.equal(bfloat16ToFloat(0x3f80), 1);
  assert.equal(bfloat16ToFloat(0x4049), 3.140625);
  assert.equal(bfloat16ToFloat(0xff80), -Infinity);
  assert.equal(floatToBfloat16(Math.PI), 0x4049);
  assert.equal(floatToBfloat16(1 + 2 ** -8), 0x3f80); // tie -> even
  assert.equal(floatToBfloat16(1 + 3 * 2 ** -8), 0x3f82);
  assert.equal(floatToBfloat16(NaN) & 0x7fc0, 0x7fc0);
});

test('fromNumbers/toNumbers round trip every dtype', () => {
  const vals = [0, 1, -2, 3, 100, -7];
  for (const d of DTYPES) {
    const v = d === 'uint8' ? vals.map(Math.abs) : d === 'bool' ? vals.map((x) => (x ? 1 : 0)) : vals;
    const t = fromNumbers(d, [2, 3], v);
    assert.equal(t.data.byteLength, 6 * itemSize(d));
    assert.deepEqual([...toNumbers(t)], v, d);
  }
  assert.throws(() => fromNumbers('float32', [2, 2], [1, 2, 3]), /4 elements but 3 values/);
});

test('strides: contiguity and gathering a transposed view', () => {
  assert.deepEqual(contiguousStrides([2, 3, 4]), [12, 4, 1]);
  assert.deepEqual(contiguousStrides([2, 0, 4]), [4, 4, 1]);
  assert.deepEqual(contiguousStrides([]), []);
  assert.ok(isContiguous([2, 1, 3], [3, 99, 1]));
  assert.ok(!isContiguous([2, 3], [1, 2]));
  // storage 0..5 as a 2x3 matrix; its transpose (3x2, strides [1, 3]) reads 0 3 1 4 2 5
  const storage = fromNumbers('int16', [6], [0, 1, 2, 3, 4, 5]);
  const t = { dtype: 'int16' as const, shape: [3, 2], data: gatherStrided(storage.data, 0, 2, [3, 2], [1, 3]) };
  assert.deepEqual([...toNumbers(t)], [0, 3, 1, 4, 2, 5]);
});

test('crc32: check value and native == table implementation', () => {
  assert.equal(crc32(new TextEncoder().encode('123456789')), 0xcbf43926);
  assert.equal(crc32Js(new TextEncoder().encode('123456789')), 0xcbf43926);
  const data = new Uint8Array(randomBytes(10_000));
  assert.equal(crc32(data), crc32Js(data));
  assert.equal(crc32(data.subarray(5000), crc32(data.subarray(0, 5000))), crc32(data));
});
