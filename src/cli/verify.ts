// `spark verify FIXTURE.safetensors… [--json]`: reproduce the reference's golden computations and
// print each quantity's error beside the tolerance applied (the fixture's own for that check when its
// metadata lists one, else the README's floor). Exit 0 only when every check passes.
import { existsSync } from 'node:fs';
import * as torch from '../torch/index.js';
import { verifyGolden, type VerifyResult } from '../train/golden.js';
import { parseArgs, helpText, UsageError, type FlagSpecs } from './args.js';

const FLAGS: FlagSpecs = {
  json: { type: 'bool', default: false, help: 'print one JSON object {pass, checks:[{name,error,tolerance,pass}]}' },
  threads: {
    type: 'int', default: 1,
    help: 'intra-op threads; the reference fixtures were made with libtorch\'s default of 1, and float32 sums reordered by more threads can differ in the last bits',
  },
  device: { type: 'string', default: 'cpu', help: 'cpu or cuda' },
  failures_only: { type: 'bool', default: false, help: 'list only the failing checks (text output)' },
  help: { type: 'bool', default: false, help: 'show this help' },
};

const USAGE = 'usage: spark verify FIXTURE.safetensors [FIXTURE…] [--json] [--threads N]';

export async function verifyCommand(argv: string[]): Promise<number> {
  const { flags, positional } = parseArgs(argv, FLAGS);
  if (flags.help) { console.log(helpText(USAGE, FLAGS)); return 0; }
  if (!positional.length) throw new UsageError(`no fixture given; ${USAGE}`);
  for (const f of positional) if (!existsSync(f)) throw new UsageError(`fixture ${f} does not exist; pass a golden .safetensors file (e.g. ../shared/golden/resnet_basic_96.safetensors)`);
  torch.setNumThreads(flags.threads as number);
  const results: { file: string; result: VerifyResult }[] = [];
  for (const file of positional) results.push({ file, result: verifyGolden(file, { device: flags.device as string }) });
  const pass = results.every((r) => r.result.pass);
  if (flags.json) {
    const checks = results.flatMap((r) => r.result.checks.map((c) => ({ ...c, name: results.length > 1 ? `${r.result.case.name}:${c.name}` : c.name })));
    console.log(JSON.stringify({ pass, checks }));
  } else {
    for (const { file, result } of results) printResult(file, result, flags.failures_only as boolean);
  }
  return pass ? 0 : 1;
}

function printResult(file: string, r: VerifyResult, failuresOnly: boolean): void {
  const failed = r.checks.filter((c) => !c.pass);
  console.log(`${file}: case ${r.case.name} (${r.case.arch}, input ${r.case.input_size}, batch ${r.case.batch}, mask ${r.case.mask_ratio})`);
  const w = Math.max(...r.checks.map((c) => c.name.length));
  for (const c of failuresOnly ? failed : r.checks) {
    console.log(`  ${c.pass ? 'ok  ' : 'FAIL'}  ${c.name.padEnd(w)}  error ${c.error.toExponential(2)}  tolerance ${formatTolerance(c.tolerance)}`);
  }
  console.log(`  ${r.pass ? 'PASS' : 'FAIL'}: ${r.checks.length - failed.length}/${r.checks.length} checks within tolerance`);
}

/** A tolerance as the fixtures write it, to two significant digits: 1e-4, 3.1e-4, 3.4e-3. */
function formatTolerance(t: number): string {
  return Number(t.toPrecision(2)).toExponential();
}
