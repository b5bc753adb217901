import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { tempDir } from '../lib/harness';
import { layeredImage, multiArchImage } from '../fixtures/images';
import { pushImage, startRegistry } from '../fixtures/registry';
import { passThrough, startProxy } from '../fixtures/registry-proxy';
import { ARCHES } from '../../src/core/arch';
import { parseIndex } from '../../src/core/image/oci';
import { type Lockfile, readLockfile } from '../../src/core/lockfile';
import { pull } from '../../src/core/image/pull';
import { Store } from '../../src/core/store/store';
import { crossrootAsync, storeDir, pullReady } from './image-trees';

test('crossroot.lock pins the image: builds use the pin, say when the tag moved, and --update moves it', async (t) => {
  if (!pullReady(t)) return;
  const multi = await multiArchImage();
  const layered = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${multi.layout}:multi`, 'tools:stable', { all: true });
  const storeRoot = storeDir(t);
  const project = tempDir(t);
  const envFile = path.join(project, 'crossroot.toml');
  writeFileSync(envFile, `name = "locked"\narch = "arm64"\nimage = "${ref}"\n`);

  const lock1 = await crossrootAsync(['lock', '--store', storeRoot, envFile]);
  assert.equal(lock1.code, 0, lock1.stderr);
  const index = parseIndex(readFileSync(path.join(multi.layout, 'blobs/sha256', multi.indexDigest.slice(7))));
  const armDigest = index.manifests.find((m) => m.platform?.architecture === 'arm64')!.digest;
  const locked = readLockfile(project) as Lockfile;
  assert.deepEqual(locked.images[ref], { arm64: { manifest: armDigest, index: multi.indexDigest, platform: 'linux/arm64/v8', config: locked.images[ref]!.arm64!.config } });
  assert.match(lock1.stdout, /locked sha256:/);

  // Someone pushes a different image under the same tag.
  pushImage(reg, `oci:${layered.layout}:${layered.gzipTag}`, 'tools:stable');
  const store = Store.open(storeRoot);
  const notes: string[] = [];
  const built = await pull({ kind: 'image', ref }, { store, arch: ARCHES.arm64, lockfileDir: project, onProgress: (e) => { if (e.phase === 'moved') notes.push(`${e.source} now points at ${e.current}; kept ${e.locked}`); } });
  assert.equal(built.manifestDigest, armDigest, 'the build pulls the locked digest, not the moved tag');
  assert.ok(existsSync(path.join(built.rootfs, 'bin/busybox')) && !existsSync(path.join(built.rootfs, 'data')));
  assert.equal(built.tagMoved?.locked, multi.indexDigest);
  assert.notEqual(built.tagMoved?.current, multi.indexDigest);
  assert.deepEqual(notes, [`${ref} now points at ${built.tagMoved?.current}; kept ${multi.indexDigest}`], 'the tag move is reported, once');

  const kept = await crossrootAsync(['lock', '--store', storeRoot, envFile]);
  assert.match(kept.stdout, new RegExp(`kept ${armDigest}`));
  const moved = await crossrootAsync(['lock', '--update', '--store', storeRoot, envFile]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.match(moved.stdout, new RegExp(`moved from ${armDigest} to sha256:`));
  assert.equal(readLockfile(project)!.images[ref]!.arm64!.manifest, built.tagMoved!.current);
  assert.equal(readLockfile(project)!.images[ref]!.arm64!.index, undefined, 'the new tag names a single manifest, no index');

  // gc knows the lockfile (lock registered it): the old image is now unpinned, and listed.
  const gc = await crossrootAsync(['gc', '--json', '--store', storeRoot]);
  const plan = JSON.parse(gc.stdout) as { remove: { kind: string; id: string }[]; dryRun: boolean };
  assert.equal(plan.dryRun, true);
  assert.deepEqual(plan.remove.filter((i) => i.kind === 'image').map((i) => i.id), [armDigest]);
  assert.ok(store.image(armDigest), 'gc without --force removes nothing');
});

test('without a lockfile, pulling a tag again follows it when it moved', async (t) => {
  if (!pullReady(t)) return;
  const multi = await multiArchImage();
  const layered = await layeredImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  const ref = pushImage(reg, `oci:${multi.layout}:multi`, 'tools:latest', { all: true });
  const store = storeDir(t);
  const pull1 = JSON.parse((await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, ref])).stdout) as { manifestDigest: string };
  const same = JSON.parse((await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, ref])).stdout) as { manifestDigest: string; cached: boolean };
  assert.deepEqual([same.manifestDigest, same.cached], [pull1.manifestDigest, true]);
  pushImage(reg, `oci:${layered.layout}:${layered.gzipTag}`, 'tools:latest');
  const moved = JSON.parse((await crossrootAsync(['pull', '--json', '--arch', 'arm64', '--store', store, ref])).stdout) as { manifestDigest: string; cached: boolean; rootfs: string };
  assert.notEqual(moved.manifestDigest, pull1.manifestDigest);
  assert.equal(moved.cached, false);
  assert.ok(existsSync(path.join(moved.rootfs, 'data/keep.txt')), 'the new image is the one unpacked');
});

test('crossroot lock refuses a crossroot.lock that is not a regular file instead of reading it forever', async (t) => {
  const project = tempDir(t);
  const envFile = path.join(project, 'crossroot.toml');
  writeFileSync(envFile, 'arch = "arm64"\nimage = "127.0.0.1:9/tools:stable"\n');
  symlinkSync('/dev/zero', path.join(project, 'crossroot.lock'));
  const r = await crossrootAsync(['lock', '--store', storeDir(t), envFile]);
  assert.equal(r.code, 125, r.stderr);
  assert.match(r.stderr, /crossroot\.lock is not a regular file/);
  assert.match(r.stderr, /fix: delete .*crossroot\.lock and run `crossroot lock`/);
});

test('with crossroot.lock, a registry that fails the tag lookup is asked once, and the locked image is used', async (t) => {
  if (!pullReady(t)) return;
  const multi = await multiArchImage();
  const reg = await startRegistry();
  t.after(() => reg.stop());
  pushImage(reg, `oci:${multi.layout}:multi`, 'tools:stable', { all: true });
  // The tag's manifest answers 503 once `down` is set; everything by digest still passes.
  let down = false;
  const proxy = await startProxy(t, reg.url, async (req, res, forward) => {
    if (down && /\/manifests\/stable$/.test(req.url ?? '')) { res.writeHead(503).end(); return; }
    await passThrough(req, res, forward, 0);
  });
  const ref = `${proxy.host}/tools:stable`;
  const store = storeDir(t);
  const project = tempDir(t);
  writeFileSync(path.join(project, 'crossroot.toml'), `name = "locked"\narch = "arm64"\nimage = "${ref}"\n`);
  const lock = await crossrootAsync(['lock', '--store', store, path.join(project, 'crossroot.toml')]);
  assert.equal(lock.code, 0, lock.stderr);
  down = true;
  const before = proxy.seen.length;
  const built = await pull({ kind: 'image', ref }, { store: Store.open(store), arch: ARCHES.arm64, lockfileDir: project });
  assert.equal(built.manifestDigest, (readLockfile(project) as Lockfile).images[ref]!.arm64!.manifest);
  assert.equal(built.tagMoved, undefined, 'no answer is not a move');
  const tagLookups = proxy.seen.slice(before).filter((s) => /\/manifests\/stable$/.test(s.url));
  assert.equal(tagLookups.length, 1, `the tag was looked up once, not retried: ${tagLookups.map((s) => s.url).join(', ')}`);
});
