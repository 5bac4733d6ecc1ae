// TensorBoard event files in pure TS: TFRecord framing around protobuf-encoded `Event`s.
// Field numbers follow tensorboard/compat/proto/{event,summary}.proto:
//   Event{wall_time=1 double, step=2 int64, file_version=3 string, summary=5}
//   Summary{value=1 repeated Value}; Value{tag=1, simple_value=2 float, image=4}
//   Image{height=1, width=2, colorspace=3, encoded_image_string=4}
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { crc32c } from '../../torch/io/crc32.js';
import { pngSize } from './png.js';
import { ProtoWriter, decodeMessage, get } from './protobuf.js';

export const FILE_VERSION = 'brain.Event:2';

/**
 * TFRecord's masked CRC-32C: storing a CRC of data that itself contains CRCs is weak, so TensorFlow
 * rotates right by 15 bits and adds a constant.
 */
export function maskedCrc32c(data: Uint8Array): number {
  const crc = crc32c(data);
  return ((((crc >>> 15) | (crc << 17)) >>> 0) + 0xa282ead8) >>> 0;
}
/** Summary.Image colorspace for RGB (1 grey, 2 grey+alpha, 3 RGB, 4 RGBA). */
const COLORSPACE_BY_PNG_TYPE: Record<number, number> = { 0: 1, 4: 2, 2: 3, 6: 4 };

export interface TbImage {
  height: number;
  width: number;
  colorspace: number;
  encodedImageString: Uint8Array;
}
export interface TbValue {
  tag: string;
  simpleValue?: number;
  image?: TbImage;
}
export interface TbEvent {
  wallTime: number;
  step: number;
  fileVersion?: string;
  summary?: { value: TbValue[] };
}

/** One TFRecord: u64 LE length, masked CRC32C of those 8 bytes, data, masked CRC32C of data. */
export function frameRecord(data: Uint8Array): Uint8Array {
  const out = new Uint8Array(16 + data.length);
  const dv = new DataView(out.buffer);
  dv.setBigUint64(0, BigInt(data.length), true);
  dv.setUint32(8, maskedCrc32c(out.subarray(0, 8)), true);
  out.set(data, 12);
  dv.setUint32(12 + data.length, maskedCrc32c(data), true);
  return out;
}

function encodeEvent(ev: TbEvent): Uint8Array {
  const w = new ProtoWriter().double(1, ev.wallTime).int(2, ev.step);
  if (ev.fileVersion !== undefined) w.string(3, ev.fileVersion);
  if (ev.summary) {
    const s = new ProtoWriter();
    for (const v of ev.summary.value) {
      const vw = new ProtoWriter().string(1, v.tag);
      if (v.simpleValue !== undefined) vw.float(2, v.simpleValue);
      if (v.image) {
        const im = v.image;
        vw.message(4, new ProtoWriter().int(1, im.height).int(2, im.width).int(3, im.colorspace).bytes(4, im.encodedImageString).finish());
      }
      s.message(1, vw.finish());
    }
    w.message(5, s.finish());
  }
  return w.finish();
}

function decodeEvent(buf: Uint8Array): TbEvent {
  const f = decodeMessage(buf);
  const ev: TbEvent = { wallTime: get.double(f, 1) ?? 0, step: Number(get.int64(f, 2) ?? 0n) };
  const fileVersion = get.string(f, 3);
  if (fileVersion !== undefined) ev.fileVersion = fileVersion;
  const summary = get.bytes(f, 5);
  if (summary) {
    ev.summary = {
      value: get.repeatedBytes(decodeMessage(summary), 1).map((vb) => {
        const vf = decodeMessage(vb);
        const v: TbValue = { tag: get.string(vf, 1) ?? '' };
        const sv = get.float(vf, 2);
        if (sv !== undefined) v.simpleValue = sv;
        const ib = get.bytes(vf, 4);
        if (ib) {
          const imf = decodeMessage(ib);
          v.image = {
            height: Number(get.int64(imf, 1) ?? 0n),
            width: Number(get.int64(imf, 2) ?? 0n),
            colorspace: Number(get.int64(imf, 3) ?? 0n),
            encodedImageString: get.bytes(imf, 4) ?? new Uint8Array(0),
          };
        }
        return v;
      }),
    };
  }
  return ev;
}

function checkStep(step: number): void {
  if (!Number.isSafeInteger(step)) throw new Error(`TensorBoardWriter: step ${step} is not an integer; pass the global iteration or epoch number`);
}

/**
 * Writes `events.out.tfevents.<unix-seconds>.<hostname>` in `logDir`. Each add is written to the
 * file at once (one write() per record, no user-space buffering), so TensorBoard sees it while the
 * run goes on; `flush()` additionally asks the OS to put it on disk.
 */
