import { test, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, readdirSync, rmSync, writeFileSync, symlinkSync } from 'node:fs';
import path from 'node:path';
import { need, tempDir } from '../../lib/harness';
import { ARCHES } from '../../../src/core/arch';
import { CrossrootError } from '../../../src/core/errors';
import { detectLocalSource, importArchive, importOciLayout, importRootfsTarball } from '../../../src/core/image/local';
import { parseIndex, parseManifest } from '../../../src/core/image/oci';
import { Store } from '../../../src/core/store/store';

const has = (tool: string): boolean => spawnSync(tool, ['--version'], { stdio: 'ignore' }).status === 0;
const sh = (argv: string[], cwd?: string): string => execFileSync(argv[0]!, argv.slice(1), { cwd, encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

/** A one-file arm64 image made by umoci, exported by skopeo as oci-archive and docker-archive. */
function makeImages(t: TestContext): { dir: string; layout: string; ociArchive: string; dockerArchive: string } | undefined {
  if (!need(t, has('umoci') && has('skopeo'), 'umoci and skopeo make the fixture images (apt-get install umoci skopeo)')) return undefined;
  const dir = tempDir(t);
  const layout = path.join(dir, 'layout');
  sh(['umoci', 'init', '--layout', layout]);
  sh(['umoci', 'new', '--image', `${layout}:img`]);
  sh(['umoci', 'config', '--image', `${layout}:img`, '--architecture', 'arm64', '--os', 'linux']);
  const bundle = path.join(dir, 'bundle');
  sh(['umoci', 'unpack', '--rootless', '--image', `${layout}:img`, bundle]);
  writeFileSync(path.join(bundle, 'rootfs', 'hello'), 'hello from the image\n');
  sh(['umoci', 'repack', '--image', `${layout}:img`, bundle]);
  const ociArchive = path.join(dir, 'image-oci.tar');
  const dockerArchive = path.join(dir, 'image-docker.tar');
  sh(['skopeo', 'copy', '-q', `oci:${layout}:img`, `oci-archive:${ociArchive}`]);
  sh(['skopeo', 'copy', '-q', `oci:${layout}:img`, `docker-archive:${dockerArchive}:example/img:1`]);
  return { dir, layout, ociArchive, dockerArchive };
}

/** A small rootfs tree and tarballs of it in every compression users have. */
function makeRootfs(t: TestContext): { tree: string; tar: string; gz: string; zst: string } {
  const dir = tempDir(t);
  const tree = path.join(dir, 'tree');
  mkdirSync(path.join(tree, 'etc'), { recursive: true });
  mkdirSync(path.join(tree, 'bin'));
  writeFileSync(path.join(tree, 'etc', 'os-release'), 'ID=test\n');
  symlinkSync('busybox', path.join(tree, 'bin', 'sh'));
  const tar = path.join(dir, 'rootfs.tar');
  sh(['tar', '-C', tree, '-cf', tar, '.']);
  const gz = path.join(dir, 'rootfs.tar.gz');
  sh(['tar', '-C', tree, '-czf', gz, '.']);
  const zst = path.join(dir, 'rootfs.tar.zst');
  if (has('zstd')) sh(['tar', '-C', tree, '--zstd', '-cf', zst, '.']);
  return { tree, tar, gz, zst };
}

const arm64 = ARCHES.arm64;

test('local sources are recognised by what they hold', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const r = makeRootfs(t);
  assert.deepEqual(await detectLocalSource(img.layout), { kind: 'oci-layout', path: img.layout });
  assert.deepEqual(await detectLocalSource(img.layout, 'img'), { kind: 'oci-layout', path: img.layout, ref: 'img' });
  assert.equal((await detectLocalSource(img.ociArchive)).kind, 'oci-archive');
  assert.equal((await detectLocalSource(img.dockerArchive)).kind, 'docker-archive');
  assert.deepEqual(await detectLocalSource(r.tree), { kind: 'dir', path: r.tree });
  assert.equal((await detectLocalSource(r.tar)).kind, 'rootfs-tar');
  assert.equal((await detectLocalSource(r.gz)).kind, 'rootfs-tar');
  if (has('zstd')) assert.equal((await detectLocalSource(r.zst)).kind, 'rootfs-tar');
  // A gzipped docker save is still an image archive.
  const gzArchive = path.join(img.dir, 'image-docker.tar.gz');
  writeFileSync(gzArchive, execFileSync('gzip', ['-c', img.dockerArchive]));
  assert.equal((await detectLocalSource(gzArchive)).kind, 'docker-archive');
});

test('a path that is missing or not a tar says what is accepted', async (t) => {
  const dir = tempDir(t);
  await assert.rejects(detectLocalSource(path.join(dir, 'nope')), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOSOURCE' && /does not exist/.test(e.message) && /OCI layout/.test(e.fix ?? ''));
  const junk = path.join(dir, 'junk.tar');
  writeFileSync(junk, Buffer.alloc(2048, 0x41));
  await assert.rejects(detectLocalSource(junk), (e: unknown) => e instanceof CrossrootError && /not a tar archive/.test(e.message));
  await assert.rejects(detectLocalSource(dir, 'tag'), (e: unknown) => e instanceof CrossrootError && /plain directory/.test(e.message));
});

test('an OCI layout imports its arm64 image with blobs verified into the store', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const store = Store.open(path.join(img.dir, 'store'));
  const phases = new Set<string>();
  const got = await importOciLayout(store, img.layout, arm64, { onProgress: (e) => phases.add(e.phase) });
  const index = parseIndex(readFileSync(path.join(img.layout, 'index.json')));
  assert.equal(got.manifestDigest, index.manifests[0]!.digest);
  assert.equal(got.platform, 'linux/arm64');
  for (const d of [got.manifestDigest, got.configDigest, ...got.manifest.layers.map((l) => l.digest)]) {
    const bytes = readFileSync(store.blobPath(d));
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, d);
  }
  assert.deepEqual([...phases], ['resolve', 'download', 'verify']);
  await assert.rejects(importOciLayout(store, img.layout, ARCHES.riscv64), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOPLATFORM' && /linux\/arm64/.test(e.message));
  await assert.rejects(importOciLayout(store, img.layout, arm64, { ref: 'other' }), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOTFOUND' && /img/.test(e.fix ?? ''));
});

test('a layout blob that was tampered with is refused and not kept', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const index = parseIndex(readFileSync(path.join(img.layout, 'index.json')));
  const manifest = parseManifest(readFileSync(path.join(img.layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7))));
  const layer = path.join(img.layout, 'blobs/sha256', manifest.layers[0]!.digest.slice(7));
  chmodSync(layer, 0o644);
  const bytes = readFileSync(layer);
  bytes[bytes.length >> 1] ^= 0x55;
  writeFileSync(layer, bytes);
  const store = Store.open(path.join(img.dir, 'store'));
  await assert.rejects(importOciLayout(store, img.layout, arm64), (e: unknown) => e instanceof CrossrootError && e.code === 'EDIGEST');
  assert.equal(store.hasBlob(manifest.layers[0]!.digest), false);
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('layout files that are devices, FIFOs or longer than their descriptor are refused without reading them', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const index = parseIndex(readFileSync(path.join(img.layout, 'index.json')));
  const manifest = parseManifest(readFileSync(path.join(img.layout, 'blobs/sha256', index.manifests[0]!.digest.slice(7))));
  const blob = (digest: string) => path.join(img.layout, 'blobs/sha256', digest.slice(7));
  const store = Store.open(path.join(img.dir, 'store'));
  const refused = (re: RegExp) => (e: unknown) => e instanceof CrossrootError && e.code === 'EARCHIVE' && re.test(e.message);
  /** Swaps `file` for what `make` puts there, runs `check`, and puts the file back. */
  const swapped = async (file: string, make: (f: string) => void, check: () => Promise<void>) => {
    const keep = readFileSync(file);
    rmSync(file);
    make(file);
    try { await check(); } finally { rmSync(file); writeFileSync(file, keep); }
  };
  const layer = manifest.layers[0]!;
  await swapped(blob(layer.digest), (f) => symlinkSync('/dev/zero', f), () =>
    assert.rejects(importOciLayout(store, img.layout, arm64), refused(new RegExp(`layer ${layer.digest} is not a regular file`))));
  await swapped(blob(layer.digest), (f) => writeFileSync(f, Buffer.alloc(layer.size + 1)), () =>
    assert.rejects(importOciLayout(store, img.layout, arm64), refused(new RegExp(`layer ${layer.digest} is ${layer.size + 1} bytes, not the ${layer.size} its manifest says`))));
  await swapped(blob(manifest.config.digest), (f) => symlinkSync('/dev/zero', f), () =>
    assert.rejects(importOciLayout(store, img.layout, arm64), refused(new RegExp(`blob ${manifest.config.digest} is not a regular file`))));
  await swapped(blob(manifest.config.digest), (f) => writeFileSync(f, Buffer.alloc(manifest.config.size + 1, 0x20)), () =>
    assert.rejects(importOciLayout(store, img.layout, arm64), refused(new RegExp(`blob ${manifest.config.digest} is ${manifest.config.size + 1} bytes, more than the ${manifest.config.size} allowed`))));
  await swapped(path.join(img.layout, 'index.json'), (f) => execFileSync('mkfifo', [f]), () =>
    assert.rejects(importOciLayout(store, img.layout, arm64), refused(/cannot read index\.json: is not a regular file/)));
  assert.equal(store.hasBlob(layer.digest), false);
  const got = await importOciLayout(store, img.layout, arm64);
  assert.equal(got.manifestDigest, index.manifests[0]!.digest, 'the layout restored imports again');
});

test('an oci-archive gives the same image as the layout it was exported from', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const store = Store.open(path.join(img.dir, 'store'));
  const fromLayout = await importOciLayout(store, img.layout, arm64);
  const fromArchive = await importArchive(Store.open(path.join(img.dir, 'store2')), img.ociArchive, arm64);
  assert.equal(fromArchive.manifestDigest, fromLayout.manifestDigest);
  assert.equal(fromArchive.configDigest, fromLayout.configDigest);
});

