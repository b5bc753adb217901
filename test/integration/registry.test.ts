import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ARCHES } from '../../src/core/arch';
import { CrossrootError } from '../../src/core/errors';
import { MediaType, type Index } from '../../src/core/image/oci';
import { parseImageRef } from '../../src/core/image/ref';
import { RegistryClient, type ProgressEvent } from '../../src/core/image/registry';
import { imageToolsAvailable, layeredImage, layoutTag, multiArchImage, type MultiArchImage } from '../fixtures/images';
import { pushImage, registryAvailable, startRegistry, type TestRegistry } from '../fixtures/registry';
import { need, tempDir } from '../lib/harness';

const ready = registryAvailable() && imageToolsAvailable();
const why = 'needs docker-registry, buildah, skopeo and umoci (apt-get install docker-registry buildah skopeo umoci)';
let reg: TestRegistry;
let multi: MultiArchImage;

before(async () => {
  if (!ready) return;
  reg = await startRegistry();
  multi = await multiArchImage();
  pushImage(reg, `oci:${multi.layout}:multi`, 'busybox:multi', { all: true });
});
after(async () => { await reg?.stop(); });

const sha256File = (f: string) => 'sha256:' + createHash('sha256').update(readFileSync(f)).digest('hex');

for (const arch of ['amd64', 'arm64', 'riscv64'] as const) {
  test(`${arch} env gets its own image of a multi-arch index, every blob verified`, async (t) => {
    if (!need(t, ready, why)) return;
    const dir = tempDir(t);
    const client = new RegistryClient();
    const ref = parseImageRef(`${reg.host}/busybox:multi`);
    const r = await client.resolve(ref, ARCHES[arch]);

    const index = JSON.parse(readFileSync(path.join(multi.layout, 'blobs', multi.indexDigest.replace(':', '/')), 'utf8')) as Index;
    const entry = index.manifests.find((m) => m.platform?.architecture === arch)!;
    assert.equal(r.indexDigest, multi.indexDigest);
    assert.equal(r.manifestDigest, entry.digest);
    assert.equal(r.config.architecture, arch);
    assert.deepEqual(r.platforms, ['linux/amd64', 'linux/arm64/v8', 'linux/riscv64']);
    assert.equal(r.manifest.layers.length, 1);

    const events: ProgressEvent[] = [];
    const items = r.manifest.layers.map((desc, i) => ({ desc, dest: path.join(dir, `layer${i}`) }));
    await client.fetchBlobs(ref, items, { onProgress: (e) => events.push(e) });
    for (const { desc, dest } of items) {
      assert.equal(sha256File(dest), desc.digest);
      assert.ok(!existsSync(`${dest}.partial`), 'no partial left behind');
      assert.deepEqual(events.at(-1), { kind: 'download', digest: desc.digest, done: desc.size, total: desc.size });
    }
  });
}

test('an arch the image lacks is an error listing the platforms it has', async (t) => {
  if (!need(t, ready, why)) return;
  const client = new RegistryClient();
  await assert.rejects(client.resolve(parseImageRef(`${reg.host}/busybox:multi`), ARCHES.armhf), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'ENOPLATFORM');
    assert.match(e.message, /has no linux\/arm\/v7 \(armhf\) image; it has linux\/amd64, linux\/arm64\/v8, linux\/riscv64/);
    return true;
  });
});

test('Docker schema 2 manifest lists and manifests resolve like OCI ones', async (t) => {
  if (!need(t, ready, why)) return;
  pushImage(reg, `oci:${multi.layout}:multi`, 'busybox:v2s2', { all: true, format: 'v2s2' });
  const client = new RegistryClient();
  const ref = parseImageRef(`${reg.host}/busybox:v2s2`);
  const top = await client.fetchManifest(ref, 'v2s2');
  assert.equal(top.doc.kind, 'index');
  assert.equal(top.doc.kind === 'index' && top.doc.index.mediaType, MediaType.dockerManifestList);
  const r = await client.resolve(ref, ARCHES.riscv64);
  assert.equal(r.manifest.mediaType, MediaType.dockerManifest);
  assert.equal(r.manifest.layers[0]!.mediaType, MediaType.dockerLayerGzip);
  assert.equal(r.config.architecture, 'riscv64');
  const dir = tempDir(t);
  await client.fetchBlob(ref, r.manifest.layers[0]!, path.join(dir, 'l'));
  assert.equal(sha256File(path.join(dir, 'l')), r.manifest.layers[0]!.digest);
});

