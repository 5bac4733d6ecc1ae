// Seedable pseudo-random numbers for the data pipeline.
//
// Why our own: augmentation must be reproducible under a seed and independent of which worker decodes
// a sample, so every sample gets its own generator seeded from (seed, epoch, position). Math.random
// cannot be seeded, and we do not need torch's generator (the reference's exact random stream is not
// reproducible outside PyTorch anyway; what matters is the distribution, which we follow exactly).
//
// Generator: xoshiro128** (Blackman & Vigna), state filled by splitmix32. Fast, 32-bit friendly,
// good statistical quality, period 2^128 - 1.

const GOLDEN = 0x9e3779b9;

/** Murmur3's 32-bit finaliser: a bijective avalanche mix of one 32-bit word. */
export function mix32(x: number): number {
  x = Math.imul(x ^ (x >>> 16), 0x85ebca6b);
  x = Math.imul(x ^ (x >>> 13), 0xc2b2ae35);
  return (x ^ (x >>> 16)) >>> 0;
}

/**
 * Hash any number of safe integers (negative allowed, up to 2^53) into one 32-bit seed.
 * Order matters: hashSeed(1, 2) !== hashSeed(2, 1).
 */
export function hashSeed(...parts: number[]): number {
  let h = 0x2545f491;
  for (const p of parts) {
    if (!Number.isSafeInteger(p)) throw new Error(`hashSeed: expected a safe integer, got ${p}`);
    const big = BigInt.asUintN(64, BigInt(p));
    const lo = Number(big & 0xffffffffn);
    const hi = Number(big >> 32n);
    h = mix32((h ^ lo) + GOLDEN);
    h = mix32((h ^ hi) + GOLDEN);
  }
  return h;
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

export class Rng {
  private s0: number;
  private s1: number;
  private s2: number;
  private s3: number;
  private spare: number | null = null;

  /** `seed` is any safe integer; it is hashed, so nearby seeds give unrelated streams. */
  constructor(seed: number) {
    let x = hashSeed(seed);
    const splitmix32 = (): number => {
      x = (x + GOLDEN) >>> 0;
      return mix32(x);
    };
    this.s0 = splitmix32();
    this.s1 = splitmix32();
    this.s2 = splitmix32();
    this.s3 = splitmix32();
    if ((this.s0 | this.s1 | this.s2 | this.s3) === 0) this.s0 = 1; // the all-zero state is a fixed point
  }

  /** Next uniformly distributed unsigned 32-bit integer. */
  nextU32(): number {
    const result = Math.imul(rotl(Math.imul(this.s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (this.s1 << 9) >>> 0;
    this.s2 = (this.s2 ^ this.s0) >>> 0;
    this.s3 = (this.s3 ^ this.s1) >>> 0;
    this.s1 = (this.s1 ^ this.s2) >>> 0;
    this.s0 = (this.s0 ^ this.s3) >>> 0;
    this.s2 = (this.s2 ^ t) >>> 0;
    this.s3 = rotl(this.s3, 11);
    return result;
  }

  /** Uniform double in [0, 1) with 53 random bits. */
  random(): number {
    const a = this.nextU32() >>> 5; // 27 bits
    const b = this.nextU32() >>> 6; // 26 bits
    return (a * 67108864 + b) / 9007199254740992;
  }

  /** Uniform double in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.random();
  }

  /** Standard normal N(0, 1) (Box–Muller; the second value of each pair is kept for the next call). */
  normal(): number {
    if (this.spare !== null) {
      const v = this.spare;
      this.spare = null;
      return v;
    }
    let u = 0;
    while (u === 0) u = this.random(); // log(0) guard
    const r = Math.sqrt(-2 * Math.log(u));
    const t = 2 * Math.PI * this.random();
    this.spare = r * Math.sin(t);
    return r * Math.cos(t);
  }

  /** Uniform integer in [lo, hi) (hi exclusive, like torch.randint). */
  int(lo: number, hi: number): number {
    if (!(hi > lo)) throw new Error(`Rng.int: empty range [${lo}, ${hi})`);
    return lo + Math.floor(this.random() * (hi - lo));
  }
}

/** A uniformly random permutation of 0..n-1 (Fisher–Yates). */
export function permutation(n: number, rng: Rng): Int32Array {
  const p = new Int32Array(n);
  for (let i = 0; i < n; i++) p[i] = i;
  for (let i = n - 1; i > 0; i--) {
    const j = rng.int(0, i + 1);
    const t = p[i]!;
    p[i] = p[j]!;
    p[j] = t;
  }
  return p;
}
