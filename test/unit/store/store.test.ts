import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { Readable } from 'node:stream';
import path from 'node:path';
import { ROOT, tempDir } from '../../lib/harness';
import { Store, defaultStoreRoot, digestHex } from '../../../src/core/store/store';
import { CrossrootError } from '../../../src/core/errors';

const sha = (b: Buffer | string): string => `sha256:${createHash('sha256').update(b).digest('hex')}`;

test('the store lives in $CROSSROOT_STORE, else the XDG cache, else ~/.cache', () => {
  assert.equal(defaultStoreRoot({ CROSSROOT_STORE: '/s' }), '/s');
  assert.equal(defaultStoreRoot({ XDG_CACHE_HOME: '/c' }), '/c/crossroot');
  assert.match(defaultStoreRoot({ XDG_CACHE_HOME: 'relative' }), /\.cache\/crossroot$/);
});

test('a blob whose bytes match its digest is kept read-only under blobs/sha256', async (t) => {
  const store = Store.open(tempDir(t));
  const data = Buffer.from('layer bytes '.repeat(10000));
  const seen: number[] = [];
  const r = await store.writeBlob(Readable.from([data.subarray(0, 5000), data.subarray(5000)]), { digest: sha(data), onBytes: (n) => seen.push(n) });
  assert.deepEqual(r, { digest: sha(data), size: data.length });
  assert.deepEqual(readFileSync(store.blobPath(sha(data))), data);
  assert.equal(statSync(store.blobPath(sha(data))).mode & 0o777, 0o444);
  assert.equal(seen.at(-1), data.length);
  assert.deepEqual(store.blobs(), [sha(data)]);
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('a blob that does not match its digest is refused and leaves nothing behind', async (t) => {
  const store = Store.open(tempDir(t));
  const want = sha('the real thing');
  await assert.rejects(store.writeBlob(Readable.from([Buffer.from('something else')]), { digest: want }), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'EDIGEST');
    assert.match(e.message, new RegExp(`expected ${want}`));
    return true;
  });
  assert.equal(store.hasBlob(want), false);
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('digests that are not sha256 never become paths', (t) => {
  const store = Store.open(tempDir(t));
  for (const bad of ['sha256:../../etc', 'sha512:' + 'a'.repeat(128), 'sha256:' + 'A'.repeat(64), '']) {
    assert.throws(() => store.blobPath(bad), /invalid digest/);
  }
  assert.equal(digestHex('sha256:' + 'a'.repeat(64)), 'a'.repeat(64));
});

test('a writer killed mid-blob leaves only tmp junk, which the next write of that blob clears', async (t) => {
  const dir = tempDir(t);
  const store = Store.open(path.join(dir, 'store'));
  const digest = sha('never finished');
  const script = path.join(dir, 'writer.mts');
  writeFileSync(script, `
import { Readable } from 'node:stream';
import { Store } from ${JSON.stringify(path.join(ROOT, 'src/core/store/store.ts'))};
const store = Store.open(${JSON.stringify(store.root)});
// A source that delivers some bytes, then hangs like a stalled download.
const src = new Readable({ read() {} });
src.push(Buffer.alloc(65536, 1));
store.writeBlob(src, { digest: ${JSON.stringify(digest)}, onBytes: (n) => { if (n >= 65536) console.log('writing'); } });
`);
  const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
  const gone = new Promise((r) => child.on('close', r));
  await new Promise<void>((resolve) => child.stdout!.once('data', () => resolve()));
  child.kill('SIGKILL');
  await gone;
  assert.equal(store.hasBlob(digest), false, 'a half-written blob is never visible under blobs/');
  assert.equal(readdirSync(path.join(store.root, 'tmp')).length, 1, 'the partial file stays in tmp/');
  // The next writer of the same blob takes its lock (free again: its holder died) and clears it.
  await store.writeBlob(Readable.from([Buffer.from('never finished')]), { digest });
  assert.equal(store.hasBlob(digest), true);
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('leftovers of a blob copied from an archive member are cleared by the next copy of that member only', async (t) => {
  const store = Store.open(path.join(tempDir(t), 'store'));
  const tmp = path.join(store.root, 'tmp');
  const entry = '/images/app.tar\0layer.tar';
  // What killed copies left: one of this member (its temp name comes from the member), one of another.
  const mine = (await store.writeBlob(Readable.from([Buffer.from('first')]), { entry })).digest;
  const name = (e: string) => `blob-from-${createHash('sha256').update(e).digest('hex').slice(0, 32)}`;
  writeFileSync(path.join(tmp, `${name(entry)}.4242.deadbeef`), 'partial');
  writeFileSync(path.join(tmp, `${name('/images/app.tar\0other.tar')}.4242.deadbeef`), 'partial');
  const again = await store.writeBlob(Readable.from([Buffer.from('first')]), { entry });
  assert.equal(again.digest, mine);
  assert.deepEqual(readdirSync(tmp), [`${name('/images/app.tar\0other.tar')}.4242.deadbeef`], 'only the other member\'s leftover stays');
});

test('an image entry appears whole under images/ or not at all', async (t) => {
  const store = Store.open(tempDir(t));
  const digest = sha('manifest');
  const made = await store.ensureImage(digest, {
    build: async (rootfs) => {
      mkdirSync(rootfs);
      writeFileSync(path.join(rootfs, 'hello'), 'hi');
      assert.equal(store.image(digest), undefined, 'nothing is visible while the entry is built');
      assert.deepEqual(store.images(), []);
      return { source: 'test', blobs: [digest] };
    },
  });
  assert.equal(made.cached, false);
  assert.equal(readFileSync(path.join(store.rootfsPath(digest), 'hello'), 'utf8'), 'hi');
  assert.equal(store.image(digest)?.source, 'test');
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
  // Asked again: the entry as it is, nothing built.
  const again = await store.ensureImage(digest, { build: () => assert.fail('built twice') });
  assert.equal(again.cached, true);
  // A second maker that skipped the lock loses quietly; the first entry stays intact.
  const stray = store.tempPath(`image-${digest.slice(7)}`);
  mkdirSync(path.join(stray, 'rootfs'), { recursive: true });
  store.commitImage(stray, { digest, source: 'other', blobs: [], created: new Date(0).toISOString() });
  assert.equal(store.image(digest)?.source, 'test');
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
  // A build that fails leaves nothing, in place or in tmp/.
  const other = sha('other');
  await assert.rejects(store.ensureImage(other, {
    build: async (rootfs) => { mkdirSync(rootfs); writeFileSync(path.join(rootfs, 'half'), ''); throw new Error('network gone'); },
  }), /network gone/);
  assert.equal(store.image(other), undefined);
  assert.ok(!existsSync(store.imageDir(other)));
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('an unwritable store location is an error with a fix-it', (t) => {
  const file = path.join(tempDir(t), 'file');
  writeFileSync(file, '');
  assert.throws(() => Store.open(path.join(file, 'store')), (e: unknown) => e instanceof CrossrootError && e.code === 'ESTORE' && /--store/.test(e.fix ?? ''));
});

test('a new store is made 0700 under a parent that may stay 0755, and is checked again on every open', (t) => {
  const parent = path.join(tempDir(t), 'cache');
  const root = path.join(parent, 'crossroot');
  Store.open(root, { shared: false });
  assert.equal(statSync(root).mode & 0o777, 0o700);
  assert.equal(statSync(parent).mode & 0o777, 0o755 & ~process.umask());
  for (const mode of [0o750, 0o701, 0o711]) {
    chmodSync(root, mode);
    assert.throws(() => Store.open(root, { shared: false }), (e: unknown) => e instanceof CrossrootError && e.code === 'ESTORE'
      && e.message.includes(`mode 0${mode.toString(8)}`) && e.fix?.startsWith(`chmod 700 ${root}`) === true, mode.toString(8));
    assert.match(Store.open(root, { shared: true }).sharedWarning ?? '', /setuid programs/);
  }
  chmodSync(root, 0o700);
  assert.equal(Store.open(root, { shared: true }).sharedWarning, undefined, 'a private store has nothing to warn about');
});

test('a recorded tag answers only while its image is in the store', async (t) => {
  const store = Store.open(tempDir(t));
  const digest = sha('manifest');
  const tagged = { manifest: digest, platform: 'linux/arm64/v8', config: sha('config') };
  store.recordTag('debian:bookworm', 'arm64', tagged);
  assert.equal(store.taggedImage('debian:bookworm', 'arm64'), undefined, 'no image entry yet');
  await store.ensureImage(digest, { build: async (rootfs) => { mkdirSync(rootfs); return { source: 'debian:bookworm', blobs: [] }; } });
  assert.deepEqual(store.taggedImage('debian:bookworm', 'arm64'), tagged);
  assert.equal(store.taggedImage('debian:bookworm', 'amd64'), undefined, 'per arch');
  assert.equal(store.taggedImage('debian:trixie', 'arm64'), undefined);
});
