// The zip container of torch.save: uncompressed ("stored") entries whose data is aligned to 64
// bytes with a padding extra field ("FB" + 'Z's, as PyTorch's writer does), zip64 when an entry or
// offset passes 4 GiB. Reading goes through the central directory and reads each entry's bytes at
// its offset, so the file is never copied whole.
import fs from 'node:fs';
import zlib from 'node:zlib';
import { crc32 } from './crc32.js';
import { openForRead, readAt, writeAll } from './fsio.js';

const SIG_LOCAL = 0x04034b50;
const SIG_CENTRAL = 0x02014b50;
const SIG_EOCD = 0x06054b50;
const SIG_EOCD64 = 0x06064b50;
const SIG_LOCATOR64 = 0x07064b50;
const U32_MAX = 0xffffffff;
const U16_MAX = 0xffff;
/** PyTorch's kFieldAlignment: record data starts at a multiple of this. */
export const ZIP_ALIGNMENT = 64;

export interface ZipEntry {
  name: string;
  /** 0 = stored, 8 = deflated */
  method: number;
  crc32: number;
  compressedSize: number;
  size: number;
  localHeaderOffset: number;
}

export class ZipReader {
  readonly entries: Map<string, ZipEntry>;
  private fd: number | undefined;
  private readonly dataOffsets = new Map<string, number>();

  private constructor(readonly path: string, fd: number, readonly fileSize: number, entries: Map<string, ZipEntry>) {
    this.fd = fd;
    this.entries = entries;
  }

