// safetensors (https://github.com/huggingface/safetensors): an 8-byte little-endian header length,
// a JSON header {name: {dtype, shape, data_offsets: [begin, end]}, __metadata__: {str: str}}
// padded with spaces to a multiple of 8, then the raw little-endian tensor bytes.
// Reading never copies the whole file: the header is parsed first, then each tensor's bytes are
// read at their offset. Writing streams tensor by tensor into an atomically replaced file.
import fs from 'node:fs';
import { writeFileAtomic } from './atomic.js';
import { type DType, type RawTensor, DTYPES, dtypeFromSafetensors, itemSize, safetensorsCode } from './dtypes.js';
import { openForRead, readAt, writeAll } from './fsio.js';
import { checkRawTensor, numel } from './raw.js';

/** The reference implementation's cap on header size: anything larger is not a real header. */
const MAX_HEADER = 100_000_000;

export interface SafetensorsEntry {
  dtype: DType;
  shape: number[];
  /** byte offsets relative to the start of the data section */
  begin: number;
  end: number;
}

export interface SafetensorsContents {
  tensors: Map<string, RawTensor>;
  metadata: Record<string, string>;
}

/** A safetensors file opened for lazy reads: the header is parsed, tensors are read on demand. */
export class SafetensorsReader {
  readonly entries: Map<string, SafetensorsEntry>;
  readonly metadata: Record<string, string>;
  private fd: number | undefined;
  private readonly dataStart: number;

  private constructor(readonly path: string, fd: number, dataStart: number,
    entries: Map<string, SafetensorsEntry>, metadata: Record<string, string>) {
    this.fd = fd;
    this.dataStart = dataStart;
    this.entries = entries;
    this.metadata = metadata;
  }

  static open(path: string): SafetensorsReader {
    const what = `safetensors ${path}`;
    const fd = openForRead(path, 'safetensors');
    try {
      const size = fs.fstatSync(fd).size;
      const { entries, metadata, dataStart } = parseHeader(fd, size, what);
      return new SafetensorsReader(path, fd, dataStart, entries, metadata);
    } catch (e) {
      fs.closeSync(fd);
      throw e;
    }
  }

  get names(): string[] {
    return [...this.entries.keys()];
  }

  read(name: string): RawTensor {
    const e = this.entries.get(name);
    if (!e) throw new Error(`safetensors ${this.path}: no tensor named ${JSON.stringify(name)}`);
    if (this.fd === undefined) throw new Error(`safetensors ${this.path}: reader is closed`);
    const data = readAt(this.fd, this.dataStart + e.begin, e.end - e.begin, `safetensors ${this.path}`);
    return { dtype: e.dtype, shape: [...e.shape], data };
  }

  close(): void {
    if (this.fd !== undefined) fs.closeSync(this.fd);
    this.fd = undefined;
  }
}

/** Reads every tensor (in header order) and the `__metadata__` strings. */
export function readSafetensors(path: string): SafetensorsContents {
  const r = SafetensorsReader.open(path);
  try {
    const tensors = new Map<string, RawTensor>();
    for (const name of r.entries.keys()) tensors.set(name, r.read(name));
    return { tensors, metadata: { ...r.metadata } };
  } finally {
    r.close();
  }
}

function parseHeader(fd: number, size: number, what: string) {
  if (size < 8) throw new Error(`${what}: file is truncated (${size} bytes; a safetensors file starts with an 8-byte header length)`);
  const lenBytes = readAt(fd, 0, 8, what);
  const n = new DataView(lenBytes.buffer).getBigUint64(0, true);
  if (n > BigInt(size - 8)) {
    throw new Error(`${what}: header length ${n} exceeds the file's ${size - 8} remaining bytes (truncated, or not a safetensors file)`);
  }
  if (n > BigInt(MAX_HEADER)) throw new Error(`${what}: header length ${n} is over the 100 MB limit (not a safetensors file?)`);
  const headerLen = Number(n);
  const text = new TextDecoder('utf-8', { fatal: false }).decode(readAt(fd, 8, headerLen, what));
  if (!text.startsWith('{')) throw new Error(`${what}: header does not start with '{' (not a safetensors file?)`);
  let header: unknown;
  try {
    header = JSON.parse(text);
  } catch (e) {
    throw new Error(`${what}: header is not valid JSON (${(e as Error).message})`);
  }
  if (typeof header !== 'object' || header === null || Array.isArray(header)) {
    throw new Error(`${what}: header must be a JSON object`);
  }
  const dataLen = size - 8 - headerLen;
  const entries = new Map<string, SafetensorsEntry>();
  let metadata: Record<string, string> = {};
  for (const [name, v] of Object.entries(header as Record<string, unknown>)) {
    if (name === '__metadata__') {
      metadata = parseMetadata(v, what);
      continue;
    }
    entries.set(name, parseEntry(name, v, what));
  }
  checkCoverage(entries, dataLen, what);
  return { entries, metadata, dataStart: 8 + headerLen };
}

