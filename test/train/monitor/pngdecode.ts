// A deliberately tiny PNG decoder for tests: 8-bit, no interlace, filter type 0 only (what
// encodePng writes). It checks the signature and every chunk CRC with an independent bitwise CRC.
import { inflateSync } from 'node:zlib';

/** Bit-at-a-time CRC-32 (IEEE), independent of the table-driven one under test. */
export function bitwiseCrc32(data: Uint8Array): number {
  let c = 0xffffffff;
  for (const b of data) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = c & 1 ? (c >>> 1) ^ 0xedb88320 : c >>> 1;
  }
  return (c ^ 0xffffffff) >>> 0;
}

export interface DecodedPng {
  width: number;
  height: number;
  channels: number;
  rawLength: number;
  pixels: Uint8Array;
  chunkTypes: string[];
}

export function decodePng(png: Uint8Array): DecodedPng {
  const sig = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];
  sig.forEach((b, i) => {
    if (png[i] !== b) throw new Error('bad PNG signature');
  });
  const dv = new DataView(png.buffer, png.byteOffset, png.byteLength);
  let pos = 8;
  let width = 0;
  let height = 0;
  let channels = 0;
  const idat: Uint8Array[] = [];
  const chunkTypes: string[] = [];
  while (pos < png.length) {
    const len = dv.getUint32(pos);
    const type = String.fromCharCode(...png.subarray(pos + 4, pos + 8));
    const data = png.subarray(pos + 8, pos + 8 + len);
    const crc = dv.getUint32(pos + 8 + len);
    if (crc !== bitwiseCrc32(png.subarray(pos + 4, pos + 8 + len))) throw new Error(`bad CRC in ${type} chunk`);
    chunkTypes.push(type);
    if (type === 'IHDR') {
      width = dv.getUint32(pos + 8);
      height = dv.getUint32(pos + 12);
      if (data[8] !== 8 || data[10] !== 0 || data[11] !== 0 || data[12] !== 0) throw new Error('unsupported IHDR');
      channels = ({ 0: 1, 4: 2, 2: 3, 6: 4 } as Record<number, number>)[data[9]!]!;
    } else if (type === 'IDAT') idat.push(data);
    pos += 12 + len;
  }
  const raw = inflateSync(Buffer.concat(idat));
  const stride = width * channels;
  const pixels = new Uint8Array(height * stride);
  for (let y = 0; y < height; y++) {
    if (raw[y * (stride + 1)] !== 0) throw new Error(`row ${y} uses filter ${raw[y * (stride + 1)]}, decoder supports 0 only`);
    pixels.set(raw.subarray(y * (stride + 1) + 1, (y + 1) * (stride + 1)), y * stride);
  }
  return { width, height, channels, rawLength: raw.length, pixels, chunkTypes };
}