  static open(path: string): ZipReader {
    const fd = openForRead(path, 'zip');
    try {
      const size = fs.fstatSync(fd).size;
      return new ZipReader(path, fd, size, readCentralDirectory(fd, size, `zip ${path}`));
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  has(name: string): boolean {
    return this.entries.has(name);
  }

  /** Throws unless all of the entry's bytes lie inside the file (before a caller allocates for them). */
  checkPresent(name: string): void {
    this.dataOffset(this.entry(name));
  }

  /** The whole entry, decompressed if needed; its CRC-32 is checked unless verifyCrc is false. */
  read(name: string, verifyCrc = true): Uint8Array {
    const e = this.entry(name);
    const raw = readAt(this.descriptor(), this.dataOffset(e), e.compressedSize, this.what(name));
    let data: Uint8Array;
    if (e.method === 0) {
      data = raw;
    } else if (e.method === 8) {
      // deflate expands at most 1032:1; a larger declared size is a lie, and inflating stops at the
      // declared size, so a small entry cannot make us allocate gigabytes
      if (e.size > 1032 * e.compressedSize + 64) throw new Error(`${this.what(name)}: declares ${e.size} bytes from ${e.compressedSize} compressed (corrupt or hostile file)`);
      try {
        data = new Uint8Array(zlib.inflateRawSync(raw, { maxOutputLength: Math.max(e.size, 1) }));
      } catch (err) {
        throw new Error(`${this.what(name)}: cannot inflate entry (${(err as Error).message})`);
      }
    } else {
      throw new Error(`${this.what(name)}: unsupported compression method ${e.method} (only stored and deflated entries are readable)`);
    }
    if (data.byteLength !== e.size) throw new Error(`${this.what(name)}: entry has ${data.byteLength} bytes, central directory says ${e.size}`);
    if (verifyCrc && crc32(data) !== e.crc32) throw new Error(`${this.what(name)}: CRC-32 mismatch (the file is corrupt)`);
    return data;
  }

  /** `length` bytes from `start` within a stored entry, read straight from the file (no CRC check). */
  readRange(name: string, start: number, length: number, into?: Uint8Array, intoOffset = 0): Uint8Array {
    const e = this.entry(name);
    if (e.method !== 0) throw new Error(`${this.what(name)}: ranged reads need a stored (uncompressed) entry`);
    if (start < 0 || length < 0 || start + length > e.size) {
      throw new Error(`${this.what(name)}: bytes [${start}, ${start + length}) are outside the entry's ${e.size} bytes`);
    }
    return readAt(this.descriptor(), this.dataOffset(e) + start, length, this.what(name), into, intoOffset);
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }

  private what(name: string): string {
    return `zip ${this.path}: entry ${name}`;
  }

  private entry(name: string): ZipEntry {
    const e = this.entries.get(name);
    if (!e) throw new Error(`zip ${this.path}: no entry named ${name}`);
    return e;
  }

  private descriptor(): number {
    if (this.fd === undefined) throw new Error(`zip ${this.path}: reader is closed`);
    return this.fd;
  }

  // The local header's extra field differs from the central one (it holds the alignment padding),
  // so the data offset is only known after reading the local header.
  private dataOffset(e: ZipEntry): number {
    const cached = this.dataOffsets.get(e.name);
    if (cached !== undefined) return cached;
    const h = readAt(this.descriptor(), e.localHeaderOffset, 30, this.what(e.name));
    const dv = new DataView(h.buffer);
    if (dv.getUint32(0, true) !== SIG_LOCAL) throw new Error(`${this.what(e.name)}: bad local header signature (corrupt file)`);
    const off = e.localHeaderOffset + 30 + dv.getUint16(26, true) + dv.getUint16(28, true);
    if (off + e.compressedSize > this.fileSize) {
      throw new Error(`${this.what(e.name)}: data runs past the end of the file (truncated)`);
    }
    this.dataOffsets.set(e.name, off);
    return off;
  }
}

function readCentralDirectory(fd: number, size: number, what: string): Map<string, ZipEntry> {
  if (size < 22) throw new Error(`${what}: not a zip archive (only ${size} bytes)`);
  const tailLen = Math.min(size, 22 + U16_MAX);
  const tailStart = size - tailLen;
  const tail = readAt(fd, tailStart, tailLen, what);
  const tv = new DataView(tail.buffer);
  let eocd = -1;
  for (let i = tailLen - 22; i >= 0; i--) {
    if (tv.getUint32(i, true) === SIG_EOCD && i + 22 + tv.getUint16(i + 20, true) <= tailLen) { eocd = i; break; }
  }
  if (eocd < 0) {
    throw new Error(`${what}: no end-of-central-directory record (truncated, or not a zip archive)`);
  }
  let count = tv.getUint16(eocd + 10, true);
  let cdSize = tv.getUint32(eocd + 12, true);
  let cdOffset = tv.getUint32(eocd + 16, true);
  const eocdAbs = tailStart + eocd;
  if (eocdAbs >= 20) {
    const loc = readAt(fd, eocdAbs - 20, 20, what);
    const lv = new DataView(loc.buffer);
    if (lv.getUint32(0, true) === SIG_LOCATOR64) {
      const z64 = safe(lv.getBigUint64(8, true), what);
      const rec = readAt(fd, z64, 56, what);
      const rv = new DataView(rec.buffer);
      if (rv.getUint32(0, true) !== SIG_EOCD64) throw new Error(`${what}: bad zip64 end-of-central-directory record (corrupt file)`);
      count = safe(rv.getBigUint64(32, true), what);
      cdSize = safe(rv.getBigUint64(40, true), what);
      cdOffset = safe(rv.getBigUint64(48, true), what);
    }
  }
  if (cdOffset + cdSize > size) throw new Error(`${what}: central directory lies past the end of the file (truncated or corrupt)`);
  const cd = readAt(fd, cdOffset, cdSize, what);
  const cv = new DataView(cd.buffer);
  const utf8 = new TextDecoder();
  const entries = new Map<string, ZipEntry>();
  let p = 0;
  for (let i = 0; i < count; i++) {
    if (p + 46 > cdSize || cv.getUint32(p, true) !== SIG_CENTRAL) {
      throw new Error(`${what}: central directory entry ${i} is malformed (corrupt file)`);
    }
    const nameLen = cv.getUint16(p + 28, true);
    const extraLen = cv.getUint16(p + 30, true);
    const commentLen = cv.getUint16(p + 32, true);
    if (p + 46 + nameLen + extraLen > cdSize) throw new Error(`${what}: central directory entry ${i} is malformed (corrupt file)`);
    const name = utf8.decode(cd.subarray(p + 46, p + 46 + nameLen));
    const e: ZipEntry = {
      name,
      method: cv.getUint16(p + 10, true),
      crc32: cv.getUint32(p + 16, true),
      compressedSize: cv.getUint32(p + 20, true),
      size: cv.getUint32(p + 24, true),
      localHeaderOffset: cv.getUint32(p + 42, true),
    };
    applyZip64Extra(e, cd.subarray(p + 46 + nameLen, p + 46 + nameLen + extraLen), what);
    if (e.localHeaderOffset + 30 > size) throw new Error(`${what}: entry ${name} lies past the end of the file (truncated)`);
    // two entries of one name would let two readers see two different files
    if (entries.has(name)) throw new Error(`${what}: two entries are named ${JSON.stringify(name)} (corrupt or hostile file)`);
    entries.set(name, e);
    p += 46 + nameLen + extraLen + commentLen;
  }
  return entries;
}

// In zip64, each 32-bit field that reads 0xFFFFFFFF is replaced, in this order, by a 64-bit value
// of the extra field with id 1.
function applyZip64Extra(e: ZipEntry, extra: Uint8Array, what: string): void {
  const dv = new DataView(extra.buffer, extra.byteOffset, extra.byteLength);
  for (let q = 0; q + 4 <= extra.byteLength;) {
    const id = dv.getUint16(q, true);
    const len = dv.getUint16(q + 2, true);
    if (id === 1) {
      let r = q + 4;
      const next = (): number => {
        if (r + 8 > q + 4 + len) throw new Error(`${what}: entry ${e.name} has a short zip64 extra field (corrupt file)`);
        const v = safe(dv.getBigUint64(r, true), what);
        r += 8;
        return v;
      };
      if (e.size === U32_MAX) e.size = next();
      if (e.compressedSize === U32_MAX) e.compressedSize = next();
      if (e.localHeaderOffset === U32_MAX) e.localHeaderOffset = next();
      return;
    }
    q += 4 + len;
  }
}

function safe(v: bigint, what: string): number {
  if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`${what}: offset ${v} is too large (corrupt file)`);
  return Number(v);
}

// ---- writing --------------------------------------------------------------------------------

interface Written {
  name: Uint8Array;
  crc: number;
  size: number;
  offset: number;
}

export interface ZipWriterOptions {
  /** Write zip64 records even for small entries (for tests of the >4 GiB path). */
  forceZip64?: boolean;
}

/**
 * Streams stored entries into `fd` (positioned at 0): local header + padding + data per entry,
 * then the central directory on finish(). Only the small per-entry directory stays in memory.
 */
export class ZipWriter {
  private pos = 0;
  private readonly written: Written[] = [];
  private finished = false;

