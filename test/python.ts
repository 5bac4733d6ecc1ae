// The one way tests and benches find and run the Python that cross-checks against PyTorch/PIL/…:
// $SPARKTS_PYTHON, else Debian's /usr/bin/python3, else python3 on PATH. Tests that need it skip
// when it (or the module) is missing. No node:test import here, so bench/ can use it too.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';

export const PYTHON = process.env.SPARKTS_PYTHON || (fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3');

const has = new Map<string, boolean>();

/** Whether PYTHON can import `module` (cached; find_spec answers without importing, e.g. torch's seconds). */
export function pythonHas(module: string): boolean {
  let ok = has.get(module);
  if (ok === undefined) {
    const top = module.split('.')[0];
    const r = spawnSync(PYTHON, ['-c', `import importlib.util, sys; sys.exit(0 if importlib.util.find_spec(${JSON.stringify(top)}) else 1)`], { stdio: 'ignore', timeout: 60_000 });
    ok = r.status === 0;
    has.set(module, ok);
  }
  return ok;
}

/** PYTHON when it has torch, else null (the caller skips). */
export function pythonWithTorch(): string | null {
  return pythonHas('torch') ? PYTHON : null;
}

/** Runs a Python script with arguments (and optional stdin); returns stdout, throws with stderr on failure. */
export function runPython(script: string, args: string[] = [], o: { input?: string } = {}): string {
  const r = spawnSync(PYTHON, ['-c', script, ...args], { encoding: 'utf8', timeout: 120_000, maxBuffer: 256 << 20, input: o.input });
  if (r.status !== 0) throw new Error(`python failed (${r.status}): ${r.stderr || r.error}`);
  return r.stdout;
}
