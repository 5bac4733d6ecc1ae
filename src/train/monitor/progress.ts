// Training progress: an in-place bar on a terminal, reference-style (MetricLogger) lines otherwise.

/** The part of a writable stream the bar uses (process.stdout fits; tests pass a fake). */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressFields {
  /** 0-based epoch, shown as the reference does: [ep{epoch}/{ep_total}]. */
  epoch?: number;
  ep_total?: number;
  loss?: number;
  lr?: number;
  imgPerSec?: number;
  /** Anything else is shown as `key: value`. */
  [key: string]: number | string | undefined;
}

export interface ProgressOptions {
  /** Iterations per epoch. */
  total: number;
  stream?: ProgressStream;
  /** Defaults to stream.isTTY. */
  isTTY?: boolean;
  /** TTY: minimum time between redraws (default 100 ms, i.e. at most ~10 per second). */
  minRedrawMs?: number;
  /** Non-TTY: print a line at every multiple of this many iterations (default: a tenth of an epoch)… */
  printEvery?: number;
  /** …or after this many seconds, whichever comes first (default 60). */
  printEverySec?: number;
  /** Weight of the newest sample in the smoothed seconds-per-iteration (default 0.1). */
  smoothing?: number;
  /** Milliseconds clock; tests inject a fake one. */
  now?: () => number;
}

/** Seconds as Python's str(timedelta(seconds=int(s))): "0:01:05", "1 day, 2:03:04". */
export function formatDuration(seconds: number): string {
  if (!Number.isFinite(seconds)) return '?';
  let s = Math.max(0, Math.floor(seconds));
  const days = Math.floor(s / 86400);
  s -= days * 86400;
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  const hms = `${h}:${String(m).padStart(2, '0')}:${String(s % 60).padStart(2, '0')}`;
  return days ? `${days} day${days > 1 ? 's' : ''}, ${hms}` : hms;
}

/** Compact number: 4 decimals in the usual range, scientific for tiny/huge (learning rates). */
export function formatNumber(v: number): string {
  if (!Number.isFinite(v)) return String(v);
  if (Number.isInteger(v) && Math.abs(v) < 1e9) return String(v);
  const a = Math.abs(v);
  if (a !== 0 && (a < 1e-3 || a >= 1e6)) return v.toExponential(2);
  return v.toFixed(4);
}

const KNOWN = new Set(['epoch', 'ep_total', 'loss', 'lr', 'imgPerSec']);

export class ProgressBar {
  readonly total: number;
  readonly isTTY: boolean;
  private readonly stream: ProgressStream;
  private readonly minRedrawMs: number;
  private readonly printEvery: number;
  private readonly printEverySec: number;
  private readonly alpha: number;
  private readonly now: () => number;

  private secPerIt: number | undefined;
  private lastTime: number;
  private lastGlobal: number | undefined;
  private pass = 0; // counts restarts of `iter` when no epoch is given
  private lastIter = -1;
  private lastDraw = -Infinity;
  private lastPrintTime: number;
  private lastPrintDone = 0;
  private lastPrintEpoch: number | undefined;
  private printedAny = false;
  private pendingLine = ''; // TTY: what is on the current line, not yet ended by a newline

  constructor(opts: ProgressOptions) {
    if (!Number.isInteger(opts.total) || opts.total < 1) {
      throw new Error(`ProgressBar: total ${opts.total} must be a positive integer (iterations per epoch)`);
    }
    this.total = opts.total;
    this.stream = opts.stream ?? process.stdout;
    this.isTTY = opts.isTTY ?? this.stream.isTTY === true;
    this.minRedrawMs = opts.minRedrawMs ?? 100;
    this.printEvery = Math.max(1, opts.printEvery ?? Math.ceil(this.total / 10));
    this.printEverySec = opts.printEverySec ?? 60;
    this.alpha = opts.smoothing ?? 0.1;
    this.now = opts.now ?? Date.now;
    this.lastTime = this.now();
    this.lastPrintTime = this.lastTime;
  }

  /** Smoothed seconds per iteration (undefined before the first update). */
  get secondsPerIteration(): number | undefined {
    return this.secPerIt;
  }

  /**
   * Reports that 0-based iteration `iter` of the epoch has finished. Create the bar right before
   * the loop: the first update's time is measured from construction.
   */
  update(iter: number, fields: ProgressFields = {}): void {
    if (!Number.isInteger(iter) || iter < 0 || iter >= this.total) {
      throw new Error(`ProgressBar.update: iter ${iter} is outside 0..${this.total - 1}; pass the 0-based iteration within the epoch`);
    }
    const t = this.now();
    if (fields.epoch === undefined && iter < this.lastIter) this.pass++;
    this.lastIter = iter;
    const global = ((fields.epoch as number | undefined) ?? this.pass) * this.total + iter;
    // First update: assume the bar was made at the start of this epoch's loop.
    const di = this.lastGlobal === undefined ? iter + 1 : global - this.lastGlobal;
    if (di > 0) {
      const sample = (t - this.lastTime) / 1000 / di;
      this.secPerIt = this.secPerIt === undefined ? sample : this.secPerIt + this.alpha * (sample - this.secPerIt);
      this.lastTime = t;
      this.lastGlobal = global;
    }
    const done = iter + 1;
    const endOfEpoch = done === this.total;
    if (this.isTTY) {
      if (endOfEpoch || t - this.lastDraw >= this.minRedrawMs) {
        this.lastDraw = t;
        this.draw(this.barLine(done, fields), endOfEpoch);
      }
    } else {
      const newEpoch = fields.epoch !== this.lastPrintEpoch || done < this.lastPrintDone;
      if (newEpoch) this.lastPrintDone = 0;
      const crossed = Math.floor(done / this.printEvery) > Math.floor(this.lastPrintDone / this.printEvery);
      if (!this.printedAny || newEpoch || endOfEpoch || crossed || t - this.lastPrintTime >= this.printEverySec * 1000) {
        this.printedAny = true;
        this.lastPrintTime = t;
        this.lastPrintDone = done;
        this.lastPrintEpoch = fields.epoch as number | undefined;
        this.stream.write(this.plainLine(done, fields) + '\n');
      }
    }
  }

