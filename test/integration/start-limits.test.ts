import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { busyboxRootfs, qemuAvailable } from '../fixtures/rootfs';
import { HELPER, ROOT, need, tempDir } from '../lib/harness';
import { storeDir } from './image-trees';

test('npm start warns that [limits] are not applied instead of ignoring them silently', async (t) => {
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
  assert.match(limited.stderr, /warning: \[limits\] \(memory, pids\) are not applied yet/);
  const plain = start('');
  assert.equal(plain.status, 0, plain.stderr);
  assert.doesNotMatch(plain.stderr, /\[limits\]/);
});
