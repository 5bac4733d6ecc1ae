// Positional reads and whole writes over a file descriptor. fs.readSync/writeSync may transfer
// fewer bytes than asked and cap one call near 2 GiB, so large tensors go through these loops.
import fs from 'node:fs';

const CHUNK = 1 << 30;

/**
 * Reads exactly `length` bytes at `position` into a fresh buffer (or `into` at `intoOffset`).
 * Throws when the file ends first; `what` names the file for that message.
 */
export function readAt(
  fd: number, position: number, length: number, what: string,
  into?: Uint8Array, intoOffset = 0,
): Uint8Array {
  const out = into ?? new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const n = fs.readSync(fd, out, intoOffset + done, Math.min(CHUNK, length - done), position + done);
    if (n === 0) {
      throw new Error(`${what}: file is truncated (wanted ${length} bytes at offset ${position}, file ends after ${done})`);
    }
    done += n;
  }
  return out;
}

/** Writes all of `data` at the descriptor's current position. */
export function writeAll(fd: number, data: Uint8Array): void {
  let done = 0;
  while (done < data.byteLength) {
    done += fs.writeSync(fd, data, done, Math.min(CHUNK, data.byteLength - done));
  }
}

/** Opens `path` for reading, with a one-line error naming the path when that fails. */
export function openForRead(path: string, what: string): number {
  let fd: number;
  try {
    fd = fs.openSync(path, 'r');
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new Error(`${what}: ${path} does not exist`);
    if (code === 'EISDIR') throw new Error(`${what}: ${path} is a directory, not a file`);
    throw new Error(`${what}: cannot open ${path}: ${(e as Error).message}`);
  }
  if (!fs.fstatSync(fd).isFile()) {
    fs.closeSync(fd);
    throw new Error(`${what}: ${path} is not a regular file`);
  }
  return fd;
}
