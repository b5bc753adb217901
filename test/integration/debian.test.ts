import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import path from 'node:path';
import { debianImage } from '../../src/core/image/debian';
import { Store } from '../../src/core/store/store';
import { mmdebstrapAvailable, qemuAvailable } from '../fixtures/rootfs';
import { need, tempDir } from '../lib/harness';

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
