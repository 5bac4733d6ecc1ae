// Loader throughput: images/s delivered at 224×224, batch 32, for several worker counts, on the demo
// dataset (or a folder given as the first argument). The baseline is 1 worker in the same run.
//
//   node dist/bench/loader.bench.js [folder] [--batches 10] [--workers 1,2,4] [--size 224] [--bs 32]

import * as os from 'node:os';
import sharp from 'sharp';
import { demoDataPath } from '../src/data/demo.js';
import { listImages } from '../src/data/folder.js';
import { measureLoaderThroughput } from '../src/data/throughput.js';
import { benchArgs } from './args.js';

const cores = os.availableParallelism();
const { flags, positional } = benchArgs('loader.bench', 'usage: node dist/bench/loader.bench.js [folder] [flags]', {
  batches: { type: 'int', default: 10, min: 1, help: 'timed batches per worker count (after 1 warm-up)' },
  workers: { type: 'ints', default: cores >= 4 ? [1, 2, 4] : [1, 2], min: 1, help: 'worker counts to measure; the first is the baseline' },
  size: { type: 'int', default: 224, min: 1, help: 'input size' },
  bs: { type: 'int', default: 32, min: 1, help: 'batch size' },
}, 1);
const root = positional[0] ?? demoDataPath();
const size = flags.size as number;
const bs = flags.bs as number;
const batches = flags.batches as number;
const workerCounts = flags.workers as number[];

const cpus = os.cpus();
console.log(`machine: ${cpus.length} logical CPUs (${cores} available), ${cpus[0]?.model ?? 'unknown CPU'}, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`);
console.log(`node ${process.version}, sharp ${sharp.versions.sharp}, libvips ${sharp.versions.vips}, UV_THREADPOOL_SIZE=${process.env.UV_THREADPOOL_SIZE}`);
console.log(`data: ${root} (${listImages(root).length} images), input ${size}, batch ${bs}, ${batches} timed batches after 1 warm-up`);

let baseline = 0;
for (const workers of workerCounts) {
  const ips = await measureLoaderThroughput({ root, inputSize: size, batchSize: bs, workers, batches });
  if (baseline === 0) baseline = ips;
  console.log(`workers ${workers}: ${ips.toFixed(1)} images/s  (${(ips / baseline).toFixed(2)}x of ${workerCounts[0]} worker${workerCounts[0] === 1 ? '' : 's'})`);
}
