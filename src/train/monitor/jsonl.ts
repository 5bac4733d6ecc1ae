// Append-only JSON-lines log (the exp dir's pretrain_log.txt). One write() per line, so a crash of
// the process loses nothing already logged; no fsync per line (that would stall the training loop),
// only on sync()/close().
import { closeSync, fdatasyncSync, mkdirSync, openSync, readFileSync, writeSync } from 'node:fs';
import { dirname } from 'node:path';

export class JsonlLogger {
  readonly path: string;
  private fd: number | null;

  /** `truncate: true` starts the file afresh (a new run); the default appends (a resumed run). */
  constructor(path: string, opts: { truncate?: boolean } = {}) {
    if (typeof path !== 'string' || path === '') throw new Error('JsonlLogger: path is empty; pass the log file to write, e.g. <exp_dir>/pretrain_log.txt');
    mkdirSync(dirname(path), { recursive: true });
    this.path = path;
    this.fd = openSync(path, opts.truncate ? 'w' : 'a');
  }

  /**
   * Appends `obj` as one line of JSON. Non-finite numbers become null (JSON has no NaN);
   * bigints are written as numbers.
   */
  log(obj: Record<string, unknown>): void {
    if (this.fd === null) throw new Error(`JsonlLogger: ${this.path} is closed; create a new logger to log more`);
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      throw new Error('JsonlLogger.log: pass a plain object (one JSON object per line)');
    }
    const line = JSON.stringify(obj, (_k, v: unknown) => (typeof v === 'bigint' ? Number(v) : v)) + '\n';
    const buf = Buffer.from(line, 'utf8');
    let off = 0;
    while (off < buf.length) off += writeSync(this.fd, buf, off, buf.length - off);
  }

  /** Asks the OS to put what was logged on disk (survives a machine crash, not just a process one). */
  sync(): void {
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
 * Reads a JSON-lines file back, skipping blank lines (the reference leaves one after its header).
 * A last line without its newline (a write cut off by a crash) is dropped when `allowPartialTail`.
 */
export function readJsonl(path: string, opts: { allowPartialTail?: boolean } = {}): Record<string, unknown>[] {
  const text = readFileSync(path, 'utf8');
  const lines = text.split('\n');
  const out: Record<string, unknown>[] = [];
  lines.forEach((line, i) => {
    if (line.trim() === '') return;
    const isTail = i === lines.length - 1; // no newline after it
    try {
      out.push(JSON.parse(line) as Record<string, unknown>);
    } catch {
      if (isTail && opts.allowPartialTail) return;
      throw new Error(`${path}:${i + 1}: not valid JSON${isTail ? ' (the last line is cut short)' : ''}; the log is corrupt`);
    }
  });
  return out;
}