  constructor(private readonly fd: number, private readonly opts: ZipWriterOptions = {}) {}

  /** Adds one stored entry; `chunks` are concatenated (so callers need not join them). */
  add(name: string, chunks: Uint8Array | Uint8Array[]): void {
    if (this.finished) throw new Error('ZipWriter: add() after finish()');
    const parts = Array.isArray(chunks) ? chunks : [chunks];
    let crc = 0;
    let size = 0;
    for (const c of parts) { crc = crc32(c, crc); size += c.byteLength; }
    const nameBytes = new TextEncoder().encode(name);
    const offset = this.pos;
    // The local header needs zip64 only for the sizes; a large offset is recorded centrally.
    const z64 = this.opts.forceZip64 || size >= U32_MAX;
    const z64Len = z64 ? 20 : 0;
    // Padding like PyTorch: an "FB" extra field whose length brings the data to a 64-byte boundary.
    const start = offset + 30 + nameBytes.byteLength + z64Len + 4;
    const pad = (ZIP_ALIGNMENT - (start % ZIP_ALIGNMENT)) % ZIP_ALIGNMENT;
    const h = new Uint8Array(30 + nameBytes.byteLength + z64Len + 4 + pad);
    const dv = new DataView(h.buffer);
    dv.setUint32(0, SIG_LOCAL, true);
    dv.setUint16(4, z64 ? 45 : 20, true); // version needed to extract
    dv.setUint16(6, 0x0800, true); // names are UTF-8
    dv.setUint16(8, 0, true); // stored
    dv.setUint16(10, 0, true); // time
    dv.setUint16(12, 0x21, true); // date 1980-01-01: fixed so that output is reproducible
    dv.setUint32(14, crc, true);
    dv.setUint32(18, z64 ? U32_MAX : size, true);
    dv.setUint32(22, z64 ? U32_MAX : size, true);
    dv.setUint16(26, nameBytes.byteLength, true);
    dv.setUint16(28, z64Len + 4 + pad, true);
    h.set(nameBytes, 30);
    let q = 30 + nameBytes.byteLength;
    if (z64) {
      dv.setUint16(q, 1, true);
      dv.setUint16(q + 2, 16, true);
      dv.setBigUint64(q + 4, BigInt(size), true);
      dv.setBigUint64(q + 12, BigInt(size), true);
      q += 20;
    }
    h[q] = 0x46; // 'F'
    h[q + 1] = 0x42; // 'B'
    dv.setUint16(q + 2, pad, true);
    h.fill(0x5a, q + 4); // 'Z'
    writeAll(this.fd, h);
    for (const c of parts) writeAll(this.fd, c);
    this.pos += h.byteLength + size;
    this.written.push({ name: nameBytes, crc, size, offset });
  }