function parseMetadata(v: unknown, what: string): Record<string, string> {
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new Error(`${what}: __metadata__ must be an object of strings`);
  for (const [k, s] of Object.entries(v)) {
    if (typeof s !== 'string') throw new Error(`${what}: __metadata__.${k} must be a string, got ${JSON.stringify(s)}`);
  }
  return v as Record<string, string>;
}

function parseEntry(name: string, v: unknown, what: string): SafetensorsEntry {
  const w = `${what}: tensor ${JSON.stringify(name)}`;
  if (typeof v !== 'object' || v === null) throw new Error(`${w}: header entry must be an object`);
  const { dtype, shape, data_offsets: off } = v as { dtype?: unknown; shape?: unknown; data_offsets?: unknown };
  const dt = typeof dtype === 'string' ? dtypeFromSafetensors(dtype) : undefined;
  if (!dt) {
    const known = DTYPES.map(safetensorsCode).join(' ');
    throw new Error(`${w}: unsupported dtype ${JSON.stringify(dtype)} (supported: ${known})`);
  }
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new Error(`${w}: shape must be a list of non-negative integers, got ${JSON.stringify(shape)}`);
  }
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0) || off[1] < off[0]) {
    throw new Error(`${w}: data_offsets must be [begin, end] with 0 <= begin <= end, got ${JSON.stringify(off)}`);
  }
  const want = numel(shape) * itemSize(dt);
  if (off[1] - off[0] !== want) {
    throw new Error(`${w}: ${dtype} shape [${shape}] needs ${want} bytes but data_offsets span ${off[1] - off[0]}`);
  }
  return { dtype: dt, shape: shape as number[], begin: off[0], end: off[1] };
}

// As in the reference implementation, the tensors must tile the data section exactly: no overlap,
// no hole, nothing missing at the end (a short file is a truncated one).
function checkCoverage(entries: Map<string, SafetensorsEntry>, dataLen: number, what: string): void {
  const sorted = [...entries].sort((a, b) => a[1].begin - b[1].begin || a[1].end - b[1].end);
  let pos = 0;
  for (const [name, e] of sorted) {
    if (e.begin !== pos) {
      throw new Error(`${what}: tensor ${JSON.stringify(name)} starts at byte ${e.begin} of the data section, expected ${pos} (overlapping or gapped offsets)`);
    }
    pos = e.end;
  }
  if (pos > dataLen) {
    throw new Error(`${what}: file is truncated (tensor data needs ${pos} bytes after the header, the file has ${dataLen})`);
  }
  if (pos < dataLen) {
    throw new Error(`${what}: ${dataLen - pos} bytes after the last tensor are not described by the header (corrupt file)`);
  }
}

/**
 * Writes `tensors` (in the given order in the header) and optional string metadata, atomically.
 * The data section is laid out largest item size first (stable), as the reference writer does, so
 * that every tensor's bytes are aligned to its element size.
 */
export function writeSafetensors(
  path: string,
  tensors: Map<string, RawTensor> | Record<string, RawTensor>,
  metadata?: Record<string, string>,
): void {
  const list: [string, RawTensor][] = tensors instanceof Map ? [...tensors] : Object.entries(tensors);
  for (const [name, t] of list) {
    if (name === '__metadata__' || name === '') throw new Error(`writeSafetensors ${path}: invalid tensor name ${JSON.stringify(name)}`);
    checkRawTensor(t, `writeSafetensors ${path}: tensor ${JSON.stringify(name)}`);
  }
  const layout = list.map((e, i) => ({ e, i })).sort((a, b) => itemSize(b.e[1].dtype) - itemSize(a.e[1].dtype) || a.i - b.i);
  const offsets = new Map<string, [number, number]>();
  let pos = 0;
  for (const { e: [name, t] } of layout) {
    offsets.set(name, [pos, pos + t.data.byteLength]);
    pos += t.data.byteLength;
  }
  const header: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== 'string') throw new Error(`writeSafetensors ${path}: metadata ${k} must be a string (JSON-encode other values)`);
    }
    header.__metadata__ = metadata;
  }
  for (const [name, t] of list) {
    header[name] = { dtype: safetensorsCode(t.dtype), shape: t.shape, data_offsets: offsets.get(name) };
  }
  let json = new TextEncoder().encode(JSON.stringify(header));
  const padded = Math.ceil(json.byteLength / 8) * 8;
  if (padded !== json.byteLength) {
    const p = new Uint8Array(padded).fill(0x20);
    p.set(json);
    json = p;
  }
  const len = new Uint8Array(8);
  new DataView(len.buffer).setBigUint64(0, BigInt(json.byteLength), true);
  writeFileAtomic(path, (fd) => {
    writeAll(fd, len);
    writeAll(fd, json);
    for (const { e: [, t] } of layout) writeAll(fd, t.data);
  });
}
