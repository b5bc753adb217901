import { test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, fstatSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { Readable } from 'node:stream';
import path from 'node:path';
import { createHash } from 'node:crypto';
import { tempDir } from '../../lib/harness';
import { Store } from '../../../src/core/store/store';
import { collectGarbage } from '../../../src/core/store/gc';
import { lockfilePath, withLockedFeature, withLockedImage, writeLockfile } from '../../../src/core/lockfile';
import { cachedFeatureDir, featureRefFile } from '../../../src/core/features/feature';
import { CrossrootError } from '../../../src/core/errors';

/** An image entry made of one layer blob (plus a config blob), as a pull would leave it. */
async function fakeImage(store: Store, name: string): Promise<{ digest: string; layer: string; config: string }> {
  const layer = (await store.writeBlob(Readable.from([Buffer.from(`layer of ${name}`)]))).digest;
  const config = store.putBlob(Buffer.from(`{"config of":"${name}"}`));
  const digest = store.putBlob(Buffer.from(`{"manifest of":"${name}"}`));
  await store.ensureImage(digest, {
    build: async (rootfs) => {
      mkdirSync(rootfs);
      writeFileSync(path.join(rootfs, 'file'), name);
      return { source: name, blobs: [digest, config, layer], config };
    },
  });
  return { digest, layer, config };
}

test('gc keeps what lockfiles, env roots and running commands use, and lists the rest first', async (t) => {
  const dir = tempDir(t);
  const store = Store.open(path.join(dir, 'store'));
  const locked = await fakeImage(store, 'locked');
  const pinned = await fakeImage(store, 'pinned');
  const running = await fakeImage(store, 'running');
  const stale = await fakeImage(store, 'stale');
  const orphanBlob = store.putBlob(Buffer.from('a blob of an interrupted pull'));
  writeFileSync(path.join(store.root, 'blobs/sha256', `${'e'.repeat(64)}.partial`), 'half');
  mkdirSync(store.tempPath('image-crashed'));

  const project = path.join(dir, 'project');
  mkdirSync(project);
  writeLockfile(project, withLockedImage(undefined, 'example:1', 'arm64', { manifest: locked.digest, platform: 'linux/arm64/v8', config: locked.config }));
  store.registerLockfile(lockfilePath(project));
  store.setRoot('env-abc', [pinned.digest]);
  const use = await store.useImage(running.digest);
  const runLock = await store.lock('run-0123');
  const liveRun = store.tempPath('run-0123');
  mkdirSync(liveRun);

  const plan = await collectGarbage(store, { dryRun: true });
  const ids = (kind: string) => plan.remove.filter((i) => i.kind === kind).map((i) => i.id).sort();
  assert.deepEqual(ids('image'), [stale.digest]);
  assert.deepEqual(ids('blob'), [orphanBlob, stale.digest, stale.layer, stale.config].sort());
  assert.equal(ids('temp').length, 2, 'the .partial download and the crashed tmp entry, not the live run');
  assert.deepEqual(plan.inUse, [running.digest]);
  assert.ok(plan.bytes > 0);
  assert.ok(store.image(stale.digest), 'a dry run removes nothing');

  store.recordTag('stale:1', 'arm64', { manifest: stale.digest, platform: 'linux/arm64/v8', config: stale.config });
  store.recordTag('locked:1', 'arm64', { manifest: locked.digest, platform: 'linux/arm64/v8', config: locked.config });
  const done = await collectGarbage(store, { dryRun: false });
  assert.deepEqual(store.tags().map((x) => x.manifest), [locked.digest], 'a tag whose image went goes too');
  assert.deepEqual(done.remove.map((i) => i.id).sort(), plan.remove.map((i) => i.id).sort());
  assert.equal(store.image(stale.digest), undefined);
  assert.equal(store.hasBlob(stale.layer), false);
  for (const kept of [locked, pinned, running]) {
    assert.ok(store.image(kept.digest), `${kept.digest} is kept`);
    assert.ok(store.hasBlob(kept.layer), 'the blobs of kept images stay');
  }
  assert.ok(existsSync(liveRun), 'a running command keeps its writable layer');
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), [path.basename(liveRun)]);
  assert.ok(existsSync(store.lockPath('run-0123')), 'held locks are not deleted');
  assert.equal(existsSync(store.lockPath(`image-${stale.digest.slice(7)}`)), false, 'idle lock files are cleaned up');

  // Once the command ends and the lockfile is deleted, their images go too.
  use.release();
  runLock.release();
  rmSync(lockfilePath(project));
  const after = await collectGarbage(store, { dryRun: false });
  assert.deepEqual(after.goneLockfiles, [lockfilePath(project)]);
  assert.deepEqual(store.images().map((i) => i.digest), [pinned.digest]);
  assert.deepEqual(store.lockfileRoots(), []);
});

/** A Feature as a build leaves it in the store: `features/<hex>/{tree,.complete}` and what its reference gave. */
function fakeFeature(store: Store, name: string, ref: string): string {
  const hex = createHash('sha256').update(name).digest('hex');
  const dir = path.join(store.root, 'features', hex);
  mkdirSync(path.join(dir, 'tree'), { recursive: true });
  writeFileSync(path.join(dir, 'tree', 'install.sh'), `#!/bin/sh\necho ${name}\n`);
  writeFileSync(path.join(dir, '.complete'), '');
  const refFile = featureRefFile(store.root, ref);
  mkdirSync(path.dirname(refFile), { recursive: true });
  writeFileSync(refFile, JSON.stringify({ ref, resolved: `${ref.split(':')[0]}@sha256:${'0'.repeat(64)}`, integrity: `sha256:${hex}` }));
  return `sha256:${hex}`;
}

