import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync } from 'node:fs';
import { spawnSync } from 'node:child_process';
import path from 'node:path';
import { bootstrapDebian, debianImage } from '../../src/core/image/debian';
import { Store } from '../../src/core/store/store';
import { mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { need, tempDir } from '../lib/harness';
import { scratch } from '../native/unpack-fixtures';

test('a Debian bootstrap that fails leaves no image and no temp files in the store', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')) return;
  if (!need(t, qemuAvailable('arm64'), 'no qemu-aarch64-static (apt-get install qemu-user-static)')) return;
  const store = Store.open(path.join(tempDir(t), 'store'));
  await assert.rejects(debianImage(store, { arch: 'arm64', suite: 'no-such-suite' }), (e: Error & { code?: string; fix?: string }) => {
    assert.equal(e.code, 'EBOOTSTRAP');
    assert.match(e.message, /mmdebstrap failed .* arm64 no-such-suite/);
    // What mmdebstrap said (apt's 404 for the Release file, or the mirror being unreachable).
    assert.match(e.message.split('\n').slice(1).join('\n'), /^E: /m, e.message);
    return true;
  });
  assert.deepEqual(store.images(), []);
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

// Issue 10 item 3: mmdebstrap permutes its arguments, so an env file's suite such as
// "--setup-hook=CMD" used to be an option, and CMD ran on the host outside any sandbox.
test('an env file value that is an mmdebstrap option never runs as one on the host', async (t) => {
  if (!need(t, mmdebstrapAvailable(), 'mmdebstrap is not installed (apt-get install mmdebstrap arch-test)')) return;
  const dir = scratch(t); // mmdebstrap may leave files of subordinate uids
  const marker = path.join(dir, 'hook-ran');
  // An unreachable mirror: mmdebstrap runs setup hooks before it fails on the download.
  const mirror = 'http://127.0.0.1:9/debian';
  await assert.rejects(bootstrapDebian({ arch: 'amd64', suite: `--setup-hook=touch ${marker}`, mirror }, path.join(dir, 'tree')),
    (e: Error & { code?: string }) => e.code === 'EBADSOURCE' && /suite "--setup-hook=/.test(e.message));
  assert.equal(existsSync(marker), false, 'the hook did not run');
  // The `--` the argv carries is what mmdebstrap honours: after it, an option is a positional.
  const r = spawnSync('mmdebstrap', ['--mode=unshare', '--variant=extract', '--', `--setup-hook=touch ${marker}`, path.join(dir, 'tree2'), mirror], { encoding: 'utf8' });
  assert.notEqual(r.status, 0);
  assert.equal(existsSync(marker), false, `mmdebstrap took an argument after -- as an option:\n${r.stderr}`);
});