test('a docker-archive becomes an OCI image whose layers match the config diff_ids', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const store = Store.open(path.join(img.dir, 'store'));
  const a = await importArchive(store, img.dockerArchive, arm64);
  assert.equal(a.platform, 'linux/arm64');
  assert.deepEqual(a.manifest.layers.map((l) => l.digest), a.config.rootfs.diff_ids, 'docker-archive layers are uncompressed: digest = diff_id');
  assert.equal(parseManifest(store.readBlob(a.manifestDigest)).config.digest, a.configDigest);
  const again = await importArchive(store, img.dockerArchive, arm64, { ref: 'example/img:1' });
  assert.equal(again.manifestDigest, a.manifestDigest, 'the same archive always keys the same store entry');
  await assert.rejects(importArchive(store, img.dockerArchive, arm64, { ref: 'nope:1' }), (e: unknown) => e instanceof CrossrootError && /example\/img:1/.test(e.fix ?? ''));
  await assert.rejects(importArchive(store, img.dockerArchive, ARCHES.amd64), (e: unknown) => e instanceof CrossrootError && e.code === 'ENOPLATFORM');
});

test('a truncated archive is an error and leaves no partial blob', async (t) => {
  const img = makeImages(t);
  if (!img) return;
  const cut = path.join(img.dir, 'cut.tar');
  const bytes = readFileSync(img.dockerArchive);
  writeFileSync(cut, bytes.subarray(0, Math.floor(bytes.length * 0.6)));
  const store = Store.open(path.join(img.dir, 'store'));
  await assert.rejects(importArchive(store, cut, arm64), (e: unknown) => e instanceof CrossrootError && e.code === 'EARCHIVE');
  assert.deepEqual(readdirSync(path.join(store.root, 'tmp')), []);
});

