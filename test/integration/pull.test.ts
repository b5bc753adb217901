import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import { need } from '../lib/harness';
import { layeredImage, multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { qemuAvailable } from '../fixtures/rootfs';
import { parseIndex } from '../../src/core/image/oci';
import { LAYERED_OWNERS, assertSameTree, crossroot, storeDir, pullReady } from './image-trees';


test('arm64 image pulled from a local registry reports aarch64', async (t) => {
  if (!pullReady(t) || !need(t, qemuAvailable('arm64'), 'qemu-aarch64-static is missing (apt-get install qemu-user-static)')) return;
  const img = await multiArchImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${img.layout}:multi`, 'busybox:multi', { all: true });
  const store = storeDir(t);

  const pulled = crossroot(['pull', '--json', '--arch', 'arm64', '--store', store, ref]);
  assert.equal(pulled.code, 0, pulled.stderr);
  const out = JSON.parse(pulled.stdout) as Record<string, string | boolean>;
  const index = parseIndex(readFileSync(path.join(img.layout, 'blobs/sha256', img.indexDigest.slice(7))));
  const arm = index.manifests.find((m) => m.platform?.architecture === 'arm64')!;
  assert.equal(out.indexDigest, img.indexDigest);
  assert.equal(out.manifestDigest, arm.digest);
  assert.equal(out.platform, 'linux/arm64/v8');
  assert.equal(out.arch, 'arm64');
  assert.equal(out.cached, false);
  assert.ok(existsSync(path.join(out.rootfs as string, 'bin/busybox')));

  const uname = crossroot(['run', '--arch', 'arm64', '--store', store, ref, '--', 'uname', '-m']);
  assert.equal(uname.stderr, '', 'a cached image prints no progress');
  assert.deepEqual([uname.code, uname.stdout], [0, 'aarch64\n']);

  const failing = crossroot(['run', '--arch', 'arm64', '--store', store, ref, '--', 'sh', '-c', 'echo scratch > /etc/scratch; exit 3']);
  assert.equal(failing.code, 3, 'the exit code passes through');
  assert.equal(existsSync(path.join(out.rootfs as string, 'etc/scratch')), false, 'writes go to the throwaway layer');
  assert.deepEqual(readdirSync(path.join(store, 'tmp')), [], 'the throwaway layer is removed');

  const again = crossroot(['pull', '--json', '--arch', 'arm64', '--store', store, ref]);
  assert.equal((JSON.parse(again.stdout) as { cached: boolean }).cached, true, 'a second pull finds it in the store');

  await reg.stop();
  const offline = crossroot(['run', '--arch', 'arm64', '--store', store, ref, '--', 'uname', '-m']);
  assert.deepEqual([offline.code, offline.stdout], [0, 'aarch64\n'], `run uses the image the tag gave at its last pull, offline too: ${offline.stderr}`);
  const offlinePull = crossroot(['pull', '--arch', 'arm64', '--store', store, ref]);
  assert.equal(offlinePull.code, 125, 'pull always asks the registry');
});

test('an image whose arch is missing names the platforms it has', async (t) => {
  if (!pullReady(t)) return;
  const img = await multiArchImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${img.layout}:multi`, 'busybox:multi', { all: true });
  const r = crossroot(['pull', '--arch', 's390x', '--store', storeDir(t), ref]);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /no linux\/s390x .*linux\/amd64.*linux\/arm64\/v8.*linux\/riscv64/);
});

test('layered image from the registry unpacks to the tree umoci builds, whiteouts and zstd included', async (t) => {
  if (!pullReady(t)) return;
  const img = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${img.layout}:${img.tag}`, 'layered:1');
  const store = storeDir(t);
  const r = crossroot(['pull', '--json', '--arch', 'arm64', '--store', store, ref]);
  assert.equal(r.code, 0, r.stderr);
  const out = JSON.parse(r.stdout) as { rootfs: string; manifestDigest: string };
  assert.equal(out.manifestDigest, img.manifestDigest, 'skopeo pushed the layout manifest unchanged');
  assertSameTree(out.rootfs, img.umociTree, LAYERED_OWNERS);
});
