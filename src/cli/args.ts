// A small flag parser with the reference's flag names (--input_size) and kebab-case aliases
// (--input-size). Unknown flags and bad values are usage errors naming the flag and the fix.

/** `list`: strings (repeated flag or space-separated); `ints`: one comma-separated list of integers. */
export type FlagType = 'string' | 'int' | 'float' | 'bool' | 'list' | 'ints';

export interface FlagSpec {
  type: FlagType;
  default?: string | number | boolean | string[] | number[];
  help: string;
  /** extra names (e.g. short forms) */
  aliases?: string[];
  /** smallest value allowed (int, float, ints) */
  min?: number;
}

export type FlagSpecs = Record<string, FlagSpec>;
export type ParsedFlags = Record<string, string | number | boolean | string[] | number[] | undefined>;

export class UsageError extends Error {}

const canonical = (name: string): string => name.replace(/-/g, '_');

/** Parse argv (without the command) into flags and positional arguments. */
export function parseArgs(argv: string[], specs: FlagSpecs): { flags: ParsedFlags; positional: string[] } {
  const byName = new Map<string, string>();
  for (const [name, s] of Object.entries(specs)) {
    byName.set(canonical(name), name);
    for (const a of s.aliases ?? []) byName.set(canonical(a), name);
  }
  const flags: ParsedFlags = {};
  for (const [name, s] of Object.entries(specs)) flags[name] = s.type === 'list' && s.default === undefined ? [] : s.default;
  const positional: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (!arg.startsWith('--') || arg === '--') { positional.push(arg); continue; }
    const eq = arg.indexOf('=');
    const raw = arg.slice(2, eq < 0 ? undefined : eq);
    const name = byName.get(canonical(raw));
    if (!name) throw new UsageError(`unknown flag --${raw}${suggest(raw, [...byName.keys()])}; see --help`);
    const spec = specs[name];
    let value: string | undefined = eq < 0 ? undefined : arg.slice(eq + 1);
    if (spec.type === 'bool') {
      flags[name] = value === undefined ? true : parseBool(value, raw);
      continue;
    }
    if (value === undefined) {
      if (i + 1 >= argv.length) throw new UsageError(`--${raw} needs a value`);
      value = argv[++i];
    }
    if (spec.type === 'list') {
      // accept repeated flags and space-separated values until the next flag
      const list = (flags[name] as string[] | undefined) === spec.default ? [] : [...((flags[name] as string[]) ?? [])];
      list.push(value);
      while (i + 1 < argv.length && !argv[i + 1].startsWith('--')) list.push(argv[++i]);
      flags[name] = list;
    } else flags[name] = convert(value, spec, raw);
  }
  return { flags, positional };
}

function convert(v: string, spec: FlagSpec, flag: string): string | number | number[] {
  if (spec.type === 'string') return v;
  if (spec.type === 'ints') {
    const parts = v.split(',');
    const out = parts.map((p) => Number(p));
    if (parts.some((p) => p.trim() === '') || !out.every(Number.isInteger)) throw new UsageError(`--${flag} must be comma-separated integers (e.g. 1,2,4), got '${v}'`);
    if (spec.min !== undefined && out.some((n) => n < spec.min!)) throw new UsageError(`--${flag} values must be ≥ ${spec.min}, got '${v}'`);
    return out;
  }
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new UsageError(`--${flag} must be a number, got '${v}'`);
  if (spec.type === 'int' && !Number.isInteger(n)) throw new UsageError(`--${flag} must be an integer, got '${v}'`);
  if (spec.min !== undefined && n < spec.min) throw new UsageError(`--${flag} must be ≥ ${spec.min}, got '${v}'`);
  return n;
}

function parseBool(v: string, flag: string): boolean {
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw new UsageError(`--${flag} must be true or false, got '${v}'`);
}

function suggest(raw: string, names: string[]): string {
  const c = canonical(raw);
  const close = names.filter((n) => n.includes(c) || c.includes(n) || editDistance(n, c) <= 2);
  return close.length ? ` (did you mean --${close[0]}?)` : '';
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...Array(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

/** `--help` text for a command. */
export function helpText(usage: string, specs: FlagSpecs): string {
  const lines = [usage, '', 'flags:'];
  for (const [name, s] of Object.entries(specs)) {
    const def = s.default === undefined || s.default === '' ? '' : ` (default ${Array.isArray(s.default) ? s.default.join(s.type === 'ints' ? ',' : ' ') : s.default})`;
    lines.push(`  --${name}${s.type === 'bool' ? '' : ` <${s.type}>`}`.padEnd(30) + s.help + def);
  }
  return lines.join('\n');
}

/** The library option name of a flag: input_size → inputSize. */
export const camelCase = (flag: string): string => flag.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