export class TensorBoardWriter {
  readonly path: string;
  private fd: number | null;

  constructor(logDir: string) {
    if (typeof logDir !== 'string' || logDir === '') throw new Error('TensorBoardWriter: logDir is empty; pass the folder to write event files into');
    mkdirSync(logDir, { recursive: true });
    const base = join(logDir, `events.out.tfevents.${Math.floor(Date.now() / 1000)}.${hostname()}`);
    // Two writers started in the same second in the same folder must not share a file.
    let fd: number | undefined;
    let path = base;
    for (let n = 1; fd === undefined; n++) {
      try {
        fd = openSync(path, 'wx');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
        path = `${base}.${n}`;
      }
    }
    this.fd = fd;
    this.path = path;
    this.write({ wallTime: Date.now() / 1000, step: 0, fileVersion: FILE_VERSION });
  }

  private write(ev: TbEvent): void {
    if (this.fd === null) throw new Error(`TensorBoardWriter: ${this.path} is closed; create a new writer to log more`);
    const rec = frameRecord(encodeEvent(ev));
    let off = 0;
    while (off < rec.length) off += writeSync(this.fd, rec, off, rec.length - off);
  }

  addScalar(tag: string, value: number, step: number, wallTime = Date.now() / 1000): void {
    checkStep(step);
    if (typeof value !== 'number') throw new Error(`TensorBoardWriter.addScalar(${tag}): value must be a number, got ${typeof value}`);
    this.write({ wallTime, step, summary: { value: [{ tag, simpleValue: value }] } });
  }

  /** Logs an already-encoded PNG (see encodePng); height/width must match the PNG's header. */
  addImagePng(tag: string, png: Uint8Array, height: number, width: number, step: number, wallTime = Date.now() / 1000): void {
    checkStep(step);
    const size = pngSize(png);
    if (size.height !== height || size.width !== width) {
      throw new Error(`TensorBoardWriter.addImagePng(${tag}): PNG is ${size.height}×${size.width} but ${height}×${width} was given; pass the PNG's own size`);
    }
    const colorspace = COLORSPACE_BY_PNG_TYPE[png[25]!] ?? 3;
    this.write({ wallTime, step, summary: { value: [{ tag, image: { height, width, colorspace, encodedImageString: png } }] } });
  }

  flush(): void {
    if (this.fd !== null) fdatasyncSync(this.fd);
  }

  close(): void {
    if (this.fd === null) return;
    fdatasyncSync(this.fd);
    closeSync(this.fd);
    this.fd = null;
  }
}

/**
 * Splits a TFRecord stream, verifying both CRCs of every record. A record cut short at the end of
 * the buffer (a writer caught mid-write) is an error unless `allowPartialTail`, which drops it.
 */
export function readTfRecords(buf: Uint8Array, opts: { allowPartialTail?: boolean; name?: string } = {}): Uint8Array[] {
  const name = opts.name ?? 'TFRecord data';
  const dv = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: Uint8Array[] = [];
  let pos = 0;
  while (pos < buf.length) {
    if (pos + 12 > buf.length) {
      if (opts.allowPartialTail) break;
      throw new Error(`${name}: truncated record header at byte ${pos}; the file is cut short`);
    }
    if (dv.getUint32(pos + 8, true) !== maskedCrc32c(buf.subarray(pos, pos + 8))) {
      throw new Error(`${name}: length CRC mismatch in record at byte ${pos}; the file is corrupt`);
    }
    const len = dv.getBigUint64(pos, true);
    if (BigInt(pos) + 16n + len > BigInt(buf.length)) {
      if (opts.allowPartialTail) break;
      throw new Error(`${name}: record at byte ${pos} needs ${len} data bytes but the file ends first; the file is cut short`);
    }
    const n = Number(len);
    const data = buf.subarray(pos + 12, pos + 12 + n);
    if (dv.getUint32(pos + 12 + n, true) !== maskedCrc32c(data)) {
      throw new Error(`${name}: data CRC mismatch in record at byte ${pos}; the file is corrupt`);
    }
    out.push(data);
    pos += 16 + n;
  }
  return out;
}

/** Reads and decodes every Event of an event file, verifying all CRCs. */
export function readEventFile(path: string, opts: { allowPartialTail?: boolean } = {}): TbEvent[] {
  const buf = readFileSync(path);
  // A plain Uint8Array view, so decoded byte fields (PNG data) are not Node Buffers.
  const bytes = new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  return readTfRecords(bytes, { ...opts, name: path }).map(decodeEvent);
}
