// Minimal protobuf wire-format encoder/decoder: just what TensorBoard event files need.
// Wire types: 0 varint, 1 fixed64, 2 length-delimited, 5 fixed32.

const Wire = { Varint: 0, Fixed64: 1, Len: 2, Fixed32: 5 } as const;
type Wire = (typeof Wire)[keyof typeof Wire];

/** Appends fields to a growing buffer; `finish()` returns the encoded message. */
export class ProtoWriter {
  private buf = new Uint8Array(64);
  private len = 0;

  private ensure(extra: number): void {
    if (this.len + extra <= this.buf.length) return;
    let cap = this.buf.length * 2;
    while (cap < this.len + extra) cap *= 2;
    const next = new Uint8Array(cap);
    next.set(this.buf.subarray(0, this.len));
    this.buf = next;
  }

  private rawVarint(v: bigint): void {
    // Negative int64s are encoded as their 64-bit two's complement (10 bytes), as protobuf does.
    let u = BigInt.asUintN(64, v);
    this.ensure(10);
    while (u >= 0x80n) {
      this.buf[this.len++] = Number(u & 0x7fn) | 0x80;
      u >>= 7n;
    }
    this.buf[this.len++] = Number(u);
  }

  private key(field: number, wire: Wire): void {
    this.rawVarint(BigInt((field << 3) | wire));
  }

  /** int32/int64/uint/bool/enum field. `value` must be an integer. */
  int(field: number, value: number | bigint): this {
    if (typeof value === 'number' && !Number.isSafeInteger(value)) {
      throw new Error(`protobuf field ${field}: ${value} is not a safe integer; pass an integer (or a bigint)`);
    }
    this.key(field, Wire.Varint);
    this.rawVarint(BigInt(value));
    return this;
  }

  double(field: number, value: number): this {
    this.key(field, Wire.Fixed64);
    this.ensure(8);
    new DataView(this.buf.buffer).setFloat64(this.len, value, true);
    this.len += 8;
    return this;
  }

  float(field: number, value: number): this {
    this.key(field, Wire.Fixed32);
    this.ensure(4);
    new DataView(this.buf.buffer).setFloat32(this.len, value, true);
    this.len += 4;
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.key(field, Wire.Len);
    this.rawVarint(BigInt(value.length));
    this.ensure(value.length);
    this.buf.set(value, this.len);
    this.len += value.length;
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, new TextEncoder().encode(value));
  }

  /** Embedded message (already encoded). */
  message(field: number, encoded: Uint8Array): this {
    return this.bytes(field, encoded);
  }

  finish(): Uint8Array {
    return this.buf.slice(0, this.len);
  }
}

/** One decoded field: varints as bigint, everything else as its raw bytes. */
export type ProtoField =
  | { wire: 0; value: bigint }
  | { wire: 1 | 2 | 5; value: Uint8Array };

/** Decodes one message level into field number → occurrences (in order). Unknown fields are kept. */
export function decodeMessage(buf: Uint8Array): Map<number, ProtoField[]> {
  const out = new Map<number, ProtoField[]>();
  let pos = 0;
  const readVarint = (): bigint => {
    let result = 0n;
    let shift = 0n;
    for (;;) {
      if (pos >= buf.length) throw new Error('protobuf: truncated varint; the message is corrupt');
      const b = buf[pos++]!;
      result |= BigInt(b & 0x7f) << shift;
      if (!(b & 0x80)) return result;
      shift += 7n;
      if (shift > 63n) throw new Error('protobuf: varint longer than 10 bytes; the message is corrupt');
    }
  };
  const take = (n: number): Uint8Array => {
    if (pos + n > buf.length) throw new Error(`protobuf: field needs ${n} bytes but only ${buf.length - pos} remain; the message is corrupt`);
    const s = buf.subarray(pos, pos + n);
    pos += n;
    return s;
  };
  while (pos < buf.length) {
    const key = readVarint();
    const field = Number(key >> 3n);
    const wire = Number(key & 7n);
    let f: ProtoField;
    if (wire === 0) f = { wire: 0, value: readVarint() };
    else if (wire === 1) f = { wire: 1, value: take(8) };
    else if (wire === 2) f = { wire: 2, value: take(Number(readVarint())) };
    else if (wire === 5) f = { wire: 5, value: take(4) };
    else throw new Error(`protobuf: unsupported wire type ${wire} for field ${field}; the message is corrupt or uses groups`);
    const list = out.get(field);
    if (list) list.push(f);
    else out.set(field, [f]);
  }
  return out;
}

function last(fields: Map<number, ProtoField[]>, n: number): ProtoField | undefined {
  const l = fields.get(n);
  return l?.[l.length - 1];
}

function expectWire(f: ProtoField, wire: number, n: number): void {
  if (f.wire !== wire) throw new Error(`protobuf: field ${n} has wire type ${f.wire}, expected ${wire}`);
}

/** Typed accessors (last occurrence wins, as in protobuf). */
export const get = {
  int64(fields: Map<number, ProtoField[]>, n: number): bigint | undefined {
    const f = last(fields, n);
    if (!f) return undefined;
    expectWire(f, 0, n);
    return BigInt.asIntN(64, f.value as bigint);
  },
  double(fields: Map<number, ProtoField[]>, n: number): number | undefined {
    const f = last(fields, n);
    if (!f) return undefined;
    expectWire(f, 1, n);
    const b = f.value as Uint8Array;
    return new DataView(b.buffer, b.byteOffset, 8).getFloat64(0, true);
  },
  float(fields: Map<number, ProtoField[]>, n: number): number | undefined {
    const f = last(fields, n);
    if (!f) return undefined;
    expectWire(f, 5, n);
    const b = f.value as Uint8Array;
    return new DataView(b.buffer, b.byteOffset, 4).getFloat32(0, true);
  },
  bytes(fields: Map<number, ProtoField[]>, n: number): Uint8Array | undefined {
    const f = last(fields, n);
    if (!f) return undefined;
    expectWire(f, 2, n);
    return f.value as Uint8Array;
  },
  string(fields: Map<number, ProtoField[]>, n: number): string | undefined {
    const b = get.bytes(fields, n);
    return b === undefined ? undefined : new TextDecoder().decode(b);
  },
  repeatedBytes(fields: Map<number, ProtoField[]>, n: number): Uint8Array[] {
    return (fields.get(n) ?? []).map((f) => {
      expectWire(f, 2, n);
      return f.value as Uint8Array;
    });
  },
};
