// Faults of a data-parallel job end it with one clear line, never a hang:
//   - a rank killed mid-run: the survivor exits non-zero within the collective timeout, naming the rank;
//   - MASTER_PORT already taken: rank 0 says so; `spark launch` refuses before starting any rank;
//   - no master listening: the other rank says it cannot reach it, within the timeout.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import * as torch from '../../src/torch/index.js';
import { checkNoLeaks } from '../helpers.js';
import { CLI, spark, assertOneErrorLine } from '../cli/support.js';
import { WORKER, freePort, start, rankEnv, waitForOutput } from './support.js';

checkNoLeaks();
const skip = !torch.distributed.availableBackends().gloo && 'addon built without c10d gloo';
const TIMEOUT_S = 20;

/** A server holding a port (all interfaces, as the TCPStore binds). */
function holdPort(port: number): Promise<net.Server> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once('error', reject);
    srv.listen(port, () => resolve(srv));
  });
}

test(`a rank killed mid-run: the other exits non-zero within the ${TIMEOUT_S} s timeout, naming it`, { skip }, async () => {
  const port = await freePort();
  const env = { SPARKTS_DIST_TIMEOUT: String(TIMEOUT_S) };
  const r0 = start(WORKER, ['loop'], rankEnv(0, 2, port, env));
  const r1 = start(WORKER, ['loop'], rankEnv(1, 2, port, env));
  await waitForOutput(r1, /step 3\n/);
  const killedAt = Date.now();
  r1.p.kill('SIGKILL');
  const [d0, d1] = await Promise.all([r0.done, r1.done]);
  assert.equal(d1.signal, 'SIGKILL');
  assert.equal(d0.code, 1, `rank 0 exit code; stderr:\n${r0.stderr}`);
  const waited = Date.now() - killedAt;
  assert.ok(waited < TIMEOUT_S * 1000, `rank 0 took ${waited} ms to notice`);
  const lines = r0.stderr.trim().split('\n');
  assert.equal(lines.length, 1, `one line: ${r0.stderr}`);
  assert.match(lines[0], new RegExp(`rank 0: rank 1 \\(pid ${r1.p.pid}\\) exited during the gradient allreduce; stopping`));
});

test('MASTER_PORT already in use: rank 0 says which port and what to do, exit 1', { skip }, async () => {
  const port = await freePort();
  const srv = await holdPort(port);
  try {
    const r0 = start(WORKER, ['loop'], rankEnv(0, 2, port, { SPARKTS_DIST_TIMEOUT: '5' }));
    const d = await r0.done;
    assert.equal(d.code, 1);
    const lines = r0.stderr.trim().split('\n');
    assert.equal(lines.length, 1, r0.stderr);
    assert.match(lines[0], new RegExp(`rank 0: MASTER_PORT ${port} is already in use on 127.0.0.1 .*--master_port`));
  } finally { srv.close(); }
});

test('spark launch with a busy --master_port: one usage line before any rank starts', { skip }, async () => {
  const port = await freePort();
  const srv = await holdPort(port);
  try {
    const r = await spark(['launch', '--nproc_per_node', '2', '--master_port', String(port), '--', 'pretrain', '--help']);
    assertOneErrorLine(r, new RegExp(`--master_port ${port} is already in use on this machine .*choose a free port`), { code: 2 });
    assert.doesNotMatch(r.stderr, /\[launch\] 2 rank/);
  } finally { srv.close(); }
});

test('no master listening: rank 1 says it cannot reach MASTER_ADDR:MASTER_PORT within the timeout', { skip }, async () => {
  const port = await freePort();
  const r1 = start(WORKER, ['loop'], rankEnv(1, 2, port, { SPARKTS_DIST_TIMEOUT: '3' }));
  const d = await r1.done;
  assert.equal(d.code, 1);
  const lines = r1.stderr.trim().split('\n');
  assert.equal(lines.length, 1, r1.stderr);
  assert.match(lines[0], new RegExp(`rank 1: could not reach the master at 127.0.0.1:${port} within 3 s .*MASTER_ADDR/MASTER_PORT`));
  assert.ok(d.ms < 3000 + 15_000, `took ${d.ms} ms`);
});

test('bad torchrun variables: one line naming the variable', { skip }, async () => {
  const r = start(WORKER, ['loop'], { WORLD_SIZE: '2', RANK: '2', MASTER_ADDR: '127.0.0.1', MASTER_PORT: '1' });
  assert.equal((await r.done).code, 1);
  assert.match(r.stderr.trim(), /^worker: error: RANK=2 is not below WORLD_SIZE=2; ranks are 0 … 1$/);
  void CLI;
});
