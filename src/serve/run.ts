// What the run view shows, read from the exp dir as the run writes it: the JSON-lines logs (read
// incrementally from a byte offset, complete lines only, so a line being written is picked up by the
// next poll), the checkpoints (epoch, arch, size: from their pickles alone) and the reconstruction
// grids per epoch. Nothing here knows which job wrote the log: the page plots every numeric key.
import fs from 'node:fs';
import path from 'node:path';
import { peekCheckpoint, type CheckpointInfo } from '../train/checkpoint.js';

/** Log files first by job (pretrain, then fine-tune), then by name. */
const LOG_ORDER = ['pretrain_log.txt', 'finetune_log.txt', 'log.txt'];
const isLogName = (n: string): boolean => /(^|_)log\.txt$/.test(n) || n.endsWith('.jsonl');

export function listLogs(root: string): string[] {
  const names = fs.readdirSync(root).filter((n) => isLogName(n) && isFile(path.join(root, n)));
  const rank = (n: string): number => { const i = LOG_ORDER.indexOf(n); return i < 0 ? LOG_ORDER.length : i; };
  return names.sort((a, b) => rank(a) - rank(b) || a.localeCompare(b));
}

export interface LogChunk {
  /** one object per complete line since `offset`; lines with a `cmd` key are run headers (the flags) */
  records: Record<string, unknown>[];
  headers: Record<string, unknown>[];
  /** where the next read starts (just after the last complete line) */
  offset: number;
  /** true when the file is shorter than the offset asked for (a new run truncated it): reread from 0 */
  reset: boolean;
  /** lines that are not JSON objects (skipped) */
  badLines: number;
}

/** Complete lines of `file` from byte `offset` on, parsed. */
export function readLogFrom(file: string, offset: number): LogChunk {
  const size = fs.statSync(file).size;
  if (offset > size) return { records: [], headers: [], offset: 0, reset: true, badLines: 0 };
  const fd = fs.openSync(file, 'r');
  let buf: Buffer;
  try {
    buf = Buffer.alloc(size - offset);
    let got = 0;
    while (got < buf.length) {
      const n = fs.readSync(fd, buf, got, buf.length - got, offset + got);
      if (n === 0) break;
      got += n;
    }
    buf = buf.subarray(0, got);
  } finally { fs.closeSync(fd); }
  const end = buf.lastIndexOf(0x0a) + 1;          // a line still being written waits for its newline
  const out: LogChunk = { records: [], headers: [], offset: offset + end, reset: false, badLines: 0 };
  for (const line of buf.subarray(0, end).toString('utf8').split('\n')) {
    if (line.trim() === '') continue;
    let v: unknown;
    try { v = JSON.parse(line); } catch { out.badLines++; continue; }
    if (v === null || typeof v !== 'object' || Array.isArray(v)) { out.badLines++; continue; }
    const rec = v as Record<string, unknown>;
    (typeof rec.cmd === 'string' ? out.headers : out.records).push(rec);
  }
  return out;
}

export interface CheckpointEntry {
  /** file name inside the exp dir, or the --ckpt path given on the command line */
  name: string;
  /** what the page shows, when not the name (the --ckpt file's base name) */
  label?: string;
  size: number;
  mtimeMs: number;
  /** 'spark' (with decoder: the playground can use it), 'timm' (encoder only), 'safetensors', or 'unreadable' */
  kind: string;
  epoch?: number;
  arch?: string;
  inputSize?: number;
  maskRatio?: number;
  error?: string;
}

const infoCache = new Map<string, CheckpointInfo | Error>();

/** peekCheckpoint, remembered while the file's size and mtime stay the same (runs rewrite theirs each epoch). */
export function checkpointEntry(file: string, name: string): CheckpointEntry {
  const st = fs.statSync(file);
  const base = { name, size: st.size, mtimeMs: Math.round(st.mtimeMs) };
  if (file.endsWith('.safetensors')) return { ...base, kind: 'safetensors' };
  const key = `${file}\0${st.size}\0${st.mtimeMs}`;
  let info = infoCache.get(key);
  if (!info) {
    try { info = peekCheckpoint(file); } catch (e) { info = e as Error; }
    if (infoCache.size > 256) infoCache.clear();
    infoCache.set(key, info);
  }
  if (info instanceof Error) return { ...base, kind: 'unreadable', error: info.message };
  return { ...base, kind: info.kind, epoch: info.epoch, arch: info.arch, inputSize: info.inputSize, maskRatio: info.maskRatio };
}

/** The checkpoints at the top of the exp dir: spark-style first, newest first. */
export function listCheckpoints(root: string): CheckpointEntry[] {
  const names = fs.readdirSync(root).filter((n) => /\.(pth|pt|safetensors)$/.test(n) && isFile(path.join(root, n)));
  const rank = (e: CheckpointEntry): number => ['spark', 'timm', 'safetensors', 'unreadable'].indexOf(e.kind);
  return names.map((n) => checkpointEntry(path.join(root, n), n)).sort((a, b) => rank(a) - rank(b) || b.mtimeMs - a.mtimeMs || a.name.localeCompare(b.name));
}

/** reconstructions/ep0007.png → {epoch: 7, path: 'reconstructions/ep0007.png'}, by epoch. */
export function listReconstructions(root: string): { epoch: number; path: string }[] {
  const dir = path.join(root, 'reconstructions');
  if (!isDir(dir)) return [];
  return fs.readdirSync(dir).map((n) => ({ n, m: /^ep(\d+)\.png$/.exec(n) })).filter((x) => x.m && isFile(path.join(dir, x.n)))
    .map((x) => ({ epoch: Number(x.m![1]), path: `reconstructions/${x.n}` })).sort((a, b) => a.epoch - b.epoch);
}

function isFile(p: string): boolean { try { return fs.statSync(p).isFile(); } catch { return false; } }
function isDir(p: string): boolean { try { return fs.statSync(p).isDirectory(); } catch { return false; } }
