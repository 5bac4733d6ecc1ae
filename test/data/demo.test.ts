import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEMO_DATA_ENV, demoDataPath, repoRoot } from '../../src/data/demo.js';
import { rmrf, tempDir } from './fixtures.js';
import { checkNoLeaks } from '../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('repoRoot finds the project; demoDataPath names the fetch script when the data is missing', () => {
  assert.ok(fs.existsSync(path.join(repoRoot(), 'scripts', 'fetch-demo-data.sh')));
  const dir = tempDir();
  const saved = process.env[DEMO_DATA_ENV];
  try {
    process.env[DEMO_DATA_ENV] = path.join(dir, 'demo');
    assert.throws(() => demoDataPath(), /^Error: demo dataset not found at .*demo: run `bash scripts\/fetch-demo-data.sh`/);
    fs.mkdirSync(path.join(dir, 'demo'));
    assert.throws(() => demoDataPath(), /demo dataset not found/); // empty folder
    fs.writeFileSync(path.join(dir, 'demo', 'a.jpg'), 'x');
    assert.equal(demoDataPath(), path.join(dir, 'demo'));
  } finally {
    if (saved === undefined) delete process.env[DEMO_DATA_ENV];
    else process.env[DEMO_DATA_ENV] = saved;
    rmrf(dir);
  }
});