test('gc removes fetched Features that no env and no lockfile refers to, with the record of what their reference gave', async (t) => {
  const dir = tempDir(t);
  const store = Store.open(path.join(dir, 'store'));
  const pinned = fakeFeature(store, 'pinned', 'example.com/f/pinned:1');
  const locked = fakeFeature(store, 'locked', 'example.com/f/locked:1');
  const stale = fakeFeature(store, 'stale', 'example.com/f/stale:1');
  store.setRoot('env-abc', [], [], [pinned]);
  const project = path.join(dir, 'project');
  mkdirSync(project);
  writeLockfile(project, withLockedFeature(undefined, 'example.com/f/locked:1', { resolved: `example.com/f/locked@sha256:${'0'.repeat(64)}`, integrity: locked }));
  store.registerLockfile(lockfilePath(project));

  const plan = await collectGarbage(store, { dryRun: true });
  assert.deepEqual(plan.remove.filter((i) => i.kind === 'feature').map((i) => [i.id, i.source]), [[stale, 'example.com/f/stale:1']]);
  assert.ok(plan.remove.find((i) => i.kind === 'feature')!.bytes > 0, 'its size is counted');
  assert.equal(plan.kept.features, 2);
  assert.ok(cachedFeatureDir(store.root, 'example.com/f/stale:1'), 'a dry run removes nothing');

  await collectGarbage(store, { dryRun: false });
  assert.equal(cachedFeatureDir(store.root, 'example.com/f/stale:1'), undefined);
  assert.equal(existsSync(path.join(store.root, 'features', stale.slice(7))), false);
  assert.equal(existsSync(featureRefFile(store.root, 'example.com/f/stale:1')), false, 'the stale reference record goes with it');
  assert.ok(cachedFeatureDir(store.root, 'example.com/f/pinned:1'), 'an env\'s Feature stays');
  assert.ok(cachedFeatureDir(store.root, 'example.com/f/locked:1'), 'a locked Feature stays');

  // Once the env is gone and the lockfile no longer names it, the rest goes too.
  store.removeRoot('env-abc');
  rmSync(lockfilePath(project));
  const after = await collectGarbage(store, { dryRun: false });
  assert.deepEqual(after.remove.filter((i) => i.kind === 'feature').map((i) => i.id).sort(), [locked, pinned].sort());
  assert.deepEqual(readdirSync(path.join(store.root, 'features')).sort(), ['refs']);
  assert.deepEqual(readdirSync(path.join(store.root, 'features', 'refs')), []);
});

test('gc refuses to guess when a registered lockfile is damaged', async (t) => {
  const dir = tempDir(t);
  const store = Store.open(path.join(dir, 'store'));
  await fakeImage(store, 'x');
  writeFileSync(lockfilePath(dir), '{oops');
  store.registerLockfile(lockfilePath(dir));
  await assert.rejects(collectGarbage(store, { dryRun: false }), (e: unknown) => e instanceof CrossrootError && e.code === 'EGC' && /nothing was removed/.test(e.message));
  assert.equal(store.images().length, 1);
});

/** True when /proc/locks shows a process waiting for a flock on `file` (a line with "->"). */
function someoneWaitsFor(file: string): boolean {
  const ino = statSync(file).ino;
  return readFileSync('/proc/locks', 'utf8').split('\n').some((l) => / -> FLOCK /.test(l) && l.split(/\s+/).some((f) => f.endsWith(`:${ino}`)));
}

// Issue 10 item 7: `crossroot run` used to open and flock its run-<id> lock with no store lock
// held. A gc between the open and the flock unlinked the file (it could flock it), so the run
// held a lock on an unlinked inode, and the next gc removed the live writable layer.
test('a starting crossroot run never makes its layer while gc runs, and gc keeps it afterwards', async (t) => {
  const store = Store.open(path.join(tempDir(t), 'store'));
  // This test is gc here: the store lock held exclusively, as collectGarbage holds it.
  const gc = await store.lockStore();
  let settled = false;
  const starting = store.runLayer().finally(() => { settled = true; });
  // Wait on an observable fact: the run has made its layer, or it is queued behind gc.
  while (!settled && !someoneWaitsFor(store.lockPath('store'))) await sleep(5);
  assert.equal(settled, false, 'the run waits for gc to finish');
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), [], 'no layer appeared while gc ran');
  assert.deepEqual(readdirSync(path.join(store.root, 'locks')).filter((n) => n.startsWith('run-')), [], 'no run lock file for gc to unlink');
  gc.release();
  const layer = await starting;
  t.after(() => layer.lock.release());

  // A real gc now: the held lock keeps both the layer and its lock file (the very inode held).
  const r = await collectGarbage(store, { dryRun: false });
  assert.deepEqual(r.remove, []);
  assert.ok(existsSync(layer.upper) && existsSync(layer.work), 'the live layer is kept');
  const name = `${path.basename(layer.dir).split('.')[0]}`;
  assert.equal(statSync(store.lockPath(name)).ino, fstatSync(layer.lock.fd).ino, 'the lock file on disk is the one the run holds');
  await collectGarbage(store, { dryRun: false });
  assert.ok(existsSync(layer.upper), 'and stays kept by the next gc');
});