  /** Writes the central directory and end records. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    const force = !!this.opts.forceZip64;
    const cdOffset = this.pos;
    const parts: Uint8Array[] = [];
    for (const w of this.written) {
      const bigSize = force || w.size >= U32_MAX;
      const bigOff = force || w.offset >= U32_MAX;
      const extraLen = bigSize || bigOff ? 4 + (bigSize ? 16 : 0) + (bigOff ? 8 : 0) : 0;
      const c = new Uint8Array(46 + w.name.byteLength + extraLen);
      const dv = new DataView(c.buffer);
      dv.setUint32(0, SIG_CENTRAL, true);
      dv.setUint16(4, extraLen ? 45 : 20, true); // version made by (MS-DOS, spec version)
      dv.setUint16(6, extraLen ? 45 : 20, true);
      dv.setUint16(8, 0x0800, true);
      dv.setUint16(10, 0, true);
      dv.setUint16(12, 0, true);
      dv.setUint16(14, 0x21, true);
      dv.setUint32(16, w.crc, true);
      dv.setUint32(20, bigSize ? U32_MAX : w.size, true);
      dv.setUint32(24, bigSize ? U32_MAX : w.size, true);
      dv.setUint16(28, w.name.byteLength, true);
      dv.setUint16(30, extraLen, true);
      dv.setUint32(42, bigOff ? U32_MAX : w.offset, true);
      c.set(w.name, 46);
      if (extraLen) {
        let q = 46 + w.name.byteLength;
        dv.setUint16(q, 1, true);
        dv.setUint16(q + 2, extraLen - 4, true);
        q += 4;
        if (bigSize) {
          dv.setBigUint64(q, BigInt(w.size), true);
          dv.setBigUint64(q + 8, BigInt(w.size), true);
          q += 16;
        }
        if (bigOff) dv.setBigUint64(q, BigInt(w.offset), true);
      }
      parts.push(c);
    }
    const cdSize = parts.reduce((s, c) => s + c.byteLength, 0);
    const count = this.written.length;
    const z64 = force || count >= U16_MAX || cdOffset >= U32_MAX || cdSize >= U32_MAX;
    if (z64) {
      const r = new Uint8Array(56 + 20);
      const dv = new DataView(r.buffer);
      dv.setUint32(0, SIG_EOCD64, true);
      dv.setBigUint64(4, 44n, true); // size of the rest of this record
      dv.setUint16(12, 45, true);
      dv.setUint16(14, 45, true);
      dv.setBigUint64(24, BigInt(count), true);
      dv.setBigUint64(32, BigInt(count), true);
      dv.setBigUint64(40, BigInt(cdSize), true);
      dv.setBigUint64(48, BigInt(cdOffset), true);
      dv.setUint32(56, SIG_LOCATOR64, true);
      dv.setBigUint64(64, BigInt(cdOffset + cdSize), true);
      dv.setUint32(72, 1, true); // total number of disks
      parts.push(r);
    }
    const end = new Uint8Array(22);
    const ev = new DataView(end.buffer);
    ev.setUint32(0, SIG_EOCD, true);
    ev.setUint16(8, z64 ? U16_MAX : count, true);
    ev.setUint16(10, z64 ? U16_MAX : count, true);
    ev.setUint32(12, z64 ? U32_MAX : cdSize, true);
    ev.setUint32(16, z64 ? U32_MAX : cdOffset, true);
    parts.push(end);
    for (const c of parts) writeAll(this.fd, c);
  }
}
