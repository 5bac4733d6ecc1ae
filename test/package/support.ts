// A temporary consumer project for the package tests: TypeScript blocks compiled against sparkts's
// shipped declarations (dist/src/*.d.ts through package.json "exports", as a user's project sees them)
// and run with node; plus the tiny image folders the README's examples read.
import fs from 'node:fs';
import path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { repoRoot } from '../helpers.js';
import { writeImage } from '../data/fixtures.js';

export const run = promisify(execFile);

/** tsc of this repository's own TypeScript. */
export const TSC = path.join(repoRoot(), 'node_modules', 'typescript', 'bin', 'tsc');

/**
 * A tsconfig.json for a consumer project: strict ESM. `checkLibs`: the libraries' declarations are
 * checked too (no skipLibCheck; 4-5× slower, so the consumer test does it and the README test not).
 */
export function writeConsumerTsconfig(dir: string, files: string[], o: { checkLibs: boolean }): void {
  fs.writeFileSync(path.join(dir, 'tsconfig.json'), JSON.stringify({
    compilerOptions: {
      target: 'ES2022', module: 'NodeNext', moduleResolution: 'NodeNext', strict: true, skipLibCheck: !o.checkLibs,
      types: ['node'], outDir: 'out', rootDir: '.',
    },
    files,
  }, null, 1));
}

/** `n` small PNGs in `dir` (img0.png …). */
export async function photos(dir: string, n: number): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  for (let k = 0; k < n; k++) await writeImage(path.join(dir, `img${k}.png`), 48 + 3 * k, 52 - k, k);
}

/** A labelled dataset root: train/<class>/* and val/<class>/*, two classes. */
export async function labelledFolders(root: string, perClass: number): Promise<void> {
  for (const split of ['train', 'val']) {
    for (const [c, cls] of ['cat', 'dog'].entries()) {
      const dir = path.join(root, split, cls);
      fs.mkdirSync(dir, { recursive: true });
      for (let k = 0; k < perClass; k++) await writeImage(path.join(dir, `${cls}${k}.png`), 40 + k, 40 + c, 10 * c + k + (split === 'val' ? 5 : 0));
    }
  }
}

/** Compile the project in `dir`; the compiler's diagnostics make the error message. */
export async function compile(dir: string): Promise<void> {
  try {
    await run(process.execPath, [TSC, '-p', path.join(dir, 'tsconfig.json')], { cwd: dir });
  } catch (e) {
    const err = e as { stdout?: string; stderr?: string; message: string };
    throw new Error(`tsc failed in ${dir}:\n${err.stdout ?? ''}${err.stderr ?? ''}`);
  }
}
