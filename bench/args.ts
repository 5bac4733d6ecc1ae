// The benches' flags go through the CLI's parser (src/cli/args.ts): the same spellings (--settle_ms or
// --settle-ms), the same one-line errors. A bad flag prints `<bench>: <problem>` and exits 2; --help
// prints the flags and exits 0. (bench/ sits above every layer, so importing cli/ from here is fine.)
import { helpText, parseArgs, UsageError, type FlagSpecs, type ParsedFlags } from '../src/cli/args.js';

export interface BenchArgs { flags: ParsedFlags; positional: string[] }

/** Parse `argv` (without node and the script): the flags, or the help text; a UsageError when bad. */
export function parseBenchArgs(argv: string[], usage: string, specs: FlagSpecs, maxPositional = 0): BenchArgs | { help: string } {
  const all: FlagSpecs = { ...specs, help: { type: 'bool', default: false, help: 'show this help' } };
  const r = parseArgs(argv, all);
  if (r.flags.help) return { help: helpText(usage, all) };
  if (r.positional.length > maxPositional) {
    throw new UsageError(`unexpected argument '${r.positional[maxPositional]}'${maxPositional ? '' : ' (this bench takes only flags)'}; see --help`);
  }
  return r;
}

/** parseBenchArgs over process.argv for `bench` (e.g. 'ops.bench'), exiting on --help (0) or a bad flag (2). */
export function benchArgs(bench: string, usage: string, specs: FlagSpecs, maxPositional = 0): BenchArgs {
  try {
    const r = parseBenchArgs(process.argv.slice(2), usage, specs, maxPositional);
    if ('help' in r) {
      console.log(r.help);
      process.exit(0);
    }
    return r;
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    console.error(`${bench}: ${e.message}`);
    process.exit(2);
  }
}
