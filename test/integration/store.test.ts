import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';
import { crossroot, fullIdMap, insideListing, storeDir } from './image-trees';

test('gc removes an unpacked image whose directories belong to subordinate uids', (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')
    || !need(t, fullIdMap(), 'needs a subordinate uid range in /etc/subuid (sudo usermod --add-subuids 100000-165535 $USER)')) return;
  // A tree with a non-empty directory owned by uid 1000: once unpacked, a plain rm cannot empty it.
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'home', 'dev', '.cache'), { recursive: true });
  writeFileSync(path.join(tree, 'home', 'dev', '.cache', 'state'), 'x');
  // Root owns the tree, then home/dev and below are appended again owned by 1000 (the later entry wins).
  execFileSync('sh', ['-ec', [
    'tar --owner=0 --group=0 --numeric-owner -cf "$0/rootfs.tar" -C "$0/tree" .',
    'tar --owner=1000 --group=1000 --numeric-owner --no-recursion -rf "$0/rootfs.tar" -C "$0/tree" ./home/dev ./home/dev/.cache ./home/dev/.cache/state',
    'gzip "$0/rootfs.tar"',
  ].join('\n'), dir]);
  const store = storeDir(t);
  const pulled = crossroot(['pull', '--json', '--store', store, path.join(dir, 'rootfs.tar.gz')]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const rootfs = (JSON.parse(pulled.stdout) as { rootfs: string }).rootfs;
  const dev = insideListing(rootfs).find((e) => e.path === 'home/dev/.cache')!;
  assert.deepEqual([dev.uid, dev.gid], [1000, 1000], 'the fixture really holds a directory owned by a subordinate uid');

  const gc = crossroot(['gc', '--force', '--store', store]);
  assert.equal(gc.code, 0, gc.stderr);
  assert.match(gc.stdout, /removed image sha256:/);
  assert.deepEqual(readdirSync(path.join(store, 'images')), []);
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), []);
});
