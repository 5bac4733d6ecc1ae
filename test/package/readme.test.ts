// The README's TypeScript/JavaScript examples, as a user would use them: each block is compiled against
// the package's declarations (`import … from 'sparkts'` resolved through package.json "exports" from a
// project that has sparkts in node_modules) and run with node in README order, in one folder holding
// the small image folders the examples name (photos/, pets/). An example that no longer compiles, or
// throws, fails this test. A block whose first line is `// readme: compile only` is compiled, not run
// (for examples of long jobs; none needs it at present).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { repoRoot, checkNoLeaks } from '../helpers.js';
import { run, compile, writeConsumerTsconfig, photos, labelledFolders } from './support.js';

checkNoLeaks();

const COMPILE_ONLY = '// readme: compile only';

/** Every ```ts / ```typescript / ```js / ```javascript block of the README, in order. */
function readmeBlocks(markdown: string): { lang: string; code: string; line: number }[] {
  const out: { lang: string; code: string; line: number }[] = [];
  const re = /^```(ts|typescript|js|javascript)[ \t]*\n([\s\S]*?)^```/gm;
  for (let m; (m = re.exec(markdown));) out.push({ lang: m[1]!, code: m[2]!, line: markdown.slice(0, m.index).split('\n').length });
  return out;
}

test('README: every TypeScript/JavaScript example compiles against the package and runs', { timeout: 240_000 }, async () => {
  const readme = fs.readFileSync(path.join(repoRoot(), 'README.md'), 'utf8');
  const blocks = readmeBlocks(readme);
  assert.ok(blocks.length >= 4, `expected the README's examples, found ${blocks.length} blocks`);
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sparkts-readme-'));
  try {
    fs.writeFileSync(path.join(dir, 'package.json'), JSON.stringify({ name: 'readme-examples', type: 'module', private: true }));
    fs.mkdirSync(path.join(dir, 'node_modules'));
    fs.symlinkSync(repoRoot(), path.join(dir, 'node_modules', 'sparkts'));
    fs.symlinkSync(path.join(repoRoot(), 'node_modules', '@types'), path.join(dir, 'node_modules', '@types'));
    const files = blocks.map((b, i) => {
      const f = `block${i}_line${b.line}.${b.lang.startsWith('t') ? 'ts' : 'js'}`;
      // an example without imports or exports is still a module (top-level await, no global clashes)
      fs.writeFileSync(path.join(dir, f), `${b.code}\nexport {};\n`);
      return f;
    });
    writeConsumerTsconfig(dir, files, { checkLibs: false });
    await compile(dir);
    await photos(path.join(dir, 'photos'), 6);
    await labelledFolders(path.join(dir, 'pets'), 3);
    for (const [i, b] of blocks.entries()) {
      if (b.code.startsWith(COMPILE_ONLY)) continue;
      const js = path.join(dir, 'out', files[i]!.replace(/\.ts$/, '.js'));
      try {
        await run(process.execPath, [js], { cwd: dir, timeout: 120_000, env: { ...process.env, SPARKTS_NUM_THREADS: '1' } });
      } catch (e) {
        const err = e as { stdout?: string; stderr?: string; message: string };
        assert.fail(`README example at line ${b.line} failed: ${err.message.split('\n')[0]}\n${err.stderr ?? ''}`);
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});
