import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { HELPER, need, tempDir } from '../lib/harness';
import { imageToolsAvailable, layeredImage } from '../fixtures/images';
import { busyboxRootfs, qemuAvailable } from '../fixtures/rootfs';
import { LAYERED_OWNERS, assertSameTree, crossroot, storeDir } from './image-trees';

function ready(t: Parameters<typeof need>[0]): boolean {
  return need(t, imageToolsAvailable(), 'buildah, skopeo and umoci make the test images (apt-get install buildah skopeo umoci)')
    && need(t, existsSync(HELPER), 'the helper is not built (make -C native)');
}

function pullJson(store: string, source: string): { rootfs: string; kind: string; manifestDigest?: string; cached: boolean } {
  const r = crossroot(['pull', '--json', '--arch', 'arm64', '--store', store, source]);
  assert.equal(r.code, 0, r.stderr);
  return JSON.parse(r.stdout) as { rootfs: string; kind: string; manifestDigest?: string; cached: boolean };
}

test('an OCI layout, its oci-archive and a docker-archive unpack to the tree umoci builds', async (t) => {
  if (!ready(t)) return;
  const img = await layeredImage();
  const store = storeDir(t);
  const layout = pullJson(store, `${img.layout}:${img.tag}`);
  assert.equal(layout.kind, 'oci-layout');
  assert.equal(layout.manifestDigest, img.manifestDigest);
  assertSameTree(layout.rootfs, img.umociTree, LAYERED_OWNERS);

  const archive = pullJson(store, img.ociArchive);
  assert.equal(archive.kind, 'oci-archive');
  assert.equal(archive.manifestDigest, img.manifestDigest, 'the archive holds the same image');
  assert.equal(archive.cached, true, 'so its unpacked tree is shared, not made again');

  const docker = pullJson(store, img.dockerArchive);
  assert.equal(docker.kind, 'docker-archive');
  assertSameTree(docker.rootfs, img.umociTree, LAYERED_OWNERS);
});

test('rootfs tarballs (gzip, zstd) and directories give the tree they hold', async (t) => {
  if (!need(t, existsSync(HELPER), 'the helper is not built (make -C native)')) return;
  const tree = await busyboxRootfs('arm64');
  const dir = tempDir(t);
  const store = storeDir(t);
  const gz = path.join(dir, 'rootfs.tar.gz');
  // Root-owned entries, as rootfs tarballs are made (the fixture tree belongs to the test user).
  execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '-czf', gz, '.']);
  assertSameTree(pullJson(store, gz).rootfs, tree);
  if (spawnSync('zstd', ['--version'], { stdio: 'ignore' }).status === 0) {
    const zst = path.join(dir, 'rootfs.tar.zst');
    execFileSync('tar', ['-C', tree, '--owner=0', '--group=0', '--numeric-owner', '--zstd', '-cf', zst, '.']);
    const z = pullJson(store, zst);
    assert.equal(z.kind, 'rootfs-tar');
    assertSameTree(z.rootfs, tree);
  }
  const plain = pullJson(store, tree);
  assert.deepEqual([plain.kind, plain.rootfs], ['dir', tree], 'a directory is used where it is, not copied');
});

test('a command runs in a local image and its writes never reach the shared tree', async (t) => {
  if (!ready(t) || !need(t, qemuAvailable('arm64'), 'qemu-aarch64-static is missing (apt-get install qemu-user-static)')) return;
  const img = await layeredImage();
  const store = storeDir(t);
  const source = `${img.layout}:${img.tag}`;
  const r = crossroot(['run', '--arch', 'arm64', '--store', store, source, '--', 'sh', '-c', 'cat /data/keep.txt; rm /data/keep.txt; uname -m']);
  assert.deepEqual([r.code, r.stdout], [0, 'keep\naarch64\n'], r.stderr);
  const again = crossroot(['run', '--arch', 'arm64', '--store', store, source, '--', 'cat', '/data/keep.txt']);
  assert.deepEqual([again.code, again.stdout], [0, 'keep\n'], 'each run starts from the untouched base');
});

test('a local path that is not there is a usage error with the accepted kinds', (t) => {
  const r = crossroot(['pull', '--store', path.join(tempDir(t), 'store'), './no/such/layout']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /no\/such\/layout does not exist\n {2}fix: give the path of an OCI layout, image archive, rootfs tarball or directory/);
});