  /** Prints a message without garbling the bar (the bar is redrawn below it). */
  log(message: string): void {
    if (this.isTTY && this.pendingLine) {
      this.stream.write(`\r\x1b[K${message}\n${this.pendingLine}`);
    } else {
      this.stream.write(message + '\n');
    }
  }

  /** Ends the bar's line (TTY); call when training stops early. */
  close(): void {
    if (this.isTTY && this.pendingLine) this.stream.write('\n');
    this.pendingLine = '';
  }

  private etas(done: number, f: ProgressFields): { eta: number; rema: number | undefined } {
    const spi = this.secPerIt ?? NaN;
    const left = this.total - done;
    const ep = f.epoch as number | undefined;
    const epTotal = f.ep_total as number | undefined;
    const rema = ep !== undefined && epTotal !== undefined ? (left + Math.max(0, epTotal - ep - 1) * this.total) * spi : undefined;
    return { eta: left * spi, rema };
  }

  private extras(f: ProgressFields, sep: string): string[] {
    const out: string[] = [];
    for (const [k, v] of Object.entries(f)) {
      if (KNOWN.has(k) || v === undefined) continue;
      out.push(`${k}${sep}${typeof v === 'number' ? formatNumber(v) : v}`);
    }
    return out;
  }

  /** `[ep3/100]  [ 120/500]  eta: 0:01:32  loss: 0.5123  lr: 1.50e-4  img/s: 412.3  rema: 2:03:10` */
  private plainLine(done: number, f: ProgressFields): string {
    const w = String(this.total).length;
    const parts: string[] = [];
    if (f.epoch !== undefined) parts.push(f.ep_total !== undefined ? `[ep${f.epoch}/${f.ep_total}]` : `[ep${f.epoch}]`);
    const { eta, rema } = this.etas(done, f);
    parts.push(`[${String(done).padStart(w)}/${this.total}]`, `eta: ${formatDuration(eta)}`);
    if (f.loss !== undefined) parts.push(`loss: ${formatNumber(f.loss)}`);
    if (f.lr !== undefined) parts.push(`lr: ${formatNumber(f.lr)}`);
    if (f.imgPerSec !== undefined) parts.push(`img/s: ${f.imgPerSec.toFixed(1)}`);
    parts.push(...this.extras(f, ': '));
    if (rema !== undefined) parts.push(`rema: ${formatDuration(rema)}`);
    return parts.join('  ');
  }

  /** `ep 3/100 |█████░░░░░| 120/500 loss 0.5123 lr 1.50e-4 412 img/s eta 0:01:32 rema 2:03:10` */
  private barLine(done: number, f: ProgressFields): string {
    const { eta, rema } = this.etas(done, f);
    const head = f.epoch !== undefined ? (f.ep_total !== undefined ? `ep ${f.epoch}/${f.ep_total} ` : `ep ${f.epoch} `) : '';
    const tail: string[] = [`${String(done).padStart(String(this.total).length)}/${this.total}`];
    if (f.loss !== undefined) tail.push(`loss ${formatNumber(f.loss)}`);
    if (f.lr !== undefined) tail.push(`lr ${formatNumber(f.lr)}`);
    if (f.imgPerSec !== undefined) tail.push(`${f.imgPerSec.toFixed(0)} img/s`);
    tail.push(...this.extras(f, ' '));
    tail.push(`eta ${formatDuration(eta)}`);
    if (rema !== undefined) tail.push(`rema ${formatDuration(rema)}`);
    const text = tail.join(' ');
    const cols = this.stream.columns ?? 100;
    const barW = Math.min(30, cols - head.length - text.length - 4);
    let line: string;
    if (barW >= 5) {
      const fill = Math.round((done / this.total) * barW);
      line = `${head}|${'█'.repeat(fill)}${'░'.repeat(barW - fill)}| ${text}`;
    } else {
      line = `${head}${text}`;
    }
    // Never wrap: a wrapped line cannot be redrawn in place with \r.
    return line.length >= cols ? line.slice(0, cols - 1) : line;
  }

  private draw(line: string, final: boolean): void {
    this.stream.write(`\r\x1b[K${line}${final ? '\n' : ''}`);
    this.pendingLine = final ? '' : line;
  }
}

/** A stream that drops what it is given: a job's messages and progress bar when the caller asked for none. */
export const silentStream = { write: (): boolean => true, isTTY: false } as unknown as NodeJS.WritableStream & { isTTY?: boolean };