test('a rootfs tarball is keyed by its own digest and copied once', async (t) => {
  const r = makeRootfs(t);
  const store = Store.open(path.join(tempDir(t), 'store'));
  const digest = await importRootfsTarball(store, r.gz);
  assert.equal(digest, `sha256:${createHash('sha256').update(readFileSync(r.gz)).digest('hex')}`);
  assert.deepEqual(readFileSync(store.blobPath(digest)), readFileSync(r.gz));
  const phases: string[] = [];
  assert.equal(await importRootfsTarball(store, r.gz, (e) => phases.push(e.phase)), digest);
  assert.ok(!phases.includes('download'), 'a tarball already in the store is not copied again');
});

test('an xz rootfs tarball is refused with a way to recompress it', async (t) => {
  if (!need(t, has('xz'), 'xz makes the fixture (apt-get install xz-utils)')) return;
  const r = makeRootfs(t);
  const xz = `${r.tar}.xz`;
  writeFileSync(xz, execFileSync('xz', ['-c', r.tar]));
  const store = Store.open(path.join(tempDir(t), 'store'));
  await assert.rejects(importRootfsTarball(store, xz), (e: unknown) => e instanceof CrossrootError && e.code === 'EARCHIVE' && /xz -dc .*rootfs\.tar\.zst/.test(e.fix ?? ''));
});
