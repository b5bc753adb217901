import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { MediaType, parseImageConfig, parseIndex, parseManifest } from '../../src/core/image/oci';
import { LAYERED_CONTENT, imageToolsAvailable, layeredImage, layoutTag, multiArchImage, treeListing } from '../fixtures/images';
import { need } from '../lib/harness';

const why = 'needs buildah, skopeo and umoci (apt-get install buildah skopeo umoci)';
const blob = (layout: string, digest: string) => path.join(layout, 'blobs', digest.replace(':', '/'));

/** Entry names of a layer as GNU tar lists them (verbose, so hardlinks show as "link to"). */
function layerEntries(file: string, mediaType: string): string[] {
  const decompress = mediaType === MediaType.ociLayerZstd ? 'zstd -dc' : 'gzip -dc';
  const r = spawnSync('sh', ['-c', `${decompress} < "$1" | tar -tvf -`, 'sh', file], { encoding: 'utf8' });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim().split('\n');
}

test('the multi-arch fixture is an OCI index of amd64, arm64/v8 and riscv64 busybox images', async (t) => {
  if (!need(t, imageToolsAvailable(), why)) return;
  const img = await multiArchImage();
  const index = parseIndex(readFileSync(blob(img.layout, img.indexDigest)));
  assert.deepEqual(index.manifests.map((m) => [m.platform?.architecture, m.platform?.variant]), [['amd64', undefined], ['arm64', 'v8'], ['riscv64', undefined]]);
  for (const m of index.manifests) {
    const manifest = parseManifest(readFileSync(blob(img.layout, m.digest)));
    const config = parseImageConfig(readFileSync(blob(img.layout, manifest.config.digest)), manifest);
    assert.equal(config.architecture, m.platform?.architecture);
    assert.equal(manifest.layers.length, 1);
    const names = layerEntries(blob(img.layout, manifest.layers[0]!.digest), manifest.layers[0]!.mediaType);
    assert.ok(names.some((l) => / (usr\/)?bin\/busybox$/.test(l)), `${m.platform?.architecture} layer holds busybox`);
    assert.ok(existsSync(path.join(img.rootfs[m.platform!.architecture]!, 'bin')));
  }
  assert.ok(existsSync(img.ociArchive));
});

test('the layered fixture has real whiteout, opaque, hardlink, symlink and zstd entries', async (t) => {
  if (!need(t, imageToolsAvailable(), why)) return;
  const img = await layeredImage();
  const c = LAYERED_CONTENT;
  const manifest = parseManifest(readFileSync(blob(img.layout, layoutTag(img.layout, img.tag).digest)));
  assert.deepEqual(manifest.layers.map((l) => l.mediaType), [MediaType.ociLayerGzip, MediaType.ociLayerZstd, MediaType.ociLayerGzip]);
  const [, data, changes] = manifest.layers.map((l) => layerEntries(blob(img.layout, l.digest), l.mediaType));
  assert.ok(data!.some((l) => l.startsWith('h') && l.includes(`${c.hardlinks[1]} link to ${c.hardlinks[0]}`)), 'hardlink entry');
  assert.ok(data!.some((l) => l.startsWith('l') && l.endsWith(`${c.symlink.path} -> ${c.symlink.target}`)), 'symlink entry');
  assert.ok(data!.some((l) => / 1000\/1000 .* data\/owned$/.test(l)), 'entry owned by 1000');
  assert.ok(changes!.some((l) => l.endsWith('data/.wh.gone.txt')), 'whiteout of the deleted file');
  assert.ok(changes!.some((l) => l.endsWith(`${c.replacedDir}/.wh..wh..opq`)), 'opaque marker of the replaced dir');

  // What umoci makes of the same image is what the content table says.
  const tree = new Map(treeListing(img.umociTree).map((e) => [e.path, e]));
  assert.ok(!tree.has(c.deletedFile));
  for (const old of c.replacedDirOld) assert.ok(!tree.has(old), `${old} is gone`);
  assert.equal(tree.get(c.replacedDirNew)?.type, 'file');
  assert.equal(tree.get(c.hardlinks[1])?.hardlinkOf, c.hardlinks[0]);
  assert.equal(tree.get(c.symlink.path)?.target, c.symlink.target);
  assert.equal(tree.get(c.absoluteSymlink.path)?.target, c.absoluteSymlink.target);
  assert.equal(tree.get(c.owned.path)?.mode, c.owned.mode);
  assert.equal(tree.get(c.sharedDir.path)?.mode, c.sharedDir.mode);
  assert.equal(readFileSync(path.join(img.umociTree, 'etc/motd'), 'utf8'), 'layered\n');

  // The archives hold the same image.
  const list = (f: string) => spawnSync('tar', ['-tf', f], { encoding: 'utf8' }).stdout;
  assert.match(list(img.ociArchive), /index\.json/);
  assert.match(list(img.dockerArchive), /manifest\.json/);
});
