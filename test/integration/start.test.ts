import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { mmdebstrapAvailable, qemuAvailable, testStore } from '../fixtures/rootfs';
import { HELPER, ROOT, need } from '../lib/harness';

// `npm start` builds the example env (Debian bookworm arm64, about a minute the first time; the
// test store it uses also holds debianRootfs(), so the two share that build) and runs the command.
test('npm start --command runs in the arm64 example env', { timeout: 10 * 60_000 }, (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')) return;
  if (!need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const r = spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--command', 'uname -m; pwd; test -f crossroot.toml && echo workspace-ok'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CROSSROOT_STORE: testStore().root },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['aarch64', '/workspace', 'workspace-ok']);
});

test('npm start passes the command\'s exit code through', { timeout: 10 * 60_000 }, (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')) return;
  if (!need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const r = spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--command', 'exit 7'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CROSSROOT_STORE: testStore().root },
  });
  assert.equal(r.status, 7, r.stderr);
});

test('npm start names the bad line of a broken env file', () => {
  const r = spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--env-file', path.join(ROOT, 'package.json'), '--command', 'true'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, CROSSROOT_STORE: testStore().root },
  });
  assert.equal(r.status, 125, 'Crossroot\'s own failure, as the CLI reports it');
  assert.match(r.stderr, /package\.json:1:\d+: error/);
});
