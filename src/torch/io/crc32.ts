// The project's one CRC-32 module: IEEE CRC-32 (zip records, PNG chunks) and CRC-32C (Castagnoli,
// TFRecord framing). IEEE uses Node's native zlib.crc32 when present (Node >= 20.15 / 22.2) and the
// table otherwise; CRC-32C has no native Node implementation, so it is always table-driven.
import zlib from 'node:zlib';

const native = (zlib as unknown as { crc32?: (data: Uint8Array, value?: number) => number }).crc32;

/** The 256-entry table of a reflected CRC-32 polynomial. */
function makeTable(reflectedPoly: number): Uint32Array {
  const t = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? reflectedPoly ^ (c >>> 1) : c >>> 1;
    t[n] = c >>> 0;
  }
  return t;
}

let ieeeTable: Uint32Array | undefined;
let castagnoliTable: Uint32Array | undefined;

function run(table: Uint32Array, data: Uint8Array, crc: number): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]) & 0xff] ^ (c >>> 8);
  return ~c >>> 0;
}

/** IEEE 802.3 CRC-32 of `data` (zip, PNG), continuing from `crc` (0 to start). */
export function crc32(data: Uint8Array, crc = 0): number {
  if (native) return native(data, crc) >>> 0;
  return crc32Js(data, crc);
}

/** Pure-JS IEEE CRC-32, exported so that tests can check the native path against it. */
export function crc32Js(data: Uint8Array, crc = 0): number {
  return run((ieeeTable ??= makeTable(0xedb88320)), data, crc);
}

/** CRC-32C (Castagnoli), as TFRecord uses it, continuing from `crc` (0 to start). */
export function crc32c(data: Uint8Array, crc = 0): number {
  return run((castagnoliTable ??= makeTable(0x82f63b78)), data, crc);
}
