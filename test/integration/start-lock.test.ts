import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { layeredImage, multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { qemuAvailable } from '../fixtures/rootfs';
import { ROOT, need, tempDir } from '../lib/harness';
import { crossrootAsync, storeDir, pullReady } from './image-trees';

// crossroot.lock lives beside the env file; for .devcontainer/devcontainer.json that is the
// .devcontainer folder, not the workspace folder, and the build must read it from there.
test('npm start of a devcontainer.json env uses the crossroot.lock that crossroot lock wrote beside it', async (t) => {
  if (!pullReady(t)
    || !need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const multi = await multiArchImage();
  const layered = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${multi.layout}:multi`, 'tools:stable', { all: true });
  const project = tempDir(t);
  const envFile = path.join(project, '.devcontainer', 'devcontainer.json');
  mkdirSync(path.dirname(envFile));
  writeFileSync(envFile, JSON.stringify({ name: 'pinned', image: ref, customizations: { crossroot: { arch: 'arm64' } } }));
  const store = storeDir(t);

  const lock = await crossrootAsync(['lock', '--store', store, envFile]);
  assert.equal(lock.code, 0, lock.stderr);
  assert.ok(existsSync(path.join(project, '.devcontainer', 'crossroot.lock')), lock.stdout);
  // The tag moves to an image that has /data; the pinned one has not.
  pushImage(reg, `oci:${layered.layout}:${layered.gzipTag}`, 'tools:stable');

  const r = spawnSync(process.execPath, ['scripts/start.mjs', '--no-build', '--env-file', envFile, '--command', 'test -d /data && echo moved || echo pinned'], {
    cwd: ROOT, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CROSSROOT_STORE: store },
  });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), 'pinned', r.stderr);
  assert.match(r.stderr, /now points at .*crossroot lock --update/);
  assert.doesNotMatch(r.stderr, /^crossroot: config$/m, 'a blob kept is not news');
});
