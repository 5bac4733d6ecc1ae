// The caching CPU allocator at work: per SparK step, seconds, system CPU time, minor page faults, peak
// RSS and the allocator's counters (fresh maps, reuses, unmaps). With SPARKTS_CPU_ALLOCATOR=system in
// the environment the same steps run on libtorch's malloc allocator, for comparison.
//
//   node dist/bench/cpu_allocator.bench.js [--model resnet50] [--size 224] [--bs 8] [--steps 4] [--threads 2]
import * as torch from '../src/torch/index.js';
import { buildPretrainStep } from './steps.js';
import { machineLine } from './paired.js';
import { benchArgs } from './args.js';

const { flags } = benchArgs('cpu_allocator.bench', 'usage: node dist/bench/cpu_allocator.bench.js [flags]', {
  model: { type: 'string', default: 'resnet50', help: 'registered model' },
  size: { type: 'int', default: 224, min: 32, help: 'input size' },
  bs: { type: 'int', default: 8, min: 1, help: 'batch size' },
  steps: { type: 'int', default: 4, min: 1, help: 'SparK steps' },
  threads: { type: 'int', default: torch.defaultNumThreads(), min: 1, help: 'intra-op threads' },
});
torch.setNumThreads(flags.threads as number);
torch.manualSeed(0);
console.log(machineLine());
const step = buildPretrainStep(flags.model as string, flags.size as number, flags.bs as number);
const mib = (b: number): string => `${Math.round(b / 2 ** 20)} MiB`;
for (let it = 0; it < (flags.steps as number); it++) {
  const t0 = performance.now(), r0 = process.resourceUsage();
  step(it);
  const r1 = process.resourceUsage(), s = torch.cpuAllocatorStats();
  console.log(`step ${it}: ${((performance.now() - t0) / 1000).toFixed(2)} s, system ${((r1.systemCPUTime - r0.systemCPUTime) / 1e6).toFixed(2)} s, ` +
    `${r1.minorPageFault - r0.minorPageFault} minor faults, peak RSS ${Math.round(r1.maxRSS / 1024)} MB; ` +
    (s.caching ? `allocator: live ${mib(s.liveBytes)}, cached ${mib(s.cachedBytes)}, high-water ${mib(s.highWaterBytes)}, ` +
      `${s.freshMaps} maps, ${s.reuses} reuses, ${s.unmaps} unmaps in all` : 'libtorch\'s malloc allocator (SPARKTS_CPU_ALLOCATOR=system)'));
}