test('a single-arch image with a zstd layer resolves by tag and by digest', async (t) => {
  if (!need(t, ready, why)) return;
  const img = await layeredImage();
  pushImage(reg, `oci:${img.layout}:layered`, 'layered:1');
  const client = new RegistryClient();
  const ref = parseImageRef(`${reg.host}/layered:1`);
  const byTag = await client.resolve(ref, ARCHES.arm64);
  assert.equal(byTag.indexDigest, undefined);
  assert.equal(byTag.manifestDigest, img.manifestDigest);
  assert.equal(byTag.manifest.layers[img.zstdLayer]!.mediaType, MediaType.ociLayerZstd);
  const byDigest = await client.resolve(parseImageRef(`${reg.host}/layered@${img.manifestDigest}`), ARCHES.arm64);
  assert.equal(byDigest.configDigest, byTag.configDigest);
  await assert.rejects(client.resolve(ref, ARCHES.amd64), /built for linux\/arm64\/v8, not linux\/amd64/);
  const dir = tempDir(t);
  const items = byTag.manifest.layers.map((desc, i) => ({ desc, dest: path.join(dir, `l${i}`) }));
  await client.fetchBlobs(ref, items, { concurrency: 2 });
  const zstd = readFileSync(items[img.zstdLayer]!.dest).subarray(0, 4);
  assert.deepEqual([...zstd], [0x28, 0xb5, 0x2f, 0xfd], 'zstd magic');
});

test('what a tag points at is learned with a HEAD request', async (t) => {
  if (!need(t, ready, why)) return;
  const client = new RegistryClient();
  assert.equal(await client.manifestDigest(parseImageRef(`${reg.host}/busybox:multi`), 'multi'), multi.indexDigest);
  await assert.rejects(client.manifestDigest(parseImageRef(`${reg.host}/busybox:gone`), 'gone'),
    (e: unknown) => e instanceof CrossrootError && e.code === 'ENOTFOUND' && /busybox:gone was not found/.test(e.message));
});

test('an unknown tag or repository is reported as not found', async (t) => {
  if (!need(t, ready, why)) return;
  const client = new RegistryClient();
  await assert.rejects(client.resolve(parseImageRef(`${reg.host}/busybox:nope`), ARCHES.amd64), (e: unknown) => {
    assert.ok(e instanceof CrossrootError);
    assert.equal(e.code, 'ENOTFOUND');
    assert.match(e.message, /busybox:nope was not found in 127\.0\.0\.1:\d+ \(MANIFEST_UNKNOWN/);
    return true;
  });
  await assert.rejects(client.resolve(parseImageRef(`${reg.host}/nothing/here:1`), ARCHES.amd64), /nothing\/here:1 was not found/);
});

test('a partial download from an earlier try is resumed, a corrupt one is discarded and fetched again', async (t) => {
  if (!need(t, ready, why)) return;
  const client = new RegistryClient();
  const ref = parseImageRef(`${reg.host}/busybox:multi`);
  const r = await client.resolve(ref, ARCHES.arm64);
  const layer = r.manifest.layers[0]!;
  const dir = tempDir(t);
  // Get the whole layer once to know its bytes.
  const full = path.join(dir, 'full');
  await client.fetchBlob(ref, layer, full);
  const bytes = readFileSync(full);

  const dest = path.join(dir, 'resumed');
  writeFileSync(`${dest}.partial`, bytes.subarray(0, Math.floor(bytes.length / 2)));
  const seen: number[] = [];
  await client.fetchBlob(ref, layer, dest, { onProgress: (e) => seen.push(e.done) });
  assert.equal(seen[0], Math.floor(bytes.length / 2), 'starts where the partial ends');
  assert.equal(sha256File(dest), layer.digest);

  const bad = path.join(dir, 'bad');
  const corrupt = Buffer.from(bytes.subarray(0, 1000));
  corrupt[10] ^= 0xff;
  writeFileSync(`${bad}.partial`, corrupt);
  const progress: number[] = [];
  await client.fetchBlob(ref, layer, bad, { onProgress: (e) => progress.push(e.done) });
  assert.equal(sha256File(bad), layer.digest);
  assert.ok(!existsSync(`${bad}.partial`));
  assert.equal(progress[0], 1000, 'first resumed the partial');
  assert.ok(progress.includes(0), 'then, the digest not matching, started over clean');
  assert.equal(layoutTag(multi.layout, 'multi').digest, r.indexDigest);
});
