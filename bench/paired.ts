// Paired, interleaved timing for benchmarks on a shared machine: every round runs each variant once
// (the order rotating), so that slow drifts in machine load land on all variants alike. Reported per
// variant: the median seconds, and against the first variant the ratio of medians and the paired ratio
// (median over rounds of the within-round quotient).
import os from 'node:os';
import * as torch from '../src/torch/index.js';

export const median = (v: number[]): number => {
  const s = v.slice().sort((p, q) => p - q);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

/** min and max of v, for the spread. */
export const spread = (v: number[]): [number, number] => [Math.min(...v), Math.max(...v)];

export interface Variant { name: string; run: () => void | Promise<void> }

export interface PairedResult { name: string; times: number[]; median: number; ratio: number; paired: number; pairedRange: [number, number] }

/** W warm-up rounds, then K timed rounds of every variant; ratio = baseline (first) time ÷ this one's (> 1 = faster). */
export async function pairedTiming(variants: Variant[], o: { rounds: number; warmup?: number; settleMs?: number }): Promise<PairedResult[]> {
  const times = variants.map(() => [] as number[]);
  const warmup = o.warmup ?? 1;
  for (let r = 0; r < warmup + o.rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const i = (r + k) % variants.length;
      if (o.settleMs) await new Promise((res) => setTimeout(res, o.settleMs));
      const t0 = process.hrtime.bigint();
      await variants[i]!.run();
      const s = Number(process.hrtime.bigint() - t0) / 1e9;
      if (r >= warmup) times[i]!.push(s);
    }
  }
  return variants.map((v, i) => {
    const q = times[0]!.map((b, r) => b / times[i]![r]!);
    return { name: v.name, times: times[i]!, median: median(times[i]!), ratio: median(times[0]!) / median(times[i]!), paired: median(q), pairedRange: spread(q) };
  });
}

export function machineLine(): string {
  const cpus = os.cpus();
  return `machine: ${cpus[0]?.model ?? 'unknown CPU'}, ${cpus.length} logical CPUs, load avg ${os.loadavg().map((l) => l.toFixed(1)).join(' ')}; ` +
    `libtorch ${torch.buildInfo().torchVersion}, ${torch.getNumThreads()} threads, node ${process.version}`;
}
