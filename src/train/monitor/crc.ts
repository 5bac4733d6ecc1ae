// Table-driven CRC-32 variants. Node 20's zlib has no crc32() (added in 22.2), so we carry our own:
// IEEE CRC-32 for PNG chunks and CRC-32C (Castagnoli) for TFRecord framing.

function makeTable(reflectedPoly: number): Uint32Array {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? reflectedPoly ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
}

const IEEE_TABLE = makeTable(0xedb88320);
const CASTAGNOLI_TABLE = makeTable(0x82f63b78);

function run(table: Uint32Array, data: Uint8Array, crc: number): number {
  let c = ~crc >>> 0;
  for (let i = 0; i < data.length; i++) c = table[(c ^ data[i]!) & 0xff]! ^ (c >>> 8);
  return ~c >>> 0;
}

/** IEEE 802.3 CRC-32 (PNG, zip). Pass the previous result as `crc` to continue over more bytes. */
export function crc32(data: Uint8Array, crc = 0): number {
  return run(IEEE_TABLE, data, crc);
}

/** CRC-32C (Castagnoli), as used by TFRecord. */
export function crc32c(data: Uint8Array, crc = 0): number {
  return run(CASTAGNOLI_TABLE, data, crc);
}

/**
 * TFRecord's masked CRC: storing a CRC of data that itself contains CRCs is weak, so TensorFlow
 * rotates right by 15 bits and adds a constant.
 */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
