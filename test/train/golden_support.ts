// Helpers for the `spark verify` tests (golden.test.ts, golden_ft.test.ts): run the command in-process
// and capture its output; write a copy of a fixture with some tensors or metadata edited.
import assert from 'node:assert/strict';
import fs from 'node:fs';
import * as torch from '../../src/torch/index.js';
import { verifyCommand } from '../../src/cli/verify.js';

/** Run verifyCommand in-process and capture what it prints. */
export async function runVerifyCommand(argv: string[]): Promise<{ code: number; out: string }> {
  const lines: string[] = [];
  const log = console.log;
  const threads = torch.getNumThreads();
  console.log = (...a: unknown[]) => { lines.push(a.map(String).join(' ')); };
  try {
    const code = await verifyCommand(argv);
    return { code, out: lines.join('\n') };
  } finally {
    console.log = log;
    torch.setNumThreads(threads);
  }
}

/** An edit of one tensor's values in place: float32 tensors as Float32Array, int64 ones as BigInt64Array. */
export type TensorEdit = ((v: Float32Array) => void) | ((v: BigInt64Array) => void);

/**
 * A copy of a fixture with some float32 (or int64) tensors changed by `edits` and its metadata passed
 * through `meta` (the header is rewritten, data offsets are relative to the data section so they stay valid).
 */
export function editedFixture(src: string, dst: string, edits: Record<string, TensorEdit>,
  meta: (m: Record<string, string>) => void = () => {}): void {
  const buf = fs.readFileSync(src);
  const n = Number(buf.readBigUInt64LE(0));
  const header = JSON.parse(buf.subarray(8, 8 + n).toString('utf8')) as Record<string, unknown>;
  const data = Buffer.from(buf.subarray(8 + n));
  for (const [name, edit] of Object.entries(edits)) {
    const e = header[name] as { dtype: string; data_offsets: [number, number] };
    assert.ok(e && (e.dtype === 'F32' || e.dtype === 'I64'), `${name}: an F32 or I64 tensor of the fixture`);
    const [s, t] = e.data_offsets;
    const raw = data.buffer.slice(data.byteOffset + s, data.byteOffset + t);
    const v = e.dtype === 'F32' ? new Float32Array(raw) : new BigInt64Array(raw);
    (edit as (v: Float32Array | BigInt64Array) => void)(v);
    Buffer.from(v.buffer).copy(data, s);
  }
  meta(header.__metadata__ as Record<string, string>);
  let json = JSON.stringify(header);
  json += ' '.repeat((8 - (json.length % 8)) % 8);
  const len = Buffer.alloc(8);
  len.writeBigUInt64LE(BigInt(Buffer.byteLength(json)));
  fs.writeFileSync(dst, Buffer.concat([len, Buffer.from(json, 'utf8'), data]));
}
