// A small BMP decoder, because sharp's prebuilt libvips has no BMP loader.
//
// Covers the uncompressed BMPs found in practice: 1/4/8-bit palettised, 16-bit (5-5-5 or bit fields),
// 24-bit and 32-bit (BGRX or bit fields), bottom-up or top-down, with the OS/2 core header or the
// Windows info/V4/V5 headers. RLE and embedded JPEG/PNG compression are refused with a clear error.
// Alpha is dropped, as PIL's convert('RGB') (the reference's loader) does.

export interface RgbImage {
  width: number;
  height: number;
  /** Interleaved RGB, row-major, top row first: width*height*3 bytes. */
  data: Uint8Array;
}

export function isBmp(buf: Uint8Array): boolean {
  return buf.length >= 2 && buf[0] === 0x42 && buf[1] === 0x4d; // "BM"
}

const BI_RGB = 0;
const BI_BITFIELDS = 3;
const BI_ALPHABITFIELDS = 6;

function maskShift(mask: number): { shift: number; max: number } {
  if (mask === 0) return { shift: 0, max: 0 };
  let shift = 0;
  while (((mask >>> shift) & 1) === 0) shift++;
  return { shift, max: mask >>> shift };
}

export function decodeBmp(buf: Uint8Array): RgbImage {
  const fail = (why: string): never => {
    throw new Error(`invalid BMP: ${why}`);
  };
  if (!isBmp(buf)) fail('missing "BM" signature');
  if (buf.length < 26) fail('truncated header');
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const dataOffset = dv.getUint32(10, true);
  const dibSize = dv.getUint32(14, true);

  let width: number, height: number, bpp: number, compression: number, colorsUsed = 0;
  let paletteEntrySize = 4;
  let masks: [number, number, number] | null = null;
  if (dibSize === 12) {
    // OS/2 BITMAPCOREHEADER: 16-bit unsigned sizes, 3-byte palette entries
    width = dv.getUint16(18, true);
    height = dv.getUint16(20, true);
    bpp = dv.getUint16(24, true);
    compression = BI_RGB;
    paletteEntrySize = 3;
  } else if (dibSize >= 40) {
    if (buf.length < 14 + 40) fail('truncated info header');
    width = dv.getInt32(18, true);
    height = dv.getInt32(22, true);
    bpp = dv.getUint16(28, true);
    compression = dv.getUint32(30, true);
    colorsUsed = dv.getUint32(46, true);
    if (compression === BI_BITFIELDS || compression === BI_ALPHABITFIELDS) {
      // The masks sit inside V4/V5 headers, or right after a plain 40-byte header.
      if (buf.length < 14 + 40 + 12) fail('truncated bit-field masks');
      masks = [dv.getUint32(54, true), dv.getUint32(58, true), dv.getUint32(62, true)];
    }
  } else {
    return fail(`unsupported header size ${dibSize}`);
  }

  if (compression !== BI_RGB && compression !== BI_BITFIELDS && compression !== BI_ALPHABITFIELDS) {
    fail(`compression type ${compression} (RLE/JPEG/PNG inside BMP) is not supported; convert the file to PNG`);
  }
  if (width <= 0 || height === 0) fail(`bad dimensions ${width}x${height}`);
  if (![1, 4, 8, 16, 24, 32].includes(bpp)) fail(`unsupported bit depth ${bpp}`);
  const topDown = height < 0;
  height = Math.abs(height);
  if (width * height > 1 << 28) fail(`image too large (${width}x${height})`);

  // Palette for <= 8 bits per pixel
  let palette: Uint8Array | null = null;
  if (bpp <= 8) {
    const n = colorsUsed > 0 ? Math.min(colorsUsed, 1 << bpp) : 1 << bpp;
    let off = 14 + dibSize + (dibSize === 40 && masks ? 12 : 0);
    palette = new Uint8Array(n * 3);
    for (let i = 0; i < n; i++, off += paletteEntrySize) {
      if (off + 3 > buf.length) fail('truncated palette');
      palette[i * 3] = buf[off + 2]!; // stored B, G, R
      palette[i * 3 + 1] = buf[off + 1]!;
      palette[i * 3 + 2] = buf[off]!;
    }
  }

  if (bpp === 16 && !masks) masks = [0x7c00, 0x03e0, 0x001f];
  if (bpp === 32 && !masks) masks = [0x00ff0000, 0x0000ff00, 0x000000ff];
  const fields = masks ? masks.map(maskShift) : null;

  const stride = Math.floor((bpp * width + 31) / 32) * 4;
  if (dataOffset + stride * height > buf.length) {
    fail(`truncated pixel data (need ${dataOffset + stride * height} bytes, file has ${buf.length})`);
  }

  const out = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const row = dataOffset + (topDown ? y : height - 1 - y) * stride;
    let o = y * width * 3;
    for (let x = 0; x < width; x++, o += 3) {
      if (bpp === 24) {
        const p = row + x * 3;
        out[o] = buf[p + 2]!;
        out[o + 1] = buf[p + 1]!;
        out[o + 2] = buf[p]!;
      } else if (bpp === 32 || bpp === 16) {
        const v = bpp === 32 ? dv.getUint32(row + x * 4, true) : dv.getUint16(row + x * 2, true);
        for (let c = 0; c < 3; c++) {
          const f = fields![c]!;
          const m = masks![c]!;
          out[o + c] = f.max === 0 ? 0 : Math.round((((v & m) >>> 0) >>> f.shift) * 255 / f.max);
        }
      } else {
        const bitPos = x * bpp;
        const byte = buf[row + (bitPos >>> 3)]!;
        const idx = (byte >>> (8 - bpp - (bitPos & 7))) & ((1 << bpp) - 1);
        if (idx * 3 >= palette!.length) fail(`palette index ${idx} out of range`);
        out[o] = palette![idx * 3]!;
        out[o + 1] = palette![idx * 3 + 1]!;
        out[o + 2] = palette![idx * 3 + 2]!;
      }
    }
  }
  return { width, height, data: out };
}
