// Loader throughput: images/s delivered at 224×224, batch 32, for several worker counts, on the demo
// dataset (or a folder given as the first argument). The baseline is 1 worker in the same run.
//
//   node dist/bench/loader.bench.js [folder] [--batches 10] [--workers 1,2,4] [--size 224] [--bs 32]

import * as os from 'node:os';
import sharp from 'sharp';
import { demoDataPath } from '../src/data/demo.js';
import { listImages } from '../src/data/folder.js';
import { measureLoaderThroughput } from '../src/data/throughput.js';

function arg(name: string, dflt: string): string {
  const i = process.argv.indexOf(name);
  return i > 0 && i + 1 < process.argv.length ? process.argv[i + 1]! : dflt;
}

const positional = process.argv.slice(2).filter((a, i, all) => !a.startsWith('--') && !(i > 0 && all[i - 1]!.startsWith('--')));
const root = positional[0] ?? demoDataPath();
const size = Number(arg('--size', '224'));
const bs = Number(arg('--bs', '32'));
const batches = Number(arg('--batches', '10'));
const cores = os.availableParallelism();
const workerCounts = arg('--workers', cores >= 4 ? '1,2,4' : '1,2').split(',').map(Number);

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
