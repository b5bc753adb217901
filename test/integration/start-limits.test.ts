import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { busyboxRootfs, qemuAvailable } from '../fixtures/rootfs';
import { cgroupDelegated, hostIsCgroup2 } from '../lib/cgroup';
import { HELPER, ROOT, need, tempDir } from '../lib/harness';
import { storeDir } from './image-trees';

test('npm start passes [limits] to the helper: applied on a delegated cgroup v2, else the helper warns once and the env runs', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    || !need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const tree = await busyboxRootfs('arm64');
  const project = tempDir(t);
  const start = (limits: string) => {
    writeFileSync(path.join(project, 'crossroot.toml'), `name = "limited"\narch = "arm64"\n[source]\nkind = "dir"\npath = "${tree}"\n${limits}`);
    return spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--env-file', path.join(project, 'crossroot.toml'), '--command', 'echo ran'], {
      cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CROSSROOT_STORE: storeDir(t) },
    });
  };
  const limited = start('[limits]\nmemory = "512m"\npids = 100\n');
  assert.deepEqual([limited.status, limited.stdout], [0, 'ran\n'], limited.stderr);
  const warnings = limited.stderr.split('warning: memory/pids limits not applied').length - 1;
  if (cgroupDelegated()) assert.equal(warnings, 0, limited.stderr);
  else {
    assert.equal(warnings, 1, limited.stderr);
    if (!hostIsCgroup2()) assert.match(limited.stderr, /not applied: \/sys\/fs\/cgroup is not a cgroup v2 mount .*\n\s*fix: /);
  }
  const plain = start('');
  assert.equal(plain.status, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr, /limits/);
});
