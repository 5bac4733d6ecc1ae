import { test } from 'node:test';
import assert from 'node:assert/strict';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { JsonlLogger, readJsonl } from '../../../src/train/monitor/jsonl.js';
import { checkNoLeaks } from '../../helpers.js';

// every test file ends with the native tensor count back at its start
checkNoLeaks();

test('JsonlLogger appends one JSON object per line, truncates on request, reads back', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jsonl-'));
  try {
    const path = join(dir, 'exp', 'pretrain_log.txt'); // parent folder is created
    const a = new JsonlLogger(path, { truncate: true });
    a.log({ ep: 0, last_L: 0.8123, min_L: 0.8123, cur_lr: 1.5e-4, rema: '1:02:03' });
    a.log({ ep: 1, last_L: NaN, note: 'line\nbreak', big: 3n });
    a.close();
    assert.equal(readFileSync(path, 'utf8'),
      '{"ep":0,"last_L":0.8123,"min_L":0.8123,"cur_lr":0.00015,"rema":"1:02:03"}\n' +
      '{"ep":1,"last_L":null,"note":"line\\nbreak","big":3}\n');

    const b = new JsonlLogger(path); // resume: appends
    b.log({ ep: 2 });
    b.sync();
    b.close();
    assert.deepEqual(readJsonl(path).map((o) => o.ep), [0, 1, 2]);
    assert.throws(() => b.log({ ep: 3 }), /is closed/);

    new JsonlLogger(path, { truncate: true }).close();
    assert.equal(readFileSync(path, 'utf8'), '');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('readJsonl skips blank lines and reports corrupt or cut-short lines', () => {
  const dir = mkdtempSync(join(tmpdir(), 'jsonl-'));
  try {
    const path = join(dir, 'log.txt');
    // The reference writes a header object, then a blank line, then one object per epoch.
    writeFileSync(path, '{"name":"x"}\n\n{"cur_ep":"1/2"}\n');
    assert.deepEqual(readJsonl(path), [{ name: 'x' }, { cur_ep: '1/2' }]);
    appendFileSync(path, '{"cur_ep":"2/');
    assert.throws(() => readJsonl(path), /log\.txt:4: not valid JSON \(the last line is cut short\)/);
    assert.equal(readJsonl(path, { allowPartialTail: true }).length, 2);
    writeFileSync(path, '{"a":1}\nnot json\n{"b":2}\n');
    assert.throws(() => readJsonl(path, { allowPartialTail: true }), /log\.txt:2: not valid JSON; the log is corrupt/);
    assert.throws(() => new JsonlLogger(''), /path is empty/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
